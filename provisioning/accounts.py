"""Account status: the one place that changes it, and the admin actions on it.

The token hook
--------------
Whenever an account leaves ``active`` (to ``disabled``, ``suspended`` or back to ``pending``), its
``tokens_valid_after`` moves to the moment of the change: the token service refuses tokens issued before it
(introspection reports them inactive), and :mod:`provisioning.subjects` stops returning the person's roles, so
the decision engine drops them on the ``identity`` notice published in the same transaction.
Both the lifecycle (leavers, via :func:`set_account_statuses` from ``apply_plan``) and administrators
(:func:`disable_account`, :func:`suspend_account`) go through :func:`set_account_statuses`.

Statuses an administrator sets carry ``admin_hold``: HR changes never re-activate such an account (only
:func:`reinstate_account` does), though a person with no employment left is still disabled by the lifecycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from iam.errors import Conflict, NotFound
from iam.notify import ChangeBus
from provisioning.bulk import bulk_insert, bulk_update
from provisioning.clock import hr_date
from provisioning.events import admin_event, announce
from provisioning.locking import lock_provisioning
from provisioning.models import AccountRow, AccountStatusChangeRow, EmploymentRow
from provisioning.reconcile import Current, Reconciler

__all__ = [
    "StatusChange",
    "disable_account",
    "reinstate_account",
    "set_account_statuses",
    "suspend_account",
]


@dataclass(frozen=True, slots=True)
class StatusChange:
    person_id: int
    old: str | None  # None: create the account
    new: str
    reason: str
    admin_hold: bool = False


def set_account_statuses(session: Session, changes: Sequence[StatusChange], *, at: datetime, source: str,
                         actor: str) -> None:
    """Create or change accounts in bulk and record each change in ``account_status_changes``.

    An account created in, or moved to, a status other than ``active`` gets ``tokens_valid_after = at``.
    Writes no admin event and publishes no notice: callers do (per run or per admin action).
    """
    if not changes:
        return
    created = [c for c in changes if c.old is None]
    changed = [c for c in changes if c.old is not None]
    if created:
        bulk_insert(session, AccountRow, [
            {"person_id": c.person_id, "status": c.new, "status_changed_at": at, "status_reason": c.reason,
             "admin_hold": c.admin_hold, "tokens_valid_after": at, "created_at": at} for c in created])
    for kills_tokens in (True, False):
        rows = [c for c in changed if (c.new != "active") == kills_tokens]
        if not rows:
            continue
        values = [{"person_id": c.person_id, "status": c.new, "status_changed_at": at, "status_reason": c.reason,
                   "admin_hold": c.admin_hold, **({"tokens_valid_after": at} if kills_tokens else {})}
                  for c in rows]
        bulk_update(session, AccountRow, "person_id", values)
    bulk_insert(session, AccountStatusChangeRow, [
        {"person_id": c.person_id, "status": c.new, "effective_at": at, "source": source, "changed_by": actor,
         "reason": c.reason} for c in changes])


def _account(session: Session, person_id: int) -> AccountRow:
    account = session.get(AccountRow, person_id)
    if account is None:
        raise NotFound(f"person {person_id} has no account")
    return account


def _admin_change(session: Session, person_id: int, *, new: str, hold: bool, reason: str, at: datetime,
                  actor: str, action: str, bus: ChangeBus | None, request_id: str | None) -> str:
    lock_provisioning(session)
    account = _account(session, person_id)
    old = account.status
    set_account_statuses(session, [StatusChange(person_id, old, new, reason, admin_hold=hold)], at=at,
                         source="admin", actor=actor)
    session.expire(account)
    admin_event(session, actor=actor, action=action, target_type="person", target_id=str(person_id),
                details={"from": old, "to": new, "reason": reason}, request_id=request_id)
    announce(session, [person_id], bus=bus)
    return new


def disable_account(session: Session, person_id: int, *, reason: str, at: datetime, actor: str = "provisioning",
                    bus: ChangeBus | None = None, request_id: str | None = None) -> str:
    """Disable the account now: its tokens die and its roles leave the decision engine at once.

    The status holds (HR will not re-activate it) until :func:`reinstate_account`. Raises NotFound for an
    unknown person and Conflict when the account is already disabled. Returns the new status.
    """
    if _account(session, person_id).status == "disabled":
        raise Conflict(f"the account of person {person_id} is already disabled")
    return _admin_change(session, person_id, new="disabled", hold=True, reason=reason, at=at, actor=actor,
                         action="account.disable", bus=bus, request_id=request_id)


def suspend_account(session: Session, person_id: int, *, reason: str, at: datetime, actor: str,
                    bus: ChangeBus | None = None, request_id: str | None = None) -> str:
    """Suspend the account (tokens die, roles stop) until reinstated; Conflict unless active or pending."""
    status = _account(session, person_id).status
    if status not in ("active", "pending"):
        raise Conflict(f"the account of person {person_id} is {status}; only an active or pending account "
                       "can be suspended")
    return _admin_change(session, person_id, new="suspended", hold=True, reason=reason, at=at, actor=actor,
                         action="account.suspend", bus=bus, request_id=request_id)


def reinstate_account(session: Session, person_id: int, *, reason: str, at: datetime, actor: str,
                      bus: ChangeBus | None = None, request_id: str | None = None) -> str:
    """Lift an administrator's suspension or disabling; the status follows the employments again.

    Raises Conflict when the account carries no administrator's hold. Returns the new status.
    """
    account = _account(session, person_id)
    if not account.admin_hold:
        raise Conflict(f"the account of person {person_id} is {account.status} by its employments, not by an "
                       "administrator; nothing to reinstate")
    rows = session.execute(select(EmploymentRow).where(
        EmploymentRow.person_id == person_id, EmploymentRow.removed_at.is_(None))).scalars()
    employments = [Current(e.position_code, e.legal_entity_id, e.point_of_care_id, e.department_id, e.start_date,
                           e.end_date) for e in rows]
    status, _ = Reconciler.status_on(employments, hr_date(at))
    return _admin_change(session, person_id, new=status, hold=False, reason=reason, at=at, actor=actor,
                         action="account.reinstate", bus=bus, request_id=request_id)
