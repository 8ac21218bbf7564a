"""The date-driven tick: what changes because time passes (``iam provisioning tick``, and every
``IAM_PROVISIONING_TICK_SECONDS`` in ``iam serve``).

* Accounts: pending -> active on the start date, -> disabled after the end date (00:00 Oslo time the day
  after), with the leaver's grants revoked at once (see :mod:`provisioning.reconcile`).
* Licences: a stored authorisation that expires (``valid_to`` passed) suspends the grants needing it.
* Notices: grants that start (a joiner's, valid from the start date), end (``valid_to``) or whose scheduled
  revocation takes effect (a mover's grace period) since the last tick are announced, so the decision engine
  drops or adds them on time.

Only people whose dates crossed since the previous tick are re-planned (the first tick, or one after the
clock went backwards, re-plans everyone). Concurrent ticks on several nodes: one runs, the others skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from iam.notify import ChangeBus
from provisioning.apply import ApplyResult, apply_plan
from provisioning.clock import hr_date
from provisioning.events import announce
from provisioning.locking import try_lock_provisioning
from provisioning.markers import TICK, get_marker, set_marker
from provisioning.models import (
    AccountRow,
    EmploymentRow,
    GrantChangeRow,
    GrantRow,
    LicenceRow,
    PersonRow,
)
from provisioning.plan import Plan
from provisioning.reconcile import Current, Reconciler
from provisioning.rules import RoleRules, default_rules
from provisioning.state import PersonScope, load_state

__all__ = ["TickResult", "run_tick"]


@dataclass(frozen=True, slots=True)
class TickResult:
    ran: bool  # False when another node held the lock
    at: datetime
    since: datetime | None  # the previous tick, None when everyone was re-planned
    plan: Plan | None
    result: ApplyResult | None
    announced: int  # people announced for grants starting or ending by date alone


def run_tick(session: Session, *, at: datetime | None = None, rules: RoleRules | None = None,
             bus: ChangeBus | None = None, actor: str = "provisioning-tick") -> TickResult:
    """Apply every date-driven change due at ``at`` (default now) in the caller's transaction."""
    at = at or utc_now()
    if not try_lock_provisioning(session):
        return TickResult(ran=False, at=at, since=None, plan=None, result=None, announced=0)
    marker = get_marker(session, TICK)
    since = marker if marker is not None and marker <= at else None
    today = hr_date(at)
    plan = Plan(mode="tick", today=today, at=at)
    scope = None
    if since is not None:
        candidates = _candidates(session, since_day=hr_date(since), today=today)
        scope = PersonScope(person_ids=candidates) if candidates else None
    result = None
    if since is None or scope is not None:
        state = load_state(session, at=at, scope=scope)
        reconciler = Reconciler(state, plan, rules=rules or default_rules())
        for person_id, person in state.persons.items():
            employments = [Current(e.position_code, e.legal_entity_id, e.point_of_care_id, e.department_id,
                                   e.start_date, e.end_date)
                           for e in state.employments.get(person_id, []) if not e.removed]
            reconciler.reconcile(person_id, employments=employments, hpr_number=person.hpr_number,
                                 label=person.label)
        result = apply_plan(session, plan, actor=actor, source="tick", bus=bus, action="provisioning.tick")
    crossing = _crossings(session, since=since, until=at) if since is not None else set()
    if result is not None:
        crossing -= set(result.person_ids)
    announce(session, crossing, bus=bus)
    set_marker(session, TICK, at)
    return TickResult(ran=True, at=at, since=since, plan=plan, result=result, announced=len(crossing))


def _candidates(session: Session, *, since_day: date, today: date) -> set[int]:
    """People whose employment or licence dates crossed a day boundary since ``since_day`` (with a day of
    overlap: re-planning someone twice changes nothing), plus pending accounts whose start date has come."""
    low = since_day - timedelta(days=1)
    crossed = or_(and_(EmploymentRow.start_date >= low, EmploymentRow.start_date <= today),
                  and_(EmploymentRow.end_date >= low - timedelta(days=1), EmploymentRow.end_date < today))
    people = set(session.execute(select(EmploymentRow.person_id).where(
        EmploymentRow.removed_at.is_(None), crossed)).scalars())
    people |= set(session.execute(
        select(AccountRow.person_id).join(EmploymentRow, EmploymentRow.person_id == AccountRow.person_id)
        .where(AccountRow.status == "pending", EmploymentRow.removed_at.is_(None),
               EmploymentRow.start_date <= today)).scalars())
    licence_crossed = or_(and_(LicenceRow.valid_from >= low, LicenceRow.valid_from <= today),
                          and_(LicenceRow.valid_to >= low - timedelta(days=1), LicenceRow.valid_to < today))
    people |= set(session.execute(
        select(PersonRow.id).join(LicenceRow, LicenceRow.hpr_number == PersonRow.hpr_number)
        .where(licence_crossed)).scalars())
    return people


def _crossings(session: Session, *, since: datetime, until: datetime) -> set[int]:
    """People with a grant that started or ended, or a scheduled change that took effect, in (since, until]."""
    window_start = and_(GrantRow.valid_from > since, GrantRow.valid_from <= until)
    window_end = and_(GrantRow.valid_to > since, GrantRow.valid_to <= until)
    people = set(session.execute(select(GrantRow.person_id).where(or_(window_start, window_end))).scalars())
    people |= set(session.execute(select(GrantChangeRow.person_id).where(
        GrantChangeRow.effective_at > since, GrantChangeRow.effective_at <= until)).scalars())
    return people

