"""The current identity state, loaded in bulk for planning: one query per table, compared in memory.

Rows are NamedTuples: built straight from database rows in C, five times faster than frozen dataclasses,
which matters at 200,000 rows per snapshot.

Queries run on the session's connection (Core rows, no ORM result processing: half the time for 40,000 rows)
inside the session's transaction.

:func:`load_state` reads either everything (a snapshot import, the tick's first run) or only what concerns a
set of people (a delta of a few records, e.g. one SCIM request). Plain slotted dataclasses, never ORM objects,
so 40,000 people fit comfortably in memory and the planner does no lazy loading.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from provisioning.models import AccountRow, EmploymentRow, GrantRow, LicenceRow, OrgUnitRow, PersonRow
from provisioning.register import in_force, licence_action_at, revocation_at

__all__ = [
    "AccountState",
    "EmploymentState",
    "GrantState",
    "LicenceState",
    "PersonScope",
    "PersonState",
    "State",
    "UnitInfo",
    "load_state",
]


class UnitInfo(NamedTuple):
    unit_id: str
    parent_id: str | None
    level: str
    kind: str
    legal_entity_id: str
    point_of_care_id: str | None
    closed: bool


class PersonState(NamedTuple):
    id: int
    national_id: str
    hpr_number: str | None
    employee_id: str | None
    given_name: str
    family_name: str
    address: str

    @property
    def label(self) -> str:
        return f"{self.employee_id or f'person {self.id}'} {self.given_name} {self.family_name}"


class EmploymentState(NamedTuple):
    id: int
    person_id: int
    position_code: str
    legal_entity_id: str
    point_of_care_id: str
    department_id: str
    start_date: date
    end_date: date | None
    removed: bool

    @property
    def key(self) -> tuple[str, str, date]:
        return (self.department_id, self.position_code, self.start_date)


class GrantState(NamedTuple):
    """A grant not ended at the planning moment (it may start later, or have a revocation scheduled)."""

    id: int
    person_id: int
    role: str
    unit_id: str
    purpose: str | None
    kind: str
    valid_from: datetime
    valid_to: datetime | None
    revoke_at: datetime | None
    suspended: bool


class AccountState(NamedTuple):
    person_id: int
    status: str
    admin_hold: bool


class LicenceState(NamedTuple):
    authorisation: str
    status: str
    valid_from: date
    valid_to: date | None

    def valid_on(self, day: date) -> bool:
        return self.status == "valid" and self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class PersonScope:
    """Load only people matching any of these identifiers, plus the given units and HPR numbers."""

    person_ids: Collection[int] = ()
    employee_ids: Collection[str] = ()
    national_ids: Collection[str] = ()
    hpr_numbers: Collection[str] = ()
    unit_ids: Collection[str] = ()


@dataclass
class State:
    units: dict[str, UnitInfo] = field(default_factory=dict)
    persons: dict[int, PersonState] = field(default_factory=dict)
    by_employee: dict[str, int] = field(default_factory=dict)
    by_national: dict[str, int] = field(default_factory=dict)
    by_hpr: dict[str, int] = field(default_factory=dict)
    employments: dict[int, list[EmploymentState]] = field(default_factory=lambda: defaultdict(list))
    accounts: dict[int, AccountState] = field(default_factory=dict)
    grants: dict[int, list[GrantState]] = field(default_factory=lambda: defaultdict(list))
    licences: dict[str, list[LicenceState]] = field(default_factory=lambda: defaultdict(list))
    complete: bool = False


def _person_filter(scope: PersonScope) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if scope.person_ids:
        conditions.append(PersonRow.id.in_(list(scope.person_ids)))
    if scope.employee_ids:
        conditions.append(PersonRow.employee_id.in_(list(scope.employee_ids)))
    if scope.national_ids:
        conditions.append(PersonRow.national_id.in_(list(scope.national_ids)))
    if scope.hpr_numbers:
        conditions.append(PersonRow.hpr_number.in_(list(scope.hpr_numbers)))
    return or_(*conditions) if conditions else false()


def load_state(session: Session, *, at: datetime, scope: PersonScope | None = None) -> State:
    """Everything (``scope=None``) or the people matching ``scope``, with their employments, accounts, grants
    not ended at ``at`` (with their suspension state at ``at``), licences, and the units involved."""
    state = State(complete=scope is None)
    person_query = select(PersonRow.id, PersonRow.national_id, PersonRow.hpr_number, PersonRow.employee_id,
                          PersonRow.given_name, PersonRow.family_name, PersonRow.address)
    if scope is not None:
        person_query = person_query.where(_person_filter(scope))
    for person_row in session.connection().execute(person_query).all():
        person = PersonState._make(person_row)
        state.persons[person.id] = person
        state.by_national[person.national_id] = person.id
        if person.employee_id:
            state.by_employee[person.employee_id] = person.id
        if person.hpr_number:
            state.by_hpr[person.hpr_number] = person.id
    ids = list(state.persons)
    if scope is not None and not ids:
        _load_units(session, state, scope.unit_ids)
        _load_licences(session, state, scope.hpr_numbers)
        return state

    def of_people(column: InstrumentedAttribute[int]) -> list[ColumnElement[bool]]:
        return [] if scope is None else [column.in_(ids)]

    unit_ids: set[str] = set(scope.unit_ids) if scope is not None else set()
    for job_row in session.connection().execute(
        select(EmploymentRow.id, EmploymentRow.person_id, EmploymentRow.position_code,
               EmploymentRow.legal_entity_id, EmploymentRow.point_of_care_id, EmploymentRow.department_id,
               EmploymentRow.start_date, EmploymentRow.end_date, EmploymentRow.removed_at.is_not(None))
        .where(*of_people(EmploymentRow.person_id)).order_by(EmploymentRow.id)
    ).all():
        job = EmploymentState._make(job_row)
        state.employments[job.person_id].append(job)
        unit_ids.add(job.department_id)
    for person_id, status, hold in session.connection().execute(
        select(AccountRow.person_id, AccountRow.status, AccountRow.admin_hold).where(*of_people(AccountRow.person_id))
    ).all():
        state.accounts[person_id] = AccountState(person_id, status, hold)
    for grant_id, person_id, role, unit_id, purpose, kind, valid_from, valid_to, revoke_at, licence in \
            session.connection().execute(
                select(GrantRow.id, GrantRow.person_id, GrantRow.role, GrantRow.unit_id, GrantRow.purpose,
                       GrantRow.kind, GrantRow.valid_from, GrantRow.valid_to, revocation_at(),
                       licence_action_at(at))
                .where(*in_force(at, include_future=True), *of_people(GrantRow.person_id)).order_by(GrantRow.id)
            ).all():
        grant = GrantState(grant_id, person_id, role, unit_id, purpose, kind, valid_from, valid_to, revoke_at,
                           suspended=licence == "suspend")
        state.grants[grant.person_id].append(grant)
        unit_ids.add(grant.unit_id)
    _load_units(session, state, None if scope is None else unit_ids)
    hprs = None if scope is None else {*scope.hpr_numbers, *(p.hpr_number for p in state.persons.values()
                                                            if p.hpr_number)}
    _load_licences(session, state, hprs)
    return state


def _load_units(session: Session, state: State, unit_ids: Collection[str] | None) -> None:
    query = select(OrgUnitRow.unit_id, OrgUnitRow.parent_id, OrgUnitRow.level, OrgUnitRow.unit_kind,
                   OrgUnitRow.legal_entity_id, OrgUnitRow.point_of_care_id, OrgUnitRow.closed_at.is_not(None))
    if unit_ids is not None:
        if not unit_ids:
            return
        # Parents too, so a feed's legal entity and point of care can be checked against the department's.
        query = query.where(or_(OrgUnitRow.unit_id.in_(list(unit_ids)),
                                OrgUnitRow.unit_id.in_(select(OrgUnitRow.parent_id).where(
                                    OrgUnitRow.unit_id.in_(list(unit_ids))))))
    for unit_row in session.connection().execute(query).all():
        state.units[unit_row[0]] = UnitInfo._make(unit_row)


def _load_licences(session: Session, state: State, hpr_numbers: Collection[str] | None) -> None:
    query = select(LicenceRow.hpr_number, LicenceRow.authorisation, LicenceRow.status, LicenceRow.valid_from,
                   LicenceRow.valid_to)
    if hpr_numbers is not None:
        if not hpr_numbers:
            return
        query = query.where(LicenceRow.hpr_number.in_(list(hpr_numbers)))
    for hpr, authorisation, status, valid_from, valid_to in session.connection().execute(query).all():
        state.licences[hpr].append(LicenceState(authorisation, status, valid_from, valid_to))
