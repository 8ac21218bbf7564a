"""Plain-language reasons and next steps for a decision, in Norwegian bokmål and English.

The texts live in ``policies/reasons.yaml``; placeholders are filled with the names of units, roles,
sections and purposes from the organisation register and the policy's vocabulary, so a clinician reads
"Medisinsk sengepost", not an organisation number.
"""

from __future__ import annotations

from typing import Any

from iam.authz.catalogue import Catalogue
from iam.authz.model import Decision, OrgTree

__all__ = ["explain", "next_steps", "reason_texts"]


class _Fill(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _fill(decision: Decision, catalogue: Catalogue, org: OrgTree, language: str) -> _Fill:
    request = decision.request
    params = decision.params
    nb = language == "nb"
    section = catalogue.sections.get(request.section)
    purpose = catalogue.purposes.get(request.purpose)
    role = catalogue.roles.get(params.get("role", ""))
    action = catalogue.actions.get(request.action)
    unit = params.get("unit") or ""
    values = _Fill({
        "unit": org.name(unit) if unit else ("enheten din" if nb else "your unit"),
        "role": (role.name_nb if nb else role.name_en) if role else params.get("role", ""),
        "section": (section.name_nb if nb else section.name_en) if section else request.section,
        "purpose": f"{(purpose.name_nb if nb else purpose.name_en)} ({purpose.code})" if purpose else request.purpose,
        "action": (action[0] if nb else action[1]) if action else request.action,
    })
    for key in ("kind", "until", "status"):
        if key in params:
            values[key] = params[key]
    return values


# Filled texts by what fills them, for one catalogue and organisation tree (both are replaced, not changed,
# when policies or the register change). Filling a decision's
# texts took 5.8 µs, a look-up with its copy 1.6 µs (bench/authz_costs.py, where a decision costs about 65 µs
# in process). A clinician's decisions mostly share reason, unit, role, section and purpose; an emergency's
# expiry time is in its key, so those are nearly all misses. The owner and the dict are one tuple, replaced
# whole: a caller that filled texts for the old register stores them in the old dict, never in the new one.
# Clearing everything at the bound is cruder than LRU eviction, and costs nothing on a hit.
_MAX_CACHED_TEXTS = 20_000
_texts: tuple[Catalogue | None, OrgTree | None, dict[tuple[Any, ...], dict[str, str]]] = (None, None, {})


def reason_texts(decision: Decision, catalogue: Catalogue, org: OrgTree) -> dict[str, str]:
    """``{"nb": ..., "en": ...}`` for the decision's reason code."""
    global _texts
    cached_catalogue, cached_org, cache = _texts
    if cached_catalogue is not catalogue or cached_org is not org:
        cache = {}
        _texts = (catalogue, org, cache)
    request = decision.request
    key = (decision.reason, request.section, request.purpose, request.action, *decision.params.items())
    texts = cache.get(key)
    if texts is None:
        texts = _fill_texts(decision, catalogue, org)
        if len(cache) >= _MAX_CACHED_TEXTS:
            cache.clear()
        cache[key] = texts
    return dict(texts)


def _fill_texts(decision: Decision, catalogue: Catalogue, org: OrgTree) -> dict[str, str]:
    text = catalogue.reasons.get(decision.reason)
    if text is None:
        return {"nb": decision.reason, "en": decision.reason}
    return {"nb": text.nb.format_map(_fill(decision, catalogue, org, "nb")),
            "en": text.en.format_map(_fill(decision, catalogue, org, "en"))}


def next_steps(decision: Decision, catalogue: Catalogue) -> list[dict[str, Any]]:
    """The next steps offered to the user, each ``{"code", "nb", "en"}`` (plus ``endpoint`` when one exists)."""
    steps = []
    for code in decision.next_steps:
        text = catalogue.next_steps[code]
        step: dict[str, Any] = {"code": code, "nb": text.nb, "en": text.en}
        if text.endpoint:
            step["endpoint"] = text.endpoint
        steps.append(step)
    return steps


def explain(decision: Decision, catalogue: Catalogue, org: OrgTree) -> dict[str, Any]:
    """Everything a person needs to understand one decision (used by AuthZEN responses and the CLI)."""
    return {
        "decision_id": decision.decision_id,
        "decision": "permit" if decision.allowed else "deny",
        "policy_rule": decision.rule,
        "reason_code": decision.reason,
        "reason_user": reason_texts(decision, catalogue, org),
        "facts": dict(decision.facts),
        "next_steps": next_steps(decision, catalogue),
        "obligations": list(decision.obligations),
        "emergency": decision.emergency,
    }
