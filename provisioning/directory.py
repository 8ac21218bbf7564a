"""Read models of persons, employments and accounts for the admin API (never ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from iam.errors import NotFound
from provisioning.models import AccountRow, AccountStatusChangeRow, EmploymentRow, OrgUnitRow, PersonRow

__all__ = [
    "AccountView",
    "EmploymentView",
    "PersonView",
    "StatusChangeView",
    "find_persons",
    "get_account",
    "get_person",
    "list_employments",
]


@dataclass(frozen=True, slots=True)
class PersonView:
    id: int
    national_id: str
    hpr_number: str | None
    employee_id: str | None
    given_name: str
    family_name: str
    address: str
    source: str
    created_at: datetime
    updated_at: datetime
    account_status: str | None


@dataclass(frozen=True, slots=True)
class EmploymentView:
    id: int
    position_code: str
    legal_entity_id: str
    point_of_care_id: str
    department_id: str
    department_name: str
    start_date: date
    end_date: date | None
    source: str
    removed_at: datetime | None
    in_effect: bool


@dataclass(frozen=True, slots=True)
class StatusChangeView:
    status: str
    effective_at: datetime
    source: str
    changed_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class AccountView:
    person_id: int
    status: str
    status_changed_at: datetime
    status_reason: str
    admin_hold: bool
    tokens_valid_after: datetime
    history: tuple[StatusChangeView, ...]


def _person_view(person: PersonRow, status: str | None) -> PersonView:
    return PersonView(person.id, person.national_id, person.hpr_number, person.employee_id, person.given_name,
                      person.family_name, person.address, person.source, person.created_at, person.updated_at,
                      status)


def find_persons(session: Session, *, national_id: str | None = None, hpr_number: str | None = None,
                 employee_id: str | None = None, name: str | None = None, after_id: int = 0,
                 limit: int = 100) -> list[PersonView]:
    """People matching every given filter (``name``: case-insensitive substring of the full name), by id."""
    query = (select(PersonRow, AccountRow.status).outerjoin(AccountRow, AccountRow.person_id == PersonRow.id)
             .where(PersonRow.id > after_id))
    if national_id is not None:
        query = query.where(PersonRow.national_id == national_id)
    if hpr_number is not None:
        query = query.where(PersonRow.hpr_number == hpr_number)
    if employee_id is not None:
        query = query.where(PersonRow.employee_id == employee_id)
    if name:
        full = func.lower(PersonRow.given_name + " " + PersonRow.family_name)
        query = query.where(full.contains(name.lower(), autoescape=True))
    rows = session.execute(query.order_by(PersonRow.id).limit(limit)).all()
    return [_person_view(person, status) for person, status in rows]


def get_person(session: Session, person_id: int) -> PersonView:
    row = session.execute(select(PersonRow, AccountRow.status).outerjoin(
        AccountRow, AccountRow.person_id == PersonRow.id).where(PersonRow.id == person_id)).first()
    if row is None:
        raise NotFound(f"person {person_id} does not exist")
    return _person_view(row[0], row[1])


def list_employments(session: Session, person_id: int, *, today: date) -> list[EmploymentView]:
    """Every employment the sources ever listed for the person (removed ones included), oldest first."""
    get_person(session, person_id)
    rows = session.execute(
        select(EmploymentRow, OrgUnitRow.name).join(OrgUnitRow, OrgUnitRow.unit_id == EmploymentRow.department_id)
        .where(EmploymentRow.person_id == person_id).order_by(EmploymentRow.start_date, EmploymentRow.id)).all()
    return [EmploymentView(
        id=e.id, position_code=e.position_code, legal_entity_id=e.legal_entity_id,
        point_of_care_id=e.point_of_care_id, department_id=e.department_id, department_name=name,
        start_date=e.start_date, end_date=e.end_date, source=e.source, removed_at=e.removed_at,
        in_effect=e.removed_at is None and e.start_date <= today and (e.end_date is None or e.end_date >= today),
    ) for e, name in rows]


def get_account(session: Session, person_id: int) -> AccountView:
    account = session.get(AccountRow, person_id)
    if account is None:
        get_person(session, person_id)
        raise NotFound(f"person {person_id} has no account")
    history = session.execute(select(AccountStatusChangeRow).where(
        AccountStatusChangeRow.person_id == person_id).order_by(AccountStatusChangeRow.id)).scalars()
    return AccountView(
        person_id=person_id, status=account.status, status_changed_at=account.status_changed_at,
        status_reason=account.status_reason, admin_hold=account.admin_hold,
        tokens_valid_after=account.tokens_valid_after,
        history=tuple(StatusChangeView(h.status, h.effective_at, h.source, h.changed_by, h.reason) for h in history),
    )
