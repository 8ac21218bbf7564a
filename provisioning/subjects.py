"""The read side of the identity model for the decision engine and the token service.

Pure functions over a SQLAlchemy ``Session``; they never write and never commit. Results are frozen
dataclasses, never ORM objects.

Contracts
---------
* :func:`subject_facts` finds one person by exactly one of ``person_id``, ``national_id`` or ``hpr_number``
  and returns what a decision about them needs at moment ``at``, or None when there is no such person.
  ``roles`` holds the grants in force at ``at`` and is **empty unless the account is active** (pending,
  suspended and disabled accounts may not act), so a consumer can replace a person's roles with it as is.
  A role whose required HPR authorisation was found lapsed or suspended by the last licence check is
  returned with ``licence_ok=False``: it must not permit anything, but lets a denial say why.
* :func:`all_role_assignments` streams ``(person_id, RoleAssignment)`` for every grant in force at ``at``
  of every *active* account, in one query (the decision engine builds its role graph from it at start-up).
* :func:`org_unit_ancestry` maps every unit to its (legal entity, point of care) for scope inheritance.
* Changes to grants, account status and licences are announced on the change bus, channel ``identity``,
  payload ``person:<id>`` (or ``*`` after a bulk change: reload everything); re-read with these functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from provisioning.clock import hr_date
from provisioning.models import AccountRow, GrantRow, LicenceRow, OrgUnitRow, PersonRow
from provisioning.register import in_force, licence_action_at, revocation_at

__all__ = [
    "OrgUnit",
    "PersonIdentity",
    "RoleAssignment",
    "SubjectFacts",
    "all_person_identities",
    "all_role_assignments",
    "org_unit_ancestry",
    "org_units",
    "subject_facts",
    "valid_authorisations",
]


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    """One role a person holds in force, scoped to ``unit_id`` (and, by inheritance, the units below it).

    ``valid_until`` is when the grant ends by itself (its ``valid_to``, or a revocation already scheduled,
    e.g. the end of a mover's grace period), None when open-ended.
    """

    role: str
    unit_id: str
    unit_level: str
    legal_entity_id: str
    point_of_care_id: str | None
    purpose: str | None
    licence_ok: bool
    grant_id: int
    source: str
    valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubjectFacts:
    person_id: int
    national_id: str
    hpr_number: str | None
    display_name: str
    account_status: str
    tokens_valid_after: datetime
    roles: tuple[RoleAssignment, ...]
    authorisations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrgUnit:
    unit_id: str
    parent_id: str | None
    level: str
    name: str
    unit_kind: str
    legal_entity_id: str
    point_of_care_id: str | None


_Columns = tuple[int, str, str, str, str, str | None, str | None, str, int, str, datetime | None, datetime]


def _assignments_query(at: datetime) -> Select[*_Columns]:
    revoked_at = revocation_at().label("revoked_at")
    return (
        select(GrantRow.person_id, GrantRow.role, GrantRow.unit_id, OrgUnitRow.level, OrgUnitRow.legal_entity_id,
               OrgUnitRow.point_of_care_id, GrantRow.purpose, licence_action_at(at).label("licence"),
               GrantRow.id, GrantRow.source, GrantRow.valid_to, revoked_at)
        .join(OrgUnitRow, OrgUnitRow.unit_id == GrantRow.unit_id)
        .where(*in_force(at))
    )


def _assignment(row: Row[*_Columns]) -> RoleAssignment:
    _, role, unit_id, level, legal_entity_id, point_of_care_id, purpose, licence, grant_id, source, \
        valid_to, revoked_at = row
    ends = [t for t in (valid_to, revoked_at) if t is not None]
    return RoleAssignment(
        role=role, unit_id=unit_id, unit_level=level, legal_entity_id=legal_entity_id,
        point_of_care_id=point_of_care_id, purpose=purpose, licence_ok=licence != "suspend",
        grant_id=grant_id, source=source, valid_until=min(ends) if ends else None,
    )


def valid_authorisations(session: Session, hpr_number: str | None, *, at: datetime) -> tuple[str, ...]:
    """The HPR authorisation codes of ``hpr_number`` that are valid on the Oslo date of ``at``, sorted."""
    if not hpr_number:
        return ()
    day = hr_date(at)
    codes = session.execute(
        select(LicenceRow.authorisation).where(
            LicenceRow.hpr_number == hpr_number, LicenceRow.status == "valid", LicenceRow.valid_from <= day,
            (LicenceRow.valid_to.is_(None)) | (LicenceRow.valid_to >= day))
    ).scalars()
    return tuple(sorted(set(codes)))


def subject_facts(session: Session, *, person_id: int | None = None, national_id: str | None = None,
                  hpr_number: str | None = None, at: datetime) -> SubjectFacts | None:
    """What a decision about one person needs at ``at``; see the module docstring.

    Raises ValueError unless exactly one of ``person_id``, ``national_id``, ``hpr_number`` is given.
    """
    given = [(name, value) for name, value in (("person_id", person_id), ("national_id", national_id),
                                                ("hpr_number", hpr_number)) if value is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of person_id, national_id, hpr_number; got {len(given)}")
    column = {"person_id": PersonRow.id, "national_id": PersonRow.national_id,
              "hpr_number": PersonRow.hpr_number}[given[0][0]]
    found = session.execute(
        select(PersonRow, AccountRow).join(AccountRow, AccountRow.person_id == PersonRow.id)
        .where(column == given[0][1])
    ).first()
    if found is None:
        return None
    person, account = found
    roles: tuple[RoleAssignment, ...] = ()
    if account.status == "active":
        rows = session.execute(
            _assignments_query(at).where(GrantRow.person_id == person.id).order_by(GrantRow.id)).all()
        roles = tuple(_assignment(row) for row in rows)
    return SubjectFacts(
        person_id=person.id, national_id=person.national_id, hpr_number=person.hpr_number,
        display_name=f"{person.given_name} {person.family_name}", account_status=account.status,
        tokens_valid_after=account.tokens_valid_after, roles=roles,
        authorisations=valid_authorisations(session, person.hpr_number, at=at),
    )


def all_role_assignments(session: Session, *, at: datetime) -> Iterator[tuple[int, RoleAssignment]]:
    """Every grant in force at ``at`` of every active account, streamed in one query, ordered by person."""
    stmt = (_assignments_query(at).join(AccountRow, AccountRow.person_id == GrantRow.person_id)
            .where(AccountRow.status == "active").order_by(GrantRow.person_id, GrantRow.id))
    for row in session.execute(stmt, execution_options={"yield_per": 5000}):
        yield row[0], _assignment(row)


@dataclass(frozen=True, slots=True)
class PersonIdentity:
    """What the decision engine needs of a person besides the grants: identifiers, name, account status."""

    person_id: int
    national_id: str
    hpr_number: str | None
    display_name: str
    account_status: str | None  # None: no account yet


def all_person_identities(session: Session) -> Iterator[PersonIdentity]:
    """Every person, streamed in id order in one query of plain columns: the bulk subject load of every
    server process. With an ORM ``PersonRow`` per person that load took 28 s at 200,000 staff (19 s so),
    most of it Python holding the GIL against the decisions of the same process."""
    stmt = (select(PersonRow.id, PersonRow.national_id, PersonRow.hpr_number, PersonRow.given_name,
                   PersonRow.family_name, AccountRow.status)
            .outerjoin(AccountRow, AccountRow.person_id == PersonRow.id).order_by(PersonRow.id))
    for person_id, national_id, hpr_number, given, family, status in session.execute(
            stmt, execution_options={"yield_per": 5000}):
        yield PersonIdentity(person_id, national_id, hpr_number, f"{given} {family}", status)


def org_units(session: Session) -> list[OrgUnit]:
    """Every open unit of the organisation register, parents before children."""
    rows = session.execute(
        select(OrgUnitRow.unit_id, OrgUnitRow.parent_id, OrgUnitRow.level, OrgUnitRow.name, OrgUnitRow.unit_kind,
               OrgUnitRow.legal_entity_id, OrgUnitRow.point_of_care_id)
        .where(OrgUnitRow.closed_at.is_(None))
    ).all()
    order = {"legal_entity": 0, "point_of_care": 1, "department": 2}
    units = [OrgUnit(*row) for row in rows]
    return sorted(units, key=lambda u: (order[u.level], u.unit_id))


def org_unit_ancestry(session: Session) -> dict[str, tuple[str, str | None]]:
    """``unit_id -> (legal_entity_id, point_of_care_id)`` for every unit (point of care None for a legal entity)."""
    rows = session.execute(select(OrgUnitRow.unit_id, OrgUnitRow.legal_entity_id, OrgUnitRow.point_of_care_id))
    return {unit_id: (legal_entity_id, point_of_care_id) for unit_id, legal_entity_id, point_of_care_id in rows}
