"""The full reasoning behind one decision, for people (``iam policy explain``).

Re-evaluates the request line by line: for every candidate acting unit, the roles that cover it, each
deny and allow line of policy.csv that matches the request (with its line number) and whether its condition
holds, and the patient's facts that were consulted. Optionally asks stock Casbin too (``enforce_ex``),
which names the policy line it matched. Slow by design; never on the decision path.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from iam.authz.conditions import CONDITIONS, EvalContext
from iam.authz.engine import DecisionEngine
from iam.authz.model import DecisionRequest
from iam.authz.policy import PolicyLine, stock_enforcer
from iam.authz.reasons import explain

__all__ = ["trace"]


def _matches(line: PolicyLine, request: DecisionRequest) -> bool:
    return all(value in ("*", wanted) for value, wanted in (
        (line.section, request.section), (line.action, request.action), (line.purpose, request.purpose)))


def trace(engine: DecisionEngine, request: DecisionRequest, *, with_casbin: bool = False) -> dict[str, Any]:
    """The decision, its explanation, and the line-by-line evaluation behind it."""
    at = request.at or datetime.now(UTC)
    request = dataclasses.replace(request, at=at)
    policy = engine.policy
    facts_source = engine.facts
    decision = engine.decide(request)
    org = facts_source.org
    result: dict[str, Any] = {"request": {"user": f"{request.subject.kind}:{request.subject.value}",
                                          "patient": request.patient, "section": request.section,
                                          "action": request.action, "purpose": request.purpose,
                                          "acting_unit": request.acting_unit, "item": request.item,
                                          "data_owner": request.data_owner, "at": at.isoformat()},
                              "policy_version": policy.version,
                              "explanation": explain(decision, policy.catalogue, org)}
    subject = facts_source.subject(request.subject)
    if subject is None:
        result["subject"] = None
        return result
    patient = facts_source.patient(request.patient)
    result["subject"] = {"person_id": subject.person_id, "name": subject.display_name,
                         "account_status": subject.account_status, "hpr_number": subject.hpr_number,
                         "roles": [{"role": a.role, "unit": a.unit_id, "unit_name": org.name(a.unit_id),
                                    "licence_ok": a.licence_ok} for a in subject.assignments],
                         "teams": sorted(subject.teams)}
    result["patient_facts"] = {
        "relationships": [{"id": r.id, "kind": r.kind, "unit": r.unit_id, "practitioner_hpr": r.practitioner_hpr,
                           "team": r.team_id, "active": r.active(at)} for r in patient.relationships],
        "restrictions": [{"id": r.id, "kind": r.kind, "person": r.person_id, "hpr": r.hpr_number, "unit": r.unit_id,
                          "item": r.item_id} for r in patient.restrictions],
        "consents": [{"id": c.id, "restriction": c.restriction_id, "active": c.active(at)} for c in patient.consents],
        "emergencies": [{"id": e.id, "person": e.person_id, "active": e.active(at)} for e in patient.emergencies],
        "confidential_address": patient.confidential_address, "well_known": patient.well_known}
    purpose = policy.catalogue.purposes[request.purpose]
    units = ((request.acting_unit,) if request.acting_unit is not None
             else tuple(dict.fromkeys(a.unit_id for a in subject.assignments)))
    enforcer = stock_enforcer(policy, org=org, assignments=[(subject.person_id, a) for a in subject.assignments]) \
        if with_casbin else None
    candidates = []
    for unit in units:
        ctx = EvalContext(request=request, subject=subject, facts=patient, unit=unit, purpose=purpose, org=org,
                          acute_kinds=policy.catalogue.acute_unit_kinds, at=at)
        covering = [a for a in subject.assignments if a.unit_id in ctx.chain]
        roles = {a.role for a in covering if a.licence_ok}
        lines = []
        for line in policy.lines:
            if not _matches(line, request) or (line.role != "*" and line.role not in roles):
                continue
            lines.append({"line": line.line, "role": line.role, "effect": line.effect, "condition": line.condition,
                          "rule": line.rule, "holds": CONDITIONS[line.condition](ctx)})
        entry: dict[str, Any] = {"unit": unit, "unit_name": org.name(unit),
                                 "covering_roles": [{"role": a.role, "granted_at": a.unit_id,
                                                     "licence_ok": a.licence_ok} for a in covering],
                                 "lines": lines}
        if enforcer is not None:
            allowed, matched = enforcer.enforce_ex(subject.person_id, unit, request.section, request.action,
                                                   request.purpose, ctx)
            entry["casbin"] = {"decision": "permit" if allowed else "deny", "matched_line": list(matched)}
        candidates.append(entry)
    result["candidates"] = candidates
    return result
