"""The policy decision point: decide, write every decision to the access log, then answer.

Every decision about patient data, permit or deny, becomes one :class:`audit.events.AccessEvent` (the
fields of domain.md rule 6), and the answer is returned only once the access log confirms the events are
durable (group commit, shared with concurrent callers). If the log cannot be written, every decision of
the call becomes a denial with reason ``audit_unavailable``: no access is ever permitted unlogged.

Facts that are not cached yet are read in a worker thread before deciding, so the event loop never waits
on the database; the decisions themselves are pure CPU work over cached facts.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from anyio import to_thread

from audit.errors import AuditUnavailable
from audit.events import CHANGING_ACTIONS, AccessEvent
from audit.log import AccessLog
from iam.authz.engine import DecisionEngine
from iam.authz.model import Decision, DecisionRequest, OrgTree
from iam.authz.pip import PolicyInformationPoint

__all__ = ["AUDIT_UNAVAILABLE_RULE", "Caller", "PolicyDecisionPoint", "Semantic"]

_log = logging.getLogger("iam.authz")
AUDIT_UNAVAILABLE_RULE = "audit-unavailable"
Semantic = Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asked: the client application and its token, and where the request came from."""

    client_id: str | None = None
    token_jti: str | None = None
    source_address: str | None = None
    request_id: str | None = None


def justification(facts: Mapping[str, Any]) -> str | None:
    """What decided, for the log's internal reason text (domain.md rules 1, 4 and 5): the care relationship,
    the emergency declaration and the restriction that denied or that consent or an emergency opened. Ids
    only; the privacy officer looks the rest up."""
    parts = []
    relationship = facts.get("care_relationship")
    if relationship is not None:
        parts.append(f"care relationship {relationship['id']} ({relationship['kind']})")
    declaration = facts.get("emergency_declaration")
    if declaration is not None:
        parts.append(f"emergency declaration {declaration['id']} ({declaration['reason_code']})")
    for opened in facts.get("opened_restrictions", ()):
        by = f"consent {opened['consent']}" if opened["by"] == "consent" else \
            f"emergency declaration {opened['emergency_declaration']}"
        parts.append(f"restriction {opened['restriction']} opened by {by}")
    restriction = facts.get("restriction")
    if restriction is not None:
        parts.append(f"restriction {restriction['id']} ({restriction['kind']})")
    return "; ".join(parts) or None


class PolicyDecisionPoint:
    def __init__(self, engine: DecisionEngine, pip: PolicyInformationPoint, log: AccessLog) -> None:
        self._engine = engine
        self._pip = pip
        self._log = log
        self._unit_fields: dict[str, tuple[str | None, str | None, str | None]] = {}
        self._org: OrgTree | None = None

    @property
    def engine(self) -> DecisionEngine:
        return self._engine

    def _missing_facts(self, requests: Sequence[DecisionRequest]) -> list[str]:
        cached = self._pip.cached_patient
        return list(dict.fromkeys(r.patient for r in requests if not cached(r.patient)))

    def _warm(self, requests: Sequence[DecisionRequest]) -> None:
        missing = self._missing_facts(requests)
        if missing:
            self._pip.load_patients(missing)
        for request in requests:
            self._pip.subject(request.subject)
        _ = self._pip.org

    def decide_all(self, requests: Sequence[DecisionRequest], semantic: Semantic = "execute_all") -> list[Decision]:
        """Decide in order, stopping early as ``semantic`` says (AuthZEN §7.1.2); no logging here."""
        decide = self._engine.decide
        decisions = []
        for request in requests:
            decision = decide(request)
            decisions.append(decision)
            if (semantic == "deny_on_first_deny" and not decision.allowed) or (
                    semantic == "permit_on_first_permit" and decision.allowed):
                break
        return decisions

    async def evaluate(self, requests: Sequence[DecisionRequest], caller: Caller,
                       semantic: Semantic = "execute_all") -> list[Decision]:
        """Decide and log (awaiting durability); raise InvalidDecisionRequest for unknown vocabulary."""
        for request in requests:
            self._engine.check(request)
        if self._missing_facts(requests) or not all(self._pip.subject_cached(r.subject) for r in requests):
            await to_thread.run_sync(self._warm, requests)
        decisions = self.decide_all(requests, semantic)
        events = [self.access_event(d, caller) for d in decisions]
        try:
            # Each event id is the decision's id, generated just now by the engine: no idempotency check.
            await self._log.record_many_async(events, fresh=True)
        except AuditUnavailable as exc:
            return self._unlogged(decisions, exc)
        return decisions

    def evaluate_sync(self, requests: Sequence[DecisionRequest], caller: Caller,
                      semantic: Semantic = "execute_all") -> list[Decision]:
        """:meth:`evaluate` for threads and the command line (blocks until the log confirms)."""
        for request in requests:
            self._engine.check(request)
        self._warm(requests)
        decisions = self.decide_all(requests, semantic)
        try:
            self._log.record_many([self.access_event(d, caller) for d in decisions], fresh=True)
        except AuditUnavailable as exc:
            return self._unlogged(decisions, exc)
        return decisions

    @staticmethod
    def _unlogged(decisions: list[Decision], exc: AuditUnavailable) -> list[Decision]:
        _log.error("access log unavailable; denying %d decision(s)", len(decisions),
                   extra={"reason": exc.message})
        return [dataclasses.replace(d, allowed=False, rule=AUDIT_UNAVAILABLE_RULE, reason="audit_unavailable",
                                    obligations=(), next_steps=("retry_later",)) for d in decisions]

    def _units(self, unit: str | None) -> tuple[str | None, str | None, str | None]:
        """(legal entity, point of care, department) of the acting unit, from the organisation register."""
        if unit is None:
            return None, None, None
        org = self._pip.org
        if org is not self._org:
            self._org, self._unit_fields = org, {}
        fields = self._unit_fields.get(unit)
        if fields is None:
            levels: dict[str, str] = {}
            for scope in org.chain(unit):
                found = org.unit(scope)
                if found is not None:
                    levels[found.level] = scope
            if not levels:
                levels["department"] = unit
            fields = (levels.get("legal_entity"), levels.get("point_of_care"), levels.get("department"))
            self._unit_fields[unit] = fields
        return fields

    def access_event(self, decision: Decision, caller: Caller) -> AccessEvent:
        """The access-log record of one decision (domain.md rule 6).

        Built with :meth:`AccessEvent.trusted` (no re-validation) on the hot path: every value comes from a
        checked request (national id, vocabulary codes, item pattern), the grant register, or our own ids.
        """
        request = decision.request
        subject = decision.subject
        ref = request.subject
        legal_entity, point_of_care, department = self._units(decision.acting_unit)
        item = f"{request.section}/{request.item}" if request.item else request.section
        return AccessEvent.trusted(
            event_id=decision.decision_id,
            occurred_at=decision.at,
            action=request.action,
            outcome="permit" if decision.allowed else "deny",
            user_id=subject.person_id if subject else (ref.value if ref.kind == "person" else None),
            user_national_id=subject.national_id if subject else (ref.value if ref.kind == "national_id" else None),
            user_hpr_number=subject.hpr_number if subject else (ref.value if ref.kind == "hpr" else None),
            user_name=subject.display_name if subject else None,
            role=decision.role,
            legal_entity=legal_entity,
            point_of_care=point_of_care,
            department=department,
            patient=request.patient,
            data_item=item,
            purpose_of_use=request.purpose,
            decision_id=decision.decision_id,
            policy_rule=f"{decision.rule}@{decision.facts.get('policy_version', '')}",
            emergency=decision.emergency,
            self_granted=decision.emergency,
            reason_text=justification(decision.facts),
            client_id=caller.client_id,
            token_jti=caller.token_jti,
            source_address=caller.source_address,
            request_id=caller.request_id,
            proxy_for=None,
            changed=request.action in CHANGING_ACTIONS,
        )
