"""The read side of SCIM Users: where each attribute is stored, and building representations in bulk.

A User is assembled from ``scim_users`` (SCIM-only attributes), ``persons``, ``accounts``, the person's
``employments`` (from every HR source: the engine keeps one list per person, and a SCIM write states it
whole), ``licences`` (HPR) and the grant register. A page of users costs a fixed number of queries (one
per table), whatever its size. Functions here read; they never write or commit.

``active`` is true unless the account is disabled: a pending joiner (future start date) is active in SCIM
terms, so that a client echoing ``active: true`` back never turns a joiner into a leaver.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, case, false, func, join, select, true
from sqlalchemy.orm import Session, aliased

from provisioning.clock import hr_date
from provisioning.models import AccountRow, EmploymentRow, GrantRow, LicenceRow, PersonRow
from provisioning.register import in_force
from provisioning.scim.filters import Attribute, AttributeMap, MultiValued
from provisioning.scim.models import ScimContactRow, ScimGroupMemberRow, ScimGroupRow, ScimUserRow
from provisioning.scim.resources import ENTERPRISE_USER_SCHEMA, HEALTH_STAFF_SCHEMA, USER_SCHEMA

__all__ = ["SCIM_SOURCE", "UserRow", "load_users", "user_attribute_map", "user_select"]

#: The source recorded on persons, employments and grants provisioned over SCIM.
SCIM_SOURCE = "scim"

_full_name = PersonRow.given_name + " " + PersonRow.family_name
_display_name = func.coalesce(ScimUserRow.display_name, _full_name)
_formatted = func.coalesce(ScimUserRow.name_formatted, _full_name)
_active = case((AccountRow.status == "disabled", false()), else_=true())
_last_modified = case((ScimUserRow.updated_at > PersonRow.updated_at, ScimUserRow.updated_at),
                      else_=PersonRow.updated_at)


def user_attribute_map(at: datetime) -> AttributeMap:
    """Every filterable and sortable User attribute, for the moment ``at`` (roles in force then)."""
    emails, phones = aliased(ScimContactRow), aliased(ScimContactRow)
    jobs, licence = aliased(EmploymentRow), aliased(LicenceRow)
    today = hr_date(at)

    def contacts(alias: Any, kind: str) -> MultiValued:
        return MultiValued(table=alias, parent=ScimUserRow.id, child=alias.user_id,
                           where=alias.kind == kind, sub_attributes={
                               "value": Attribute(alias.value), "type": Attribute(alias.type),
                               "display": Attribute(alias.display),
                               "primary": Attribute(alias.primary, "boolean")})

    membership = join(ScimGroupMemberRow, ScimGroupRow, ScimGroupMemberRow.group_id == ScimGroupRow.id)
    employments = MultiValued(table=jobs, parent=PersonRow.id, child=jobs.person_id,
                              where=jobs.removed_at.is_(None), sub_attributes={
        "legalentity": Attribute(jobs.legal_entity_id, case_exact=True),
        "pointofcare": Attribute(jobs.point_of_care_id, case_exact=True),
        "department": Attribute(jobs.department_id, case_exact=True),
        "positioncode": Attribute(jobs.position_code, case_exact=True),
        "startdate": Attribute(jobs.start_date, "date"),
        "enddate": Attribute(jobs.end_date, "date"),
    })
    # Enterprise organization/division/department: any *current* employment matches.
    current = and_(jobs.removed_at.is_(None), jobs.start_date <= today,
                   (jobs.end_date.is_(None)) | (jobs.end_date >= today))

    def enterprise(column: Any) -> MultiValued:
        return MultiValued(table=jobs, parent=PersonRow.id, child=jobs.person_id, where=current,
                           sub_attributes={"value": Attribute(column, case_exact=True)})

    return AttributeMap({
        USER_SCHEMA: {
            "id": Attribute(ScimUserRow.id, case_exact=True),
            "externalid": Attribute(ScimUserRow.external_id, case_exact=True),
            "username": Attribute(ScimUserRow.user_name),
            "displayname": Attribute(_display_name),
            "name.formatted": Attribute(_formatted),
            "name.givenname": Attribute(PersonRow.given_name),
            "name.familyname": Attribute(PersonRow.family_name),
            "name.middlename": Attribute(ScimUserRow.middle_name),
            "active": Attribute(_active, "boolean"),
            "emails": contacts(emails, "email"),
            "phonenumbers": contacts(phones, "phone"),
            "groups": MultiValued(table=membership, parent=ScimUserRow.id, child=ScimGroupMemberRow.user_id,
                                  sub_attributes={"value": Attribute(ScimGroupRow.id, case_exact=True),
                                                  "display": Attribute(ScimGroupRow.display_name)}),
            "meta.created": Attribute(ScimUserRow.created_at, "dateTime"),
            "meta.lastmodified": Attribute(_last_modified, "dateTime"),
        },
        ENTERPRISE_USER_SCHEMA: {
            "employeenumber": Attribute(PersonRow.employee_id, case_exact=True),
            "organization": enterprise(jobs.legal_entity_id),
            "division": enterprise(jobs.point_of_care_id),
            "department": enterprise(jobs.department_id),
            "manager.value": Attribute(ScimUserRow.manager_id, case_exact=True),
        },
        HEALTH_STAFF_SCHEMA: {
            "nationalidentitynumber": Attribute(PersonRow.national_id, case_exact=True),
            "hprnumber": Attribute(PersonRow.hpr_number, case_exact=True),
            "employments": employments,
            "authorisations": MultiValued(table=licence, parent=PersonRow.hpr_number, child=licence.hpr_number,
                                          sub_attributes={"value": Attribute(licence.authorisation, case_exact=True),
                                                          "status": Attribute(licence.status)}),
            # Not aliased: register.in_force is written against GrantRow (in the sub-query it is the only one).
            "roles": MultiValued(table=GrantRow.__table__, parent=PersonRow.id, child=GrantRow.person_id,
                                 where=and_(*in_force(at)),
                                 sub_attributes={"value": Attribute(GrantRow.role, case_exact=True),
                                                 "scope": Attribute(GrantRow.unit_id, case_exact=True)}),
        },
    })


def user_select() -> Select[Any]:
    """``SELECT scim_users.id`` joined with persons and accounts, for filters to add WHERE and ORDER BY to."""
    return (select(ScimUserRow.id).join(PersonRow, PersonRow.id == ScimUserRow.person_id)
            .outerjoin(AccountRow, AccountRow.person_id == ScimUserRow.person_id))


@dataclass(frozen=True, slots=True)
class UserRow:
    """What the write side needs of an existing User besides its representation."""

    id: str
    person_id: int
    national_id: str
    employee_id: str | None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _contacts(rows: Sequence[ScimContactRow]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        item: dict[str, Any] = {"value": row.value}
        if row.type is not None:
            item["type"] = row.type
        if row.display is not None:
            item["display"] = row.display
        if row.primary:
            item["primary"] = True
        out.append(item)
    return out


def load_users(session: Session, ids: Sequence[str], *, at: datetime, base_url: str) -> dict[str, dict[str, Any]]:
    """SCIM representations (without ``meta.version``) of the Users ``ids`` that exist, keyed by id."""
    if not ids:
        return {}
    rows = session.execute(
        select(ScimUserRow, PersonRow, AccountRow.status)
        .join(PersonRow, PersonRow.id == ScimUserRow.person_id)
        .outerjoin(AccountRow, AccountRow.person_id == ScimUserRow.person_id)
        .where(ScimUserRow.id.in_(ids))
    ).all()
    person_ids = [person.id for _, person, _ in rows]
    contacts: dict[tuple[str, str], list[ScimContactRow]] = defaultdict(list)
    for contact in session.scalars(select(ScimContactRow).where(ScimContactRow.user_id.in_(ids))
                                   .order_by(ScimContactRow.position)):
        contacts[(contact.user_id, contact.kind)].append(contact)
    jobs: dict[int, list[EmploymentRow]] = defaultdict(list)
    for job in session.scalars(select(EmploymentRow).where(
            EmploymentRow.person_id.in_(person_ids), EmploymentRow.removed_at.is_(None))
            .order_by(EmploymentRow.start_date, EmploymentRow.id)):
        jobs[job.person_id].append(job)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for user_id, group_id, group_name in session.execute(
            select(ScimGroupMemberRow.user_id, ScimGroupRow.id, ScimGroupRow.display_name)
            .join(ScimGroupRow, ScimGroupRow.id == ScimGroupMemberRow.group_id)
            .where(ScimGroupMemberRow.user_id.in_(ids)).order_by(ScimGroupRow.display_name)):
        groups[user_id].append((group_id, group_name))
    hpr_numbers = [person.hpr_number for _, person, _ in rows if person.hpr_number]
    licences: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for hpr, code, status in session.execute(
            select(LicenceRow.hpr_number, LicenceRow.authorisation, LicenceRow.status)
            .where(LicenceRow.hpr_number.in_(hpr_numbers)).order_by(LicenceRow.authorisation)):
        licences[hpr].append((code, status))
    roles: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for person_id, role, unit_id in session.execute(
            select(GrantRow.person_id, GrantRow.role, GrantRow.unit_id).distinct()
            .where(GrantRow.person_id.in_(person_ids), *in_force(at)).order_by(GrantRow.role, GrantRow.unit_id)):
        roles[person_id].append((role, unit_id))
    managers = {row.manager_id for row, _, _ in rows if row.manager_id}
    manager_names = dict(session.execute(
        select(ScimUserRow.id, PersonRow.given_name + " " + PersonRow.family_name)
        .join(PersonRow, PersonRow.id == ScimUserRow.person_id).where(ScimUserRow.id.in_(managers))).all()
    ) if managers else {}
    today = hr_date(at)
    result: dict[str, dict[str, Any]] = {}
    for user, person, status in rows:
        own_jobs = jobs[person.id]
        current = next((j for j in own_jobs if j.start_date <= today and (j.end_date is None or j.end_date >= today)),
                       None)
        full_name = f"{person.given_name} {person.family_name}"
        name: dict[str, Any] = {"formatted": user.name_formatted or full_name, "familyName": person.family_name,
                                "givenName": person.given_name}
        if user.middle_name:
            name["middleName"] = user.middle_name
        enterprise: dict[str, Any] = {}
        if person.employee_id:
            enterprise["employeeNumber"] = person.employee_id
        if current is not None:
            enterprise.update(organization=current.legal_entity_id, division=current.point_of_care_id,
                              department=current.department_id)
        if user.manager_id:
            enterprise["manager"] = {"value": user.manager_id, "$ref": f"{base_url}/Users/{user.manager_id}"}
            if user.manager_id in manager_names:
                enterprise["manager"]["displayName"] = manager_names[user.manager_id]
        health: dict[str, Any] = {"nationalIdentityNumber": person.national_id}
        if person.hpr_number:
            health["hprNumber"] = person.hpr_number
        health["employments"] = [
            {key: value for key, value in (
                ("legalEntity", j.legal_entity_id), ("pointOfCare", j.point_of_care_id),
                ("department", j.department_id), ("positionCode", j.position_code),
                ("startDate", _day(j.start_date)), ("endDate", _day(j.end_date))) if value is not None}
            for j in own_jobs]
        if person.hpr_number and licences[person.hpr_number]:
            health["authorisations"] = [{"value": code, "status": s} for code, s in licences[person.hpr_number]]
        if roles[person.id]:
            health["roles"] = [{"value": role, "scope": unit} for role, unit in roles[person.id]]
        document: dict[str, Any] = {
            "schemas": [USER_SCHEMA, *([ENTERPRISE_USER_SCHEMA] if enterprise else []), HEALTH_STAFF_SCHEMA],
            "id": user.id,
        }
        if user.external_id is not None:
            document["externalId"] = user.external_id
        document.update(userName=user.user_name, name=name, displayName=user.display_name or full_name,
                        active=status != "disabled")
        if contacts[(user.id, "email")]:
            document["emails"] = _contacts(contacts[(user.id, "email")])
        if contacts[(user.id, "phone")]:
            document["phoneNumbers"] = _contacts(contacts[(user.id, "phone")])
        if groups[user.id]:
            document["groups"] = [{"value": gid, "$ref": f"{base_url}/Groups/{gid}", "display": gname,
                                   "type": "direct"} for gid, gname in groups[user.id]]
        if enterprise:
            document[ENTERPRISE_USER_SCHEMA] = enterprise
        document[HEALTH_STAFF_SCHEMA] = health
        modified = max(user.updated_at, person.updated_at)
        document["meta"] = {"resourceType": "User", "created": user.created_at.isoformat(),
                            "lastModified": modified.isoformat(), "location": f"{base_url}/Users/{user.id}"}
        result[user.id] = document
    return result
