"""The decision engine: ``decide(request) -> Decision`` over the compiled Casbin policy.

How one request is decided
1. The vocabulary is checked (unknown purpose, section or action: :class:`InvalidDecisionRequest`).
2. The policy information point supplies the subject (account, roles, care teams) and the patient's facts
   (care relationships, restrictions, consents, emergency declarations, flags), cached per person and per
   patient.
3. Candidate acting units: the unit the request says the user acts for, else every unit where the user
   holds a role. For each candidate, the user's roles whose scope covers it are the Casbin ``g`` links.
4. Per candidate: deny lines first (account state, the patient's restrictions), then the allow lines of
   each covering role; the first allow line whose condition holds permits. This is exactly Casbin's
   "some allow and no deny" effect, evaluated by index instead of by scanning every line.
5. No candidate permits: deny by default, with the most telling reason found across candidates and what
   the user can do next (never "declare an emergency" when a named block applies).

``decide`` is synchronous and CPU-bound (tens of microseconds when the facts are cached). The policy can be
swapped atomically (:meth:`DecisionEngine.use_policy`) while decisions run.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from audit.events import new_event_id
from iam.authz.catalogue import Purpose
from iam.authz.conditions import EvalContext
from iam.authz.model import (
    CareRelationship,
    Decision,
    DecisionRequest,
    EmergencyDeclaration,
    OrgTree,
    PatientFacts,
    Restriction,
    Subject,
    SubjectRef,
)
from iam.authz.policy import CompiledPolicy
from iam.errors import APIError

__all__ = ["DEFAULT_DENY_RULE", "DecisionEngine", "FactSource", "InvalidDecisionRequest", "new_decision_id"]

DEFAULT_DENY_RULE = "default-deny"

#: Denial reasons from most to least telling; across candidate units the most telling one is reported.
_PRIORITY = {
    "account_inactive": 0, "named_block": 1, "unit_restricted": 2, "item_locked": 2, "sharing_objection": 2,
    "sharing_owner_unknown": 2, "no_care_relationship": 3, "not_acute_setting": 3,
    "no_emergency_declaration": 3, "licence_lapsed": 4, "section_not_permitted": 5, "not_in_unit": 6,
    "no_role": 7,
}
_FAILED_CONDITION = {
    "care_relationship": "no_care_relationship",
    "acute_setting": "not_acute_setting",
    "emergency_declaration": "no_emergency_declaration",
}


def new_decision_id() -> str:
    """A decision id, also the decision's access-log event id: the log's own time-ordered UUID (version 7),
    so that ids of decisions and of other events look alike and the log's ``event_id`` index grows at its
    right edge."""
    return new_event_id()


class InvalidDecisionRequest(APIError):
    """The request names a purpose, section or action the policy does not know (400 invalid_request)."""


class FactSource(Protocol):
    """What the engine needs from the policy information point."""

    @property
    def org(self) -> OrgTree: ...

    def subject(self, ref: SubjectRef) -> Subject | None: ...

    def patient(self, patient: str) -> PatientFacts: ...


def _relationship(rel: CareRelationship) -> dict[str, Any]:
    return {"id": rel.id, "kind": rel.kind, "unit": rel.unit_id, "practitioner_hpr": rel.practitioner_hpr,
            "person": rel.person_id, "team": rel.team_id, "valid_from": rel.valid_from.isoformat(),
            "valid_to": rel.valid_to.isoformat() if rel.valid_to else None}


def _restriction(restriction: Restriction) -> dict[str, Any]:
    return {"id": restriction.id, "kind": restriction.kind, "unit": restriction.unit_id,
            "item": restriction.item_id}


def _declaration(declaration: EmergencyDeclaration) -> dict[str, Any]:
    return {"id": declaration.id, "reason_code": declaration.reason_code,
            "declared_at": declaration.declared_at.isoformat(), "expires_at": declaration.expires_at.isoformat()}


class _Denial:
    __slots__ = ("found", "reason", "role", "rule", "unit")

    def __init__(self, reason: str, rule: str, unit: str | None, role: str | None,
                 found: Mapping[str, Any] | None = None) -> None:
        self.reason = reason
        self.rule = rule
        self.unit = unit
        self.role = role
        self.found = found or {}


class DecisionEngine:
    def __init__(self, policy: CompiledPolicy, facts: FactSource) -> None:
        self._policy = policy
        self._facts = facts

    @property
    def policy(self) -> CompiledPolicy:
        return self._policy

    @property
    def facts(self) -> FactSource:
        return self._facts

    def use_policy(self, policy: CompiledPolicy) -> None:
        """Swap in a freshly compiled policy; decisions in flight finish on the one they started with."""
        self._policy = policy

    def check(self, request: DecisionRequest) -> Purpose:
        """Raise InvalidDecisionRequest unless purpose, section and action are in the policy's vocabulary."""
        catalogue = self._policy.catalogue
        purpose = catalogue.purposes.get(request.purpose)
        if purpose is None:
            raise InvalidDecisionRequest(f"purpose of use '{request.purpose}' is unknown; expected one of "
                                         f"{', '.join(catalogue.purposes)}")
        if request.section not in catalogue.sections:
            raise InvalidDecisionRequest(f"record section '{request.section}' is unknown; expected one of "
                                         f"{', '.join(catalogue.sections)}")
        if request.action not in catalogue.actions:
            raise InvalidDecisionRequest(f"action '{request.action}' is unknown; expected one of "
                                         f"{', '.join(catalogue.actions)}")
        return purpose

    def decide(self, request: DecisionRequest) -> Decision:
        """Decide one request; raise InvalidDecisionRequest for unknown vocabulary."""
        policy = self._policy
        purpose = self.check(request)
        at = request.at or datetime.now(UTC)
        subject = self._facts.subject(request.subject)
        if subject is None:
            return self._deny(request, at, None, _Denial("unknown_subject", DEFAULT_DENY_RULE, None, None),
                              purpose)
        facts = self._facts.patient(request.patient)
        org = self._facts.org
        tail = (request.section, request.action, request.purpose)
        assignments = subject.assignments
        if request.acting_unit is not None:
            candidates: tuple[str, ...] = (request.acting_unit,)
        else:
            candidates = tuple(dict.fromkeys(a.unit_id for a in assignments))
        if not candidates:
            reason = "account_inactive" if not subject.active else "no_role"
            rule = self._rule_for("account_inactive") if reason == "account_inactive" else DEFAULT_DENY_RULE
            return self._deny(request, at, subject, _Denial(reason, rule, None, None), purpose)

        acute = policy.catalogue.acute_unit_kinds
        best: _Denial | None = None
        for unit in candidates:
            ctx = EvalContext(request=request, subject=subject, facts=facts, unit=unit, purpose=purpose, org=org,
                              acute_kinds=acute, at=at)
            chain = ctx.chain
            licensed: list[str] = []
            lapsed: list[str] = []
            for assignment in assignments:
                if assignment.unit_id in chain:
                    (licensed if assignment.licence_ok else lapsed).append(assignment.role)
            denial = self._denied(policy, ctx, tail, licensed)
            if denial is None:
                failed: str | None = None
                failed_role: str | None = None
                for role in licensed:
                    for condition, function, rule in policy.allow.get((role, *tail), ()):
                        if function(ctx):
                            return self._permit(request, at, subject, facts, purpose, ctx, role, rule)
                        if failed is None:
                            failed, failed_role = condition, role
                if failed == "care_relationship" and "restriction" in ctx.found:
                    # The only relationships in reach are with a unit the patient restricted.
                    denial = _Denial("unit_restricted", self._rule_for("unit_restricted"), unit, failed_role,
                                     ctx.found)
                elif failed is not None:
                    denial = _Denial(_FAILED_CONDITION[failed], DEFAULT_DENY_RULE, unit, failed_role)
                elif any((role, *tail) in policy.allow for role in lapsed):
                    denial = _Denial("licence_lapsed", DEFAULT_DENY_RULE, unit, lapsed[0])
                elif licensed:
                    denial = _Denial("section_not_permitted", DEFAULT_DENY_RULE, unit, licensed[0])
                else:
                    reason = "not_in_unit" if assignments else "no_role"
                    denial = _Denial(reason, DEFAULT_DENY_RULE, unit, None)
            if best is None or _PRIORITY[denial.reason] < _PRIORITY[best.reason]:
                best = denial
            if denial.reason in ("account_inactive", "named_block"):
                break
        assert best is not None
        return self._deny(request, at, subject, best, purpose)

    def _rule_for(self, condition: str) -> str:
        for line in self._policy.lines:
            if line.condition == condition:
                return line.rule
        return DEFAULT_DENY_RULE

    @staticmethod
    def _denied(policy: CompiledPolicy, ctx: EvalContext, tail: tuple[str, str, str],
                roles: list[str]) -> _Denial | None:
        for condition, function, rule in policy.deny_any.get(tail, ()):
            if function(ctx):
                return _Denial(_deny_reason(condition, ctx), rule, ctx.unit, None, ctx.found)
        for role in roles:
            for condition, function, rule in policy.deny_role.get((role, *tail), ()):
                if function(ctx):
                    return _Denial(_deny_reason(condition, ctx), rule, ctx.unit, role, ctx.found)
        return None

    def _permit(self, request: DecisionRequest, at: datetime, subject: Subject, facts: PatientFacts,
                purpose: Purpose, ctx: EvalContext, role: str, rule: str) -> Decision:
        found = ctx.found
        section = self._policy.catalogue.sections[request.section]
        obligations: list[str] = []
        details: dict[str, Any] = {"acting_unit": ctx.unit, "role": role, "policy_version": self._policy.version}
        params = {"unit": ctx.unit, "role": role}
        reason = "care_relationship"
        if "care_relationship" in found:
            rel: CareRelationship = found["care_relationship"]
            details["care_relationship"] = _relationship(rel)
            params["kind"] = rel.kind
        elif "emergency_declaration" in found:
            reason = "emergency_declaration"
            declaration: EmergencyDeclaration = found["emergency_declaration"]
            details["emergency_declaration"] = _declaration(declaration)
            params["until"] = declaration.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        else:
            reason = "acute_setting"
        opened = found.get("opened")
        if opened:
            details["opened_restrictions"] = opened
            obligations.append("restriction_opened")
        if purpose.emergency:
            obligations.append("review_required")
        if facts.confidential_address and section.contains_address:
            obligations.append("hide_address")
        if facts.well_known:
            details["well_known_patient"] = True
        if section.flag_in_log:
            details["sensitivity"] = section.sensitivity
        return Decision(allowed=True, decision_id=new_decision_id(), rule=rule, reason=reason, request=request,
                        at=at, subject=subject, role=role, acting_unit=ctx.unit, facts=details,
                        obligations=tuple(obligations), emergency=purpose.emergency, params=params)

    def _deny(self, request: DecisionRequest, at: datetime, subject: Subject | None, denial: _Denial,
              purpose: Purpose) -> Decision:
        policy = self._policy
        details: dict[str, Any] = {"policy_version": policy.version}
        if denial.unit is not None:
            details["acting_unit"] = denial.unit
        if denial.role is not None:
            details["role"] = denial.role
        restriction = denial.found.get("restriction")
        params: dict[str, str] = {"unit": denial.unit or request.acting_unit or "", "role": denial.role or ""}
        if isinstance(restriction, Restriction):
            details["restriction"] = _restriction(restriction)
            if restriction.unit_id is not None:
                params["unit"] = restriction.unit_id  # the unit the patient restricted, maybe above the acting one
        if subject is not None and denial.reason == "account_inactive":
            params["status"] = subject.account_status
            details["account_status"] = subject.account_status
        steps = list(policy.catalogue.reasons[denial.reason].next)
        if "declare_emergency" in steps:
            if not self._may_break_glass(request, subject, purpose):
                steps.remove("declare_emergency")
            elif not purpose.emergency and subject is not None and self._facts.patient(
                    request.patient).declaration_of(subject.person_id, at) is not None:
                # Declared already: what is missing is the emergency purpose on the request.
                steps[steps.index("declare_emergency")] = "use_emergency_purpose"
        return Decision(allowed=False, decision_id=new_decision_id(), rule=denial.rule, reason=denial.reason,
                        request=request, at=at, subject=subject, role=denial.role, acting_unit=denial.unit,
                        facts=details, next_steps=tuple(steps), emergency=purpose.emergency, params=params)

    def _may_break_glass(self, request: DecisionRequest, subject: Subject | None, purpose: Purpose) -> bool:
        """Whether offering "declare an emergency" makes sense: the user may break the glass for this
        section, and the patient has not blocked them by name (a named block is never overridden)."""
        if subject is None or not subject.active:
            return False
        facts = self._facts.patient(request.patient)
        for restriction in facts.restrictions:
            if restriction.kind == "block_person" and (
                    restriction.person_id == subject.person_id
                    or (restriction.hpr_number is not None and restriction.hpr_number == subject.hpr_number)):
                return False
        policy = self._policy
        roles = policy.catalogue.roles
        for assignment in subject.assignments:
            role = roles.get(assignment.role)
            if (assignment.licence_ok and role is not None and role.may_declare_emergency
                    and (assignment.role, request.section, request.action) in policy.emergency_opens):
                return True
        return False


def _deny_reason(condition: str, ctx: EvalContext) -> str:
    if condition == "sharing_objection" and ctx.found.get("owner_unknown"):
        return "sharing_owner_unknown"
    return condition
