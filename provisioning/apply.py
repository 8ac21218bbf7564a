"""``apply_plan``: write a :class:`~provisioning.plan.Plan` in the caller's transaction, in bulk.

Contract
--------
``apply_plan(session, plan, *, actor, source, bus=None, details=None, request_id=None, progress=None)``

* Writes everything in the caller's transaction and never commits: if anything fails (or the process dies)
  before the caller commits, the previous state is intact.
* Bulk statements only (executemany of row lists; RETURNING for new ids), so 40,000 joiners take seconds.
* ``source`` labels every new row ("hr-file", "scim", "ldap", "tick", "hpr", "admin"); ``actor`` is who ran it.
* Publishes the ``identity`` notices for every person whose grants, account, licences or identity changed
  and writes one admin event for the run (action ``provisioning.apply`` unless ``action`` says otherwise)
  with the plan's counts plus ``details``. An empty plan writes nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from iam.notify import ChangeBus
from provisioning.accounts import StatusChange, set_account_statuses
from provisioning.bulk import bulk_insert, bulk_update
from provisioning.events import admin_event, announce
from provisioning.markers import mark_planned
from provisioning.models import EmploymentRow, GrantChangeRow, GrantRow, PersonRow
from provisioning.plan import NewGrant, Plan

__all__ = ["ApplyResult", "apply_plan"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class ApplyResult:
    counts: dict[str, int]
    person_ids: tuple[int, ...]  # everyone whose identity changed (and was announced)
    created: dict[int, int]  # placeholder ref -> new person id
    event_id: str | None


def apply_plan(session: Session, plan: Plan, *, actor: str, source: str, bus: ChangeBus | None = None,
               details: dict[str, Any] | None = None, request_id: str | None = None,
               action: str = "provisioning.apply", progress: Progress | None = None) -> ApplyResult:
    """Apply ``plan``; see the module docstring."""
    if plan.is_empty:
        return ApplyResult(counts=plan.counts(), person_ids=(), created={}, event_id=None)
    report = progress or (lambda stage, done, total: None)
    now = utc_now()
    at = plan.at
    refs: dict[int, int] = {}
    total = 5

    report("writing", 0, total)
    if plan.new_persons:
        bulk_insert(session, PersonRow, [
            {"national_id": p.national_id, "hpr_number": p.hpr_number, "employee_id": p.employee_id,
             "given_name": p.given_name, "family_name": p.family_name, "address": p.address, "source": source,
             "created_at": now, "updated_at": now} for p in plan.new_persons])
        refs = _new_ids(session, plan)
    if plan.person_updates:
        bulk_update(session, PersonRow, "id", [
            {"id": u.person_id, "updated_at": now, **{name: new for name, _, new in u.changes}}
            for u in plan.person_updates])

    def person(ref: int) -> int:
        return ref if ref > 0 else refs[ref]

    report("writing", 1, total)
    set_account_statuses(session, [StatusChange(person(c.person), c.old, c.new, c.reason, c.admin_hold)
                                   for c in plan.account_changes], at=at, source=source, actor=actor)
    report("writing", 2, total)
    if plan.new_employments:
        bulk_insert(session, EmploymentRow, [
            {"person_id": person(e.person), "position_code": e.position_code, "legal_entity_id": e.legal_entity_id,
             "point_of_care_id": e.point_of_care_id, "department_id": e.department_id, "start_date": e.start_date,
             "end_date": e.end_date, "source": source, "removed_at": None, "created_at": now, "updated_at": now}
            for e in plan.new_employments])
    if plan.employment_updates:
        bulk_update(session, EmploymentRow, "id", [
            {"id": u.employment_id, "end_date": u.end_date, "legal_entity_id": u.legal_entity_id,
             "point_of_care_id": u.point_of_care_id, "removed_at": at if u.removed else None, "updated_at": now}
            for u in plan.employment_updates])
    report("writing", 3, total)
    changes: list[dict[str, Any]] = []
    def grant_row(g: NewGrant) -> dict[str, Any]:
        return {"person_id": person(g.person), "role": g.role, "unit_id": g.unit_id, "purpose": None,
                "kind": "birthright", "valid_from": g.valid_from, "valid_to": None, "source": source,
                "granted_by": actor, "reason": g.reason, "created_at": now}

    bulk_insert(session, GrantRow, [grant_row(g) for g in plan.new_grants if not g.suspend_reason])
    for grant in plan.new_grants:
        if grant.suspend_reason:
            # Few (licence problems), and each needs its id for the suspension row.
            grant_id = session.execute(insert(GrantRow).values(grant_row(grant)).returning(GrantRow.id)).scalar_one()
            # Effective now, not at the grant's start: the state at ``at`` must already show it suspended.
            changes.append({"grant_id": grant_id, "person_id": person(grant.person), "action": "suspend",
                            "effective_at": at, "source": source, "changed_by": actor,
                            "reason": grant.suspend_reason, "created_at": now})
    changes.extend({"grant_id": c.grant_id, "person_id": c.person_id, "action": c.action,
                    "effective_at": c.effective_at, "source": source, "changed_by": actor, "reason": c.reason,
                    "created_at": now} for c in plan.grant_changes)
    bulk_insert(session, GrantChangeRow, changes)
    report("writing", 4, total)

    touched = {person(c.person) for c in plan.account_changes} | {person(g.person) for g in plan.new_grants}
    touched |= {c.person_id for c in plan.grant_changes} | {u.person_id for u in plan.person_updates}
    touched |= {person(e.person) for e in plan.new_employments} | {u.person_id for u in plan.employment_updates}
    touched |= set(refs.values())
    announce(session, touched, bus=bus)
    counts = plan.counts()
    event_id = admin_event(
        session, actor=actor, action=action, target_type="provisioning-run", target_id=None,
        details={"source": source, "mode": plan.mode, "today": plan.today.isoformat(),
                 "at": at.isoformat(), **counts, **(details or {})},
        request_id=request_id)
    if plan.mode == "snapshot":
        mark_planned(session, at)  # a snapshot planned everyone: the first tick needs to look only at later dates
    report("writing", total, total)
    return ApplyResult(counts=counts, person_ids=tuple(sorted(touched)), created=refs, event_id=event_id)


def _new_ids(session: Session, plan: Plan) -> dict[int, int]:
    """Placeholder ref -> id of the people just inserted, found by their (unique) national ids."""
    wanted = {p.national_id: p.ref for p in plan.new_persons}
    query = select(PersonRow.national_id, PersonRow.id)
    if len(wanted) <= 500:
        query = query.where(PersonRow.national_id.in_(list(wanted)))
    return {wanted[national_id]: person_id for national_id, person_id in session.execute(query)
            if national_id in wanted}
