"""The context conditions named in policy.csv, as plain Python over the facts of one request.

The same functions serve the compiled engine and stock Casbin (registered as the matcher function
``holds(cond, ctx)``), which is what makes the equivalence test meaningful. A condition may note what it
found in ``ctx.found`` (the care relationship that justified a permit, the restriction that denied, the
consent or emergency declaration that opened a restriction) so the decision can say what decided it.

Allow conditions
    care_relationship       an active care relationship of a kind the purpose accepts, with the acting
                            unit or a unit below it, or naming the user (by person id or HPR number) or a
                            care team of theirs, within the acting unit's legal entity; not with a unit
                            the patient has restricted (or below one), unless that restriction is open
    acute_setting           the acting unit is part of the acute chain (roles.yaml acute_unit_kinds)
    emergency_declaration   the purpose is an emergency purpose and the user has declared an emergency for
                            this patient that has not expired
Deny conditions (a restriction is *open* for this request when the patient's recorded consent covers the
user or the acting unit, or when the purpose is an emergency purpose and the user's declaration is active)
    account_inactive        the user's account is not active
    named_block             the patient has blocked this user by name; nothing opens it
    unit_restricted         the patient has restricted the acting unit (or a unit above it), not open
    item_locked             the request names an item the patient has locked, not open
    sharing_objection       the patient objects to sharing across organisations, and the data's owner is
                            unknown or another legal entity than the acting unit's, not open
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from iam.authz.catalogue import Purpose
from iam.authz.model import DecisionRequest, OrgTree, PatientFacts, Restriction, Subject

__all__ = ["ALLOW_CONDITIONS", "CONDITIONS", "DENY_CONDITIONS", "EvalContext", "holds"]


class EvalContext:
    """The facts of one request evaluated for one acting unit (Casbin's ``r.ctx``)."""

    __slots__ = ("acute_kinds", "at", "chain", "facts", "found", "legal_entity", "org", "purpose", "request",
                 "subject", "unit")

    def __init__(self, *, request: DecisionRequest, subject: Subject, facts: PatientFacts, unit: str,
                 purpose: Purpose, org: OrgTree, acute_kinds: frozenset[str], at: datetime) -> None:
        self.request = request
        self.subject = subject
        self.facts = facts
        self.unit = unit
        self.chain = org.chain(unit)
        self.legal_entity = self.chain[-1]
        self.purpose = purpose
        self.org = org
        self.acute_kinds = acute_kinds
        self.at = at
        self.found: dict[str, Any] = {}

    def _names_user(self, person_id: str | None, hpr_number: str | None) -> bool:
        subject = self.subject
        return (person_id is not None and person_id == subject.person_id) or (
            hpr_number is not None and hpr_number == subject.hpr_number)

    def is_open(self, restriction: Restriction) -> bool:
        """Whether recorded consent or the user's emergency declaration opens ``restriction`` here."""
        at = self.at
        for consent in self.facts.consents:
            if consent.restriction_id != restriction.id or not consent.active(at):
                continue
            if self._names_user(consent.person_id, consent.hpr_number) or (
                    consent.unit_id is not None and consent.unit_id in self.chain):
                self._opened({"restriction": restriction.id, "by": "consent", "consent": consent.id})
                return True
        if self.purpose.emergency:
            declaration = self.facts.declaration_of(self.subject.person_id, self.at)
            if declaration is not None:
                self._opened({"restriction": restriction.id, "by": "emergency",
                              "emergency_declaration": declaration.id})
                return True
        return False

    def _opened(self, opening: dict[str, str]) -> None:
        # One restriction may be asked about twice (for the acting unit and a relationship's unit).
        opened = self.found.setdefault("opened", [])
        if opening not in opened:
            opened.append(opening)



def account_inactive(ctx: EvalContext) -> bool:
    return ctx.subject.account_status != "active"


def named_block(ctx: EvalContext) -> bool:
    for restriction in ctx.facts.restrictions:
        if restriction.kind == "block_person" and ctx._names_user(restriction.person_id, restriction.hpr_number):
            ctx.found["restriction"] = restriction
            return True
    return False


def _restriction_on(ctx: EvalContext, chain: tuple[str, ...]) -> Restriction | None:
    """The patient's restriction of a unit in ``chain`` (a unit and those above it) not open here."""
    for restriction in ctx.facts.restrictions:
        if restriction.kind == "restrict_unit" and restriction.unit_id in chain and not ctx.is_open(restriction):
            return restriction
    return None


def unit_restricted(ctx: EvalContext) -> bool:
    restriction = _restriction_on(ctx, ctx.chain)
    if restriction is None:
        return False
    ctx.found["restriction"] = restriction
    return True


def item_locked(ctx: EvalContext) -> bool:
    item = ctx.request.item
    if item is None:
        return False
    for restriction in ctx.facts.restrictions:
        if restriction.kind == "lock_item" and restriction.item_id == item and not ctx.is_open(restriction):
            ctx.found["restriction"] = restriction
            return True
    return False


def sharing_objection(ctx: EvalContext) -> bool:
    owner = ctx.request.data_owner
    if owner is not None and owner == ctx.legal_entity:
        return False
    for restriction in ctx.facts.restrictions:
        if restriction.kind == "object_sharing" and not ctx.is_open(restriction):
            ctx.found["restriction"] = restriction
            ctx.found["owner_unknown"] = owner is None
            return True
    return False


def care_relationship(ctx: EvalContext) -> bool:
    kinds = ctx.purpose.relationship_kinds
    at = ctx.at
    acting = ctx.unit
    subject = ctx.subject
    org = ctx.org
    restricted = bool(ctx.facts.restrictions)
    for rel in ctx.facts.relationships:
        if rel.kind not in kinds or not rel.active(at):
            continue
        unit = rel.unit_id
        # The relationship's unit is the acting unit or lies below it.
        justifies = unit is not None and acting in org.chain(unit)
        if not justifies:
            named = ctx._names_user(rel.person_id, rel.practitioner_hpr) or (
                rel.team_id is not None and rel.team_id in subject.teams)
            # A relationship naming the user counts only within the organisation it was registered with
            # (domain.md rule 3: access from another organisation needs that organisation's own relationship).
            justifies = named and (unit is None or org.legal_entity(unit) == ctx.legal_entity)
        if not justifies:
            continue
        # A relationship with a unit the patient restricted is that unit's, whoever acts on it: a role held
        # above the unit (at its point of care) must not reach through the restriction.
        restriction = _restriction_on(ctx, org.chain(unit)) if restricted and unit is not None else None
        if restriction is not None:
            ctx.found.setdefault("restriction", restriction)
            continue
        ctx.found["care_relationship"] = rel
        return True
    return False


def acute_setting(ctx: EvalContext) -> bool:
    return ctx.org.kind(ctx.unit) in ctx.acute_kinds


def emergency_declaration(ctx: EvalContext) -> bool:
    if not ctx.purpose.emergency:
        return False
    declaration = ctx.facts.declaration_of(ctx.subject.person_id, ctx.at)
    if declaration is None:
        return False
    ctx.found["emergency_declaration"] = declaration
    return True


Condition = Callable[[EvalContext], bool]

ALLOW_CONDITIONS: dict[str, Condition] = {
    "care_relationship": care_relationship,
    "acute_setting": acute_setting,
    "emergency_declaration": emergency_declaration,
}
DENY_CONDITIONS: dict[str, Condition] = {
    "account_inactive": account_inactive,
    "named_block": named_block,
    "unit_restricted": unit_restricted,
    "item_locked": item_locked,
    "sharing_objection": sharing_objection,
}
CONDITIONS: dict[str, Condition] = {**ALLOW_CONDITIONS, **DENY_CONDITIONS}


def holds(condition: str, ctx: EvalContext) -> bool:
    """Casbin matcher function: whether the named condition holds; an unknown name never holds."""
    function = CONDITIONS.get(condition)
    return function is not None and function(ctx)
