"""Load the Casbin model and policy with pycasbin, check them, and compile them into indexed look-ups.

Casbin's files stay the source of truth: :func:`load_policy` reads ``model.conf`` and ``policy.csv``
through ``casbin.Enforcer`` (so a file Casbin cannot read is refused), checks that the matcher and effect
are the ones this compiler implements, checks every line against the vocabulary, and builds:

* ``allow[(role, section, action, purpose)]`` -> the (condition, rule) pairs of matching allow lines;
* ``deny_any[(section, action, purpose)]`` -> deny lines for any role (the patient's restrictions);
* ``deny_role[(role, section, action, purpose)]`` -> deny lines naming a role.

Wildcards are expanded over the vocabulary at compile time, so a decision is a handful of dict look-ups
instead of Casbin's matcher run once per policy line. :func:`stock_enforcer` builds the equivalent stock
``casbin.Enforcer`` (same files, same condition functions, the org hierarchy as the domain-matching
function of ``g``) for the equivalence test and ``iam policy explain --stock``.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import casbin  # type: ignore[import-untyped]  # pycasbin ships no type information

from iam.authz.catalogue import DEFAULT_POLICY_DIR, Catalogue, PolicyError, load_catalogue
from iam.authz.conditions import ALLOW_CONDITIONS, DENY_CONDITIONS, Condition, holds
from iam.authz.model import Assignment, OrgTree

__all__ = ["CompiledPolicy", "PolicyLine", "load_policy", "stock_enforcer"]

#: The matcher and effect this compiler implements, as pycasbin normalises them.
EXPECTED_MATCHER = (
    '(p_role == "*" || g(r_sub, p_role, r_unit)) && (p_sec == "*" || p_sec == r_sec) && '
    '(p_act == "*" || p_act == r_act) && (p_pur == "*" || p_pur == r_pur) && holds(p_cond, r_ctx)'
)
EXPECTED_EFFECT = "some(where (p_eft == allow)) && !some(where (p_eft == deny))"
EXPECTED_REQUEST = ["r_sub", "r_unit", "r_sec", "r_act", "r_pur", "r_ctx"]
EXPECTED_POLICY = ["p_role", "p_sec", "p_act", "p_pur", "p_cond", "p_eft", "p_rule"]
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

Key = tuple[str, str, str, str]
Entry = tuple[str, Condition, str]


@dataclass(frozen=True, slots=True)
class PolicyLine:
    line: int
    role: str
    section: str
    action: str
    purpose: str
    condition: str
    effect: str
    rule: str


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    catalogue: Catalogue
    lines: tuple[PolicyLine, ...]
    allow: dict[Key, tuple[Entry, ...]]
    deny_any: dict[tuple[str, str, str], tuple[Entry, ...]]
    deny_role: dict[Key, tuple[Entry, ...]]
    #: (role, section, action) that some emergency purpose opens: whether to offer break the glass.
    emergency_opens: frozenset[tuple[str, str, str]]
    version: str
    model_path: Path
    policy_path: Path


def _policy_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, tokens) of every policy line, read the way Casbin's file adapter reads them."""
    result: list[tuple[int, list[str]]] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        result.append((number, [token.strip() for token in line.split(",")]))
    return result


def _load_enforcer(model_path: Path, policy_path: Path) -> casbin.Enforcer:
    for path in (model_path, policy_path):
        if not path.is_file():
            raise PolicyError(f"{path.name}: not found in {path.parent}")
    try:
        return casbin.Enforcer(str(model_path), str(policy_path))
    except Exception as exc:  # pycasbin raises bare exceptions of many kinds for malformed files
        raise PolicyError(f"Casbin cannot load {model_path.name} / {policy_path.name}: {exc}") from None


def _check_model(enforcer: casbin.Enforcer, model_path: Path) -> None:
    model = enforcer.get_model()
    found = {
        "matcher": (model["m"]["m"].value, EXPECTED_MATCHER),
        "effect": (model["e"]["e"].value, EXPECTED_EFFECT),
        "request_definition": (list(model["r"]["r"].tokens), EXPECTED_REQUEST),
        "policy_definition": (list(model["p"]["p"].tokens), EXPECTED_POLICY),
    }
    for name, (actual, expected) in found.items():
        if actual != expected:
            raise PolicyError(f"{model_path.name}: {name} is {actual!r}; the engine compiles exactly "
                              f"{expected!r} (change iam/authz/policy.py together with the model)")


def _parse_line(number: int, tokens: list[str], catalogue: Catalogue, file: str) -> PolicyLine:
    where = f"{file} line {number}"
    if tokens[0] != "p":
        raise PolicyError(f"{where}: only 'p' lines belong here ('{tokens[0]}' found); "
                          "roles come from the grant register")
    if len(tokens) != 8:
        raise PolicyError(f"{where}: expected 7 fields (role, section, action, purpose, condition, effect, "
                          f"rule), found {len(tokens) - 1}")
    _, role, section, action, purpose, condition, effect, rule = tokens
    if effect not in ("allow", "deny"):
        raise PolicyError(f"{where}: effect '{effect}' must be allow or deny")
    if role != "*" and role not in catalogue.roles:
        raise PolicyError(f"{where}: role '{role}' is not in roles.yaml")
    if section != "*" and section not in catalogue.sections:
        raise PolicyError(f"{where}: section '{section}' is not in sections.yaml")
    if action != "*" and action not in catalogue.actions:
        raise PolicyError(f"{where}: action '{action}' is not in sections.yaml actions")
    if purpose != "*" and purpose not in catalogue.purposes:
        raise PolicyError(f"{where}: purpose '{purpose}' is not in purposes.yaml")
    if not _RULE_ID.match(rule):
        raise PolicyError(f"{where}: rule id '{rule}' must be lower-case letters, digits and '-'")
    conditions = ALLOW_CONDITIONS if effect == "allow" else DENY_CONDITIONS
    if condition not in conditions:
        raise PolicyError(f"{where}: condition '{condition}' is not an {effect} condition; expected one of "
                          f"{sorted(conditions)}")
    if effect == "allow" and "*" in (role, section, purpose):
        raise PolicyError(f"{where}: an allow line must name its role, section and purpose (no '*'), so that "
                          "nothing is opened by a wildcard")
    return PolicyLine(number, role, section, action, purpose, condition, effect, rule)


def _expand(value: str, universe: Iterable[str]) -> list[str]:
    return list(universe) if value == "*" else [value]


def load_policy(directory: Path = DEFAULT_POLICY_DIR) -> CompiledPolicy:
    """Load, check and compile the policy in ``directory``; raise PolicyError naming file and line."""
    catalogue = load_catalogue(directory)
    model_path, policy_path = directory / "model.conf", directory / "policy.csv"
    enforcer = _load_enforcer(model_path, policy_path)
    _check_model(enforcer, model_path)
    parsed = _policy_lines(policy_path)
    casbin_lines = enforcer.get_model()["p"]["p"].policy
    if [tokens[1:] for _, tokens in parsed if tokens[0] == "p"] != [list(line) for line in casbin_lines]:
        raise PolicyError(f"{policy_path.name}: Casbin read the lines differently than expected; "
                          "check for quotes or brackets in fields")
    lines: list[PolicyLine] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, tokens in parsed:
        line = _parse_line(number, tokens, catalogue, policy_path.name)
        key = tuple(tokens[1:])
        if key in seen:
            raise PolicyError(f"{policy_path.name} line {number}: repeats line {seen[key]}")
        seen[key] = number
        lines.append(line)

    allow: dict[Key, list[Entry]] = defaultdict(list)
    deny_any: dict[tuple[str, str, str], list[Entry]] = defaultdict(list)
    deny_role: dict[Key, list[Entry]] = defaultdict(list)
    emergency: set[tuple[str, str, str]] = set()
    for line in lines:
        function = (ALLOW_CONDITIONS if line.effect == "allow" else DENY_CONDITIONS)[line.condition]
        entry = (line.condition, function, line.rule)
        for section in _expand(line.section, catalogue.sections):
            for action in _expand(line.action, catalogue.actions):
                for purpose in _expand(line.purpose, catalogue.purposes):
                    if line.effect == "allow":
                        allow[(line.role, section, action, purpose)].append(entry)
                        if catalogue.purposes[purpose].emergency:
                            emergency.add((line.role, section, action))
                    elif line.role == "*":
                        deny_any[(section, action, purpose)].append(entry)
                    else:
                        deny_role[(line.role, section, action, purpose)].append(entry)
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.conf")) + sorted(directory.glob("*.csv")) + sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return CompiledPolicy(
        catalogue=catalogue,
        lines=tuple(lines),
        allow={key: tuple(value) for key, value in allow.items()},
        deny_any={key: tuple(value) for key, value in deny_any.items()},
        deny_role={key: tuple(value) for key, value in deny_role.items()},
        emergency_opens=frozenset(emergency),
        version=digest.hexdigest()[:12],
        model_path=model_path,
        policy_path=policy_path,
    )


def stock_enforcer(policy: CompiledPolicy, *, org: OrgTree,
                   assignments: Iterable[tuple[str, Assignment]]) -> casbin.Enforcer:
    """A stock ``casbin.Enforcer`` over the same files: ``g`` links from the licensed assignments, the org
    hierarchy as g's domain matching, and ``holds`` as the condition function. Slow by design (it runs the
    matcher per line); used to prove the compiled engine equivalent and to explain with Casbin itself."""
    enforcer = _load_enforcer(policy.model_path, policy.policy_path)
    enforcer.add_function("holds", holds)
    enforcer.add_named_domain_matching_func("g", lambda request_unit, grant_unit: org.within(request_unit, grant_unit))
    for person_id, assignment in assignments:
        if assignment.licence_ok:
            enforcer.add_named_grouping_policy("g", person_id, assignment.role, assignment.unit_id)
    return enforcer
