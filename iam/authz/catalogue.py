"""The policy's vocabulary, read from the data files under ``policies/``.

Purposes of use, record sections, sensitivity levels, actions, roles, acute unit kinds, emergency reason
codes and the texts decisions show to clinicians are data (domain.md rule 2), not code. :func:`load_catalogue`
reads them and checks them against each other; any problem raises :class:`PolicyError` naming the file,
the entry and what was expected, so a bad policy edit is refused before it replaces a good one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

__all__ = [
    "DEFAULT_POLICY_DIR",
    "Catalogue",
    "PolicyError",
    "Purpose",
    "ReasonText",
    "Role",
    "Section",
    "load_catalogue",
]

DEFAULT_POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class PolicyError(Exception):
    """The policy files are inconsistent or malformed; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Purpose:
    code: str
    system: str
    name_nb: str
    name_en: str
    relationship_kinds: frozenset[str]
    emergency: bool


@dataclass(frozen=True, slots=True)
class Section:
    code: str
    name_nb: str
    name_en: str
    sensitivity: str
    contains_address: bool
    flag_in_log: bool


@dataclass(frozen=True, slots=True)
class Role:
    code: str
    name_nb: str
    name_en: str
    category: str
    may_declare_emergency: bool


@dataclass(frozen=True, slots=True)
class ReasonText:
    code: str
    nb: str
    en: str
    next: tuple[str, ...] = ()
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Everything the policy speaks about, keyed by code."""

    directory: Path
    purposes: MappingProxyType[str, Purpose]
    sections: MappingProxyType[str, Section]
    actions: MappingProxyType[str, tuple[str, str]]
    roles: MappingProxyType[str, Role]
    acute_unit_kinds: frozenset[str]
    emergency_reasons: MappingProxyType[str, tuple[str, str]]
    reasons: MappingProxyType[str, ReasonText]
    next_steps: MappingProxyType[str, ReasonText]

    def purpose(self, code: str) -> Purpose:
        return self.purposes[code]


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyError(f"{path.name}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{path.name}: expected a mapping at the top level")
    return data


def _entries(data: dict[str, Any], key: str, file: str) -> list[dict[str, Any]]:
    entries = data.get(key)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise PolicyError(f"{file}: '{key}' must be a list of mappings")
    return entries


def _code(entry: dict[str, Any], file: str, seen: set[str]) -> str:
    code = entry.get("code")
    if not isinstance(code, str) or not code or not set(code) <= _CODE_CHARS:
        raise PolicyError(f"{file}: code {code!r} must be letters, digits, '_' or '-'")
    if code in seen:
        raise PolicyError(f"{file}: code '{code}' appears twice")
    seen.add(code)
    return code


def _names(entry: dict[str, Any], file: str, code: str) -> tuple[str, str]:
    name = entry.get("name")
    if not isinstance(name, dict) or not isinstance(name.get("nb"), str) or not isinstance(name.get("en"), str):
        raise PolicyError(f"{file}: '{code}' needs name: {{nb: ..., en: ...}}")
    return name["nb"], name["en"]


def _purposes(directory: Path) -> dict[str, Purpose]:
    file = "purposes.yaml"
    seen: set[str] = set()
    result: dict[str, Purpose] = {}
    for entry in _entries(_read(directory / file), "purposes", file):
        code = _code(entry, file, seen)
        nb, en = _names(entry, file, code)
        kinds = entry.get("relationship_kinds", [])
        if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
            raise PolicyError(f"{file}: '{code}' relationship_kinds must be a list of kinds")
        result[code] = Purpose(code=code, system=str(entry.get("system", "")), name_nb=nb, name_en=en,
                               relationship_kinds=frozenset(kinds), emergency=bool(entry.get("emergency")))
    return result


def _sections(directory: Path) -> tuple[dict[str, Section], dict[str, tuple[str, str]]]:
    file = "sections.yaml"
    data = _read(directory / file)
    levels: dict[str, bool] = {}
    seen: set[str] = set()
    for entry in _entries(data, "sensitivity_levels", file):
        code = _code(entry, file, seen)
        _names(entry, file, code)
        levels[code] = bool(entry.get("flag_in_log"))
    sections: dict[str, Section] = {}
    seen = set()
    for entry in _entries(data, "sections", file):
        code = _code(entry, file, seen)
        nb, en = _names(entry, file, code)
        level = entry.get("sensitivity")
        if level not in levels:
            raise PolicyError(f"{file}: section '{code}' has sensitivity {level!r}; expected one of {sorted(levels)}")
        sections[code] = Section(code=code, name_nb=nb, name_en=en, sensitivity=level,
                                 contains_address=bool(entry.get("contains_address")), flag_in_log=levels[level])
    actions: dict[str, tuple[str, str]] = {}
    seen = set()
    for entry in _entries(data, "actions", file):
        code = _code(entry, file, seen)
        actions[code] = _names(entry, file, code)
    return sections, actions


def _roles(directory: Path) -> tuple[dict[str, Role], frozenset[str]]:
    file = "roles.yaml"
    data = _read(directory / file)
    roles: dict[str, Role] = {}
    seen: set[str] = set()
    for entry in _entries(data, "roles", file):
        code = _code(entry, file, seen)
        nb, en = _names(entry, file, code)
        category = entry.get("category")
        if category not in ("clinical", "administrative", "acute"):
            raise PolicyError(f"{file}: role '{code}' has category {category!r}; "
                              "expected clinical, administrative or acute")
        roles[code] = Role(code=code, name_nb=nb, name_en=en, category=category,
                           may_declare_emergency=bool(entry.get("may_declare_emergency")))
    acute = data.get("acute_unit_kinds", [])
    if not isinstance(acute, list) or not all(isinstance(k, str) for k in acute):
        raise PolicyError(f"{file}: acute_unit_kinds must be a list of unit kinds")
    return roles, frozenset(acute)


def _emergency_reasons(directory: Path) -> dict[str, tuple[str, str]]:
    file = "emergency_reasons.yaml"
    seen: set[str] = set()
    result: dict[str, tuple[str, str]] = {}
    for entry in _entries(_read(directory / file), "reasons", file):
        code = _code(entry, file, seen)
        result[code] = _names(entry, file, code)
    return result


def _texts(data: dict[str, Any], key: str, file: str) -> dict[str, ReasonText]:
    block = data.get(key)
    if not isinstance(block, dict):
        raise PolicyError(f"{file}: '{key}' must be a mapping of code to texts")
    result: dict[str, ReasonText] = {}
    for code, entry in block.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("nb"), str) or not isinstance(entry.get("en"), str):
            raise PolicyError(f"{file}: {key}.{code} needs nb and en texts")
        steps = entry.get("next", [])
        if not isinstance(steps, list):
            raise PolicyError(f"{file}: {key}.{code}.next must be a list of next-step codes")
        result[str(code)] = ReasonText(code=str(code), nb=entry["nb"], en=entry["en"],
                                       next=tuple(str(s) for s in steps), endpoint=entry.get("endpoint"))
    return result


def load_catalogue(directory: Path = DEFAULT_POLICY_DIR) -> Catalogue:
    """Read and cross-check the vocabulary files in ``directory``; raise PolicyError on any problem."""
    purposes = _purposes(directory)
    sections, actions = _sections(directory)
    roles, acute = _roles(directory)
    reasons_data = _read(directory / "reasons.yaml")
    reasons = _texts(reasons_data, "reasons", "reasons.yaml")
    steps = _texts(reasons_data, "next_steps", "reasons.yaml")
    for reason in reasons.values():
        for step in reason.next:
            if step not in steps:
                raise PolicyError(f"reasons.yaml: reasons.{reason.code} names next step '{step}', "
                                  f"which is not in next_steps")
    return Catalogue(
        directory=directory,
        purposes=MappingProxyType(purposes),
        sections=MappingProxyType(sections),
        actions=MappingProxyType(actions),
        roles=MappingProxyType(roles),
        acute_unit_kinds=acute,
        emergency_reasons=MappingProxyType(_emergency_reasons(directory)),
        reasons=MappingProxyType(reasons),
        next_steps=MappingProxyType(steps),
    )
