"""Queries over the append-only grant register: which grants are in force at a moment, and their history.

A grant is *in force* at moment T when ``valid_from <= T``, ``valid_to`` is empty or later than T, and no
revocation takes effect at or before T. It is *suspended* at T when the latest suspend/resume row effective
at or before T is a suspension (licence checks write those). Both are plain SQL over ``grants`` and
``grant_changes`` (correlated sub-queries on an index), so "who held which role where at T" is one query on
both databases. The account status at T comes from ``account_status_changes`` the same way.

Functions here build and run queries; they never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Row, Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import ScalarSelect

from provisioning.models import AccountStatusChangeRow, GrantChangeRow, GrantRow, OrgUnitRow, PersonRow

__all__ = [
    "GrantChange",
    "GrantView",
    "account_status_at",
    "grant_history",
    "grants_in_force",
    "in_force",
    "licence_action_at",
    "revocation_at",
]


def revocation_at() -> ScalarSelect[datetime]:
    """Scalar sub-query: when the grant's first revocation takes effect (NULL if never revoked)."""
    change = aliased(GrantChangeRow)
    return (select(func.min(change.effective_at))
            .where(change.grant_id == GrantRow.id, change.action == "revoke")
            .correlate(GrantRow).scalar_subquery())


def licence_action_at(at: datetime) -> ScalarSelect[str]:
    """Scalar sub-query: the latest ``suspend``/``resume`` of the grant effective at ``at`` (or NULL)."""
    change = aliased(GrantChangeRow)
    return (select(change.action)
            .where(change.grant_id == GrantRow.id, change.action.in_(("suspend", "resume")),
                   change.effective_at <= at)
            .order_by(change.id.desc()).limit(1)
            .correlate(GrantRow).scalar_subquery())


def account_status_at(at: datetime) -> ScalarSelect[str]:
    """Scalar sub-query: the account status of ``GrantRow.person_id`` at ``at`` (NULL before the account)."""
    change = aliased(AccountStatusChangeRow)
    return (select(change.status)
            .where(change.person_id == GrantRow.person_id, change.effective_at <= at)
            .order_by(change.effective_at.desc(), change.id.desc()).limit(1)
            .correlate(GrantRow).scalar_subquery())


def in_force(at: datetime, *, include_future: bool = False) -> list[ColumnElement[bool]]:
    """WHERE conditions for grants in force at ``at`` (or, with ``include_future``, not ended by ``at``)."""
    change = aliased(GrantChangeRow)
    revoked = exists().where(change.grant_id == GrantRow.id, change.action == "revoke", change.effective_at <= at)
    conditions: list[ColumnElement[bool]] = [or_(GrantRow.valid_to.is_(None), GrantRow.valid_to > at), ~revoked]
    if not include_future:
        conditions.append(GrantRow.valid_from <= at)
    return conditions


@dataclass(frozen=True, slots=True)
class GrantView:
    """A grant as the register shows it at a moment: ``revoked_at`` may lie in the future (grace period),
    ``suspended`` and ``account_status`` are as of the moment asked about."""

    id: int
    person_id: int
    person_name: str
    role: str
    unit_id: str
    unit_name: str
    unit_level: str
    legal_entity_id: str
    point_of_care_id: str | None
    purpose: str | None
    kind: str
    valid_from: datetime
    valid_to: datetime | None
    source: str
    granted_by: str
    reason: str
    created_at: datetime
    revoked_at: datetime | None
    suspended: bool
    account_status: str | None


@dataclass(frozen=True, slots=True)
class GrantChange:
    id: int
    grant_id: int
    action: str
    effective_at: datetime
    source: str
    changed_by: str
    reason: str
    created_at: datetime


_ViewColumns = tuple[GrantRow, str, str, str, str, str | None, datetime, str, str]


def _view_query(at: datetime) -> Select[*_ViewColumns]:
    return (
        select(GrantRow, (PersonRow.given_name + " " + PersonRow.family_name).label("person_name"),
               OrgUnitRow.name, OrgUnitRow.level, OrgUnitRow.legal_entity_id, OrgUnitRow.point_of_care_id,
               revocation_at().label("revoked_at"), licence_action_at(at).label("licence_action"),
               account_status_at(at).label("account_status"))
        .join(OrgUnitRow, OrgUnitRow.unit_id == GrantRow.unit_id)
        .join(PersonRow, PersonRow.id == GrantRow.person_id)
    )


def _view(row: Row[*_ViewColumns]) -> GrantView:
    grant: GrantRow = row[0]
    person_name, unit_name, level, legal_entity_id, point_of_care_id, revoked_at, licence, account = row[1:]
    return GrantView(
        id=grant.id, person_id=grant.person_id, person_name=person_name, role=grant.role, unit_id=grant.unit_id,
        unit_name=unit_name, unit_level=level, legal_entity_id=legal_entity_id,
        point_of_care_id=point_of_care_id, purpose=grant.purpose, kind=grant.kind, valid_from=grant.valid_from,
        valid_to=grant.valid_to, source=grant.source, granted_by=grant.granted_by, reason=grant.reason,
        created_at=grant.created_at, revoked_at=revoked_at, suspended=licence == "suspend",
        account_status=account,
    )


def grants_in_force(session: Session, *, at: datetime, person_id: int | None = None, role: str | None = None,
                    unit_id: str | None = None, after_id: int = 0, limit: int = 1000) -> list[GrantView]:
    """Grants in force at ``at`` (suspended ones included, flagged), ordered by id, one page after ``after_id``.

    This is "who held which role where at T": filter by person, role or unit (exact unit; scope inheritance
    is the decision engine's business). ``account_status`` says whether the person could act at all.
    """
    stmt = _view_query(at).where(*in_force(at), GrantRow.id > after_id)
    if person_id is not None:
        stmt = stmt.where(GrantRow.person_id == person_id)
    if role is not None:
        stmt = stmt.where(GrantRow.role == role)
    if unit_id is not None:
        stmt = stmt.where(GrantRow.unit_id == unit_id)
    rows = session.execute(stmt.order_by(GrantRow.id).limit(limit)).all()
    return [_view(row) for row in rows]


def grant_history(session: Session, *, person_id: int | None = None, grant_ids: Sequence[int] = (),
                  at: datetime) -> list[tuple[GrantView, list[GrantChange]]]:
    """Every grant of a person (or the given grants), oldest first, each with all its change rows."""
    stmt = _view_query(at)
    if person_id is not None:
        stmt = stmt.where(GrantRow.person_id == person_id)
    if grant_ids:
        stmt = stmt.where(GrantRow.id.in_(list(grant_ids)))
    views = [_view(row) for row in session.execute(stmt.order_by(GrantRow.id)).all()]
    changes: dict[int, list[GrantChange]] = {view.id: [] for view in views}
    if views:
        rows = session.execute(
            select(GrantChangeRow).where(GrantChangeRow.grant_id.in_(list(changes)))
            .order_by(GrantChangeRow.id)
        ).scalars()
        for c in rows:
            changes[c.grant_id].append(GrantChange(
                id=c.id, grant_id=c.grant_id, action=c.action, effective_at=c.effective_at, source=c.source,
                changed_by=c.changed_by, reason=c.reason, created_at=c.created_at))
    return [(view, changes[view.id]) for view in views]
