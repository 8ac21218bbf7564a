"""The SCIM Users service: create, read, replace, patch and delete, each through the provisioning engine.

Every write turns the resulting User into one :class:`~provisioning.feed.PersonRecord` and runs
``build_plan(mode="delta")`` and ``apply_plan`` on it in the request's transaction, exactly as the HR file
feed does for a row, so a person provisioned by SCIM, LDAP or a file ends up identical. The SCIM-only
attributes (``userName``, ``externalId``, contacts, manager) are written in the same transaction.

Rules beyond the RFC, each with its error:

* ``userName`` (case-insensitive), the national id and ``employeeNumber`` are unique among SCIM Users
  (409 ``uniqueness``). A national id of a person provisioned by another source (the HR file, LDAP) is not a
  conflict: the new User *is* that person, and from then on SCIM states their employments too.
* ``active: false`` makes the person a leaver (every employment removed, every role revoked, tokens dead),
  as does DELETE, which also removes the SCIM resource (404 afterwards; the person and the grant history
  stay). A person with no ``employeeNumber`` cannot have the national id corrected (400 ``mutability``):
  the engine matches people by employee id first, then by national id.
* What the engine refuses (an unknown position code, a unit not in the organisation register, a bad check
  digit...) is 400 ``invalidValue`` naming the SCIM attribute; an identifier held by another person is 409.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import uuid4

from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iam.notify import ChangeBus
from provisioning.apply import apply_plan
from provisioning.feed import EmploymentRecord, Origin, PersonRecord, parse_date
from provisioning.models import OrgUnitRow, PersonRow
from provisioning.planner import build_plan
from provisioning.scim.errors import (
    InvalidValue,
    Mutability,
    ResourceNotFound,
    ScimError,
    Uniqueness,
    from_library,
    from_validation,
)
from provisioning.scim.etag import check_if_match, version_of
from provisioning.scim.models import ScimContactRow, ScimGroupMemberRow, ScimUserRow
from provisioning.scim.resources import (
    ENTERPRISE_USER_SCHEMA,
    HEALTH_STAFF_SCHEMA,
    EnterpriseUser,
    HealthStaff,
    ScimUser,
)
from provisioning.scim.user_view import SCIM_SOURCE, load_users

__all__ = ["RequestContext", "create_user", "delete_user", "get_user", "patch_user", "replace_user"]

_FIELDS = {
    "national_id": f"{HEALTH_STAFF_SCHEMA}:nationalIdentityNumber",
    "hpr_number": f"{HEALTH_STAFF_SCHEMA}:hprNumber",
    "employee_id": f"{ENTERPRISE_USER_SCHEMA}:employeeNumber",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "position_code": "positionCode",
    "legal_entity": "legalEntity",
    "point_of_care": "pointOfCare",
    "department": "department",
    "start_date": "startDate",
    "end_date": "endDate",
}


@dataclass(frozen=True)
class RequestContext:
    """Who asks and when: ``base_url`` is the SCIM root (``https://host/scim/v2``), ``actor`` goes into the
    grant register and the admin events."""

    base_url: str
    actor: str
    at: datetime
    bus: ChangeBus | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class _Existing:
    id: str
    person_id: int
    national_id: str
    employee_id: str | None
    address: str


def _document(session: Session, user_id: str, ctx: RequestContext) -> dict[str, Any]:
    found = load_users(session, [user_id], at=ctx.at, base_url=ctx.base_url).get(user_id)
    if found is None:
        raise ResourceNotFound(f"User '{user_id}' does not exist")
    found["meta"]["version"] = version_of(found)
    return found


def _existing(session: Session, user_id: str) -> _Existing:
    row = session.execute(
        select(ScimUserRow.id, ScimUserRow.person_id, PersonRow.national_id, PersonRow.employee_id, PersonRow.address)
        .join(PersonRow, PersonRow.id == ScimUserRow.person_id).where(ScimUserRow.id == user_id)
    ).first()
    if row is None:
        raise ResourceNotFound(f"User '{user_id}' does not exist")
    return _Existing(*row)


def get_user(sessions: sessionmaker[Session], user_id: str, ctx: RequestContext) -> dict[str, Any]:
    """The User with ``meta.version``; :class:`ResourceNotFound` when there is none."""
    with sessions() as session:
        return _document(session, user_id, ctx)


def _validated(body: Any, context: Context) -> Any:
    if not isinstance(body, dict):
        raise InvalidValue("a User must be a JSON object")
    try:
        return ScimUser.model_validate(body, scim_ctx=context)
    except ValidationError as exc:
        raise from_validation(exc, what="User") from None
    except SCIMException as exc:
        raise from_library(exc) from None


def _translated(field: str) -> str:
    prefix, _, last = field.rpartition(".")
    name = _FIELDS.get(last, last)
    return f"{prefix}.{name}" if prefix else name


def _conflict(session: Session, *, column: Any, value: str | None, label: str, own: _Existing | None) -> None:
    if not value:
        return
    other = session.execute(select(ScimUserRow.id).join(PersonRow, PersonRow.id == ScimUserRow.person_id)
                            .where(column == value)).scalar()
    if other is not None and (own is None or other != own.id):
        raise Uniqueness(f"{label} '{value}' already belongs to User '{other}'")


def _employments(session: Session, health: HealthStaff, origin: Origin) -> tuple[EmploymentRecord, ...]:
    jobs = health.employments or []
    departments = {job.department for job in jobs if job.department}
    places = dict(session.execute(
        select(OrgUnitRow.unit_id, OrgUnitRow.parent_id).where(OrgUnitRow.unit_id.in_(departments))).all())
    owners = dict(session.execute(
        select(OrgUnitRow.unit_id, OrgUnitRow.legal_entity_id).where(OrgUnitRow.unit_id.in_(departments))).all())
    records = []
    for index, job in enumerate(jobs):
        start = parse_date(job.start_date or "")
        if start is None:  # Required.true and the date validator make this unreachable from the wire
            raise InvalidValue(f"{HEALTH_STAFF_SCHEMA}:employments[{index}].startDate is required")
        department = job.department or ""
        records.append(EmploymentRecord(
            position_code=job.position_code or "", department=department,
            legal_entity=job.legal_entity or owners.get(department) or "",
            point_of_care=job.point_of_care or places.get(department) or "",
            start_date=start, end_date=parse_date(job.end_date) if job.end_date else None,
            origin=origin, path=f"{HEALTH_STAFF_SCHEMA}:employments[{index}]."))
    return tuple(records)


def _write(session: Session, user: Any, *, own: _Existing | None, ctx: RequestContext, what: str) -> str:
    """Apply ``user`` (a validated ScimUser) to the person and the SCIM rows; return the User's id."""
    health: HealthStaff = user[HealthStaff]
    enterprise: EnterpriseUser | None = user[EnterpriseUser]
    employee_id = enterprise.employee_number if enterprise is not None else None
    national_id = health.national_identity_number or ""
    clash = session.execute(select(ScimUserRow.id).where(
        func.lower(ScimUserRow.user_name) == (user.user_name or "").lower())).scalar()
    if clash is not None and (own is None or clash != own.id):
        raise Uniqueness(f"userName '{user.user_name}' already belongs to User '{clash}'")
    _conflict(session, column=PersonRow.national_id, value=national_id, label="nationalIdentityNumber", own=own)
    _conflict(session, column=PersonRow.employee_id, value=employee_id, label="employeeNumber", own=own)
    if own is not None and national_id != own.national_id and not (employee_id or own.employee_id):
        raise Mutability("nationalIdentityNumber can be corrected only for a User with an employeeNumber")
    manager = enterprise.manager.value if enterprise is not None and enterprise.manager is not None else None
    if manager is not None and (manager == (own.id if own else None) or session.get(ScimUserRow, manager) is None):
        raise InvalidValue(f"manager '{manager}' is not another User")
    origin = Origin(what)
    address = own.address if own is not None else (session.execute(
        select(PersonRow.address).where(PersonRow.national_id == national_id)).scalar() or "")
    record = PersonRecord(
        employee_id=employee_id or (own.employee_id if own else None), national_id=national_id,
        hpr_number=health.hpr_number, given_name=(user.name.given_name if user.name else None) or "",
        family_name=(user.name.family_name if user.name else None) or "", address=address,
        employments=() if user.active is False else _employments(session, health, origin), origin=origin)
    plan = build_plan(session, [record], mode="delta", at=ctx.at)
    if plan.rejected:
        problems = plan.problems
        text = "; ".join(f"{_translated(p.field)}: {p.reason}" for p in problems)
        owned = any("belongs to another person" in p.reason for p in problems)
        raise (Uniqueness if owned else InvalidValue)(text)
    apply_plan(session, plan, actor=ctx.actor, source=SCIM_SOURCE, bus=ctx.bus, request_id=ctx.request_id)
    person_id = own.person_id if own is not None else session.execute(
        select(PersonRow.id).where(PersonRow.national_id == national_id)).scalar_one()
    row = session.get(ScimUserRow, own.id) if own is not None else None
    if row is None:
        row = ScimUserRow(id=str(uuid4()), person_id=person_id, created_at=ctx.at, user_name="")
        session.add(row)
    values = {"user_name": user.user_name, "external_id": user.external_id, "display_name": user.display_name,
              "name_formatted": user.name.formatted if user.name else None,
              "middle_name": user.name.middle_name if user.name else None, "manager_id": manager}
    if any(getattr(row, key) != value for key, value in values.items()) or own is None:
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_at = ctx.at
    _write_contacts(session, row, user, ctx)
    try:
        session.flush()
    except IntegrityError:
        raise Uniqueness(f"userName '{user.user_name}' or the person is already a User") from None
    return row.id


def _write_contacts(session: Session, row: ScimUserRow, user: Any, ctx: RequestContext) -> None:
    wanted = [("email", i, e.value, e.type, e.display, bool(e.primary)) for i, e in enumerate(user.emails or [])]
    wanted += [("phone", i, p.value, p.type, p.display, bool(p.primary))
               for i, p in enumerate(user.phone_numbers or [])]
    wanted = [(kind, i, str(value), str(t) if t is not None else None, display, primary)
              for kind, i, value, t, display, primary in wanted if value]
    stored = [(c.kind, c.position, c.value, c.type, c.display, c.primary) for c in session.scalars(
        select(ScimContactRow).where(ScimContactRow.user_id == row.id)
        .order_by(ScimContactRow.kind, ScimContactRow.position))]
    if sorted(stored) == sorted(wanted):
        return
    session.execute(delete(ScimContactRow).where(ScimContactRow.user_id == row.id))
    session.add_all(ScimContactRow(user_id=row.id, kind=kind, position=i, value=value, type=t, display=display,
                                   primary=primary) for kind, i, value, t, display, primary in wanted)
    row.updated_at = ctx.at


def _commit(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError:
        raise Uniqueness("a concurrent request created the same User") from None


def create_user(sessions: sessionmaker[Session], body: Any, ctx: RequestContext) -> dict[str, Any]:
    """POST /Users: the created User (201)."""
    user = _validated(body, Context.RESOURCE_CREATION_REQUEST)
    with sessions() as session:
        user_id = _write(session, user, own=None, ctx=ctx, what="SCIM POST /Users")
        _commit(session)
        return _document(session, user_id, ctx)


def replace_user(sessions: sessionmaker[Session], user_id: str, body: Any, ctx: RequestContext, *,
                 if_match: str | None) -> dict[str, Any]:
    """PUT /Users/{id}: replace everything writable; 412 when ``if_match`` names another version."""
    user = _validated(body, Context.RESOURCE_REPLACEMENT_REQUEST)
    with sessions() as session:
        own = _existing(session, user_id)
        check_if_match(if_match, _document(session, user_id, ctx)["meta"]["version"], resource=f"User '{user_id}'")
        if user.id is not None and user.id != user_id:
            raise Mutability(f"id '{user.id}' does not match the User '{user_id}' being replaced")
        _write(session, user, own=own, ctx=ctx, what=f"SCIM PUT /Users/{user_id}")
        _commit(session)
        return _document(session, user_id, ctx)


def patch_user(sessions: sessionmaker[Session], user_id: str, body: Any, ctx: RequestContext, *,
               if_match: str | None) -> dict[str, Any]:
    """PATCH /Users/{id}: apply every operation to the current User, then write it, all or nothing."""
    try:
        patch = PatchOp[ScimUser].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    except ValidationError as exc:
        raise from_validation(exc, what="PatchOp") from None
    except SCIMException as exc:
        raise from_library(exc) from None
    with sessions() as session:
        own = _existing(session, user_id)
        current = _document(session, user_id, ctx)
        check_if_match(if_match, current["meta"]["version"], resource=f"User '{user_id}'")
        user = ScimUser.model_validate(current, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        try:
            patch.patch(user)
        except SCIMException as exc:
            raise from_library(exc) from None
        except ValidationError as exc:
            raise from_validation(exc, what="PATCH") from None
        _write(session, user, own=own, ctx=ctx, what=f"SCIM PATCH /Users/{user_id}")
        _commit(session)
        return _document(session, user_id, ctx)


def delete_user(sessions: sessionmaker[Session], user_id: str, ctx: RequestContext, *, if_match: str | None) -> None:
    """DELETE /Users/{id}: the person leaves (through the engine) and the SCIM resource is removed."""
    with sessions() as session:
        own = _existing(session, user_id)
        check_if_match(if_match, _document(session, user_id, ctx)["meta"]["version"], resource=f"User '{user_id}'")
        person = session.get(PersonRow, own.person_id)
        assert person is not None
        record = PersonRecord(employee_id=person.employee_id, national_id=person.national_id,
                              hpr_number=person.hpr_number, given_name=person.given_name,
                              family_name=person.family_name, address=person.address, employments=(),
                              origin=Origin(f"SCIM DELETE /Users/{user_id}"))
        plan = build_plan(session, [record], mode="delta", at=ctx.at)
        if plan.rejected:  # pragma: no cover - the stored person is always a valid record
            raise ScimError("; ".join(str(p) for p in plan.problems))
        apply_plan(session, plan, actor=ctx.actor, source=SCIM_SOURCE, bus=ctx.bus, request_id=ctx.request_id)
        session.execute(update(ScimUserRow).where(ScimUserRow.manager_id == user_id).values(manager_id=None))
        session.execute(delete(ScimGroupMemberRow).where(ScimGroupMemberRow.user_id == user_id))
        session.execute(delete(ScimContactRow).where(ScimContactRow.user_id == user_id))
        session.execute(delete(ScimUserRow).where(ScimUserRow.id == user_id))
        session.commit()
