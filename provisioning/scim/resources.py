"""The SCIM resources we serve (RFC 7643 §4, §4.3 and our health-staff extension), as scim2-models classes.

These classes *are* the truth the discovery endpoints publish: ``/Schemas`` is generated from them, and
an attribute not declared here is refused in requests (``invalidSyntax``), in filters (``invalidFilter``)
and in PATCH paths (``invalidPath``). So the core User schema we publish is the subset we actually keep:

* core User: ``userName``, ``externalId``, ``name`` (formatted, familyName, givenName, middleName),
  ``displayName``, ``active``, ``emails``, ``phoneNumbers``, ``groups`` (read-only).
  Not supported, and so not published: password, photos, ims, x509Certificates, entitlements, roles,
  nickName, profileUrl, title, userType, locale, timezone, preferredLanguage, addresses.
* Enterprise User (RFC 7643 §4.3): ``employeeNumber`` (the HR feed's ``employee_id``) and ``manager``
  are writable; ``organization``, ``division`` and ``department`` are read-only because we derive them
  from the person's first current employment (legal entity, point of care, department).
* Health staff, ``urn:ietf:params:scim:schemas:extension:nhn:2.0:HealthStaff`` (ours, documented in
  ``provisioning/scim/README.md``): national id, HPR number, employments (writable), HPR authorisations
  and granted roles (read-only, from the HPR register and the grant register).

Dates inside employments are ``YYYY-MM-DD`` strings: SCIM has no date type, and an employment starts on
a day, not at an instant.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from scim2_models import (
    URN,
    AnyExtension,
    CaseExact,
    ComplexAttribute,
    Email,
    Extension,
    Mutability,
    PhoneNumber,
    Reference,
    Required,
    Resource,
    Uniqueness,
)

__all__ = [
    "ENTERPRISE_USER_SCHEMA",
    "GROUP_SCHEMA",
    "HEALTH_STAFF_SCHEMA",
    "USER_SCHEMA",
    "Authorisation",
    "Employment",
    "EnterpriseUser",
    "Group",
    "GroupMember",
    "GroupRef",
    "HealthStaff",
    "Manager",
    "Name",
    "RoleGrant",
    "ScimUser",
    "User",
]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
HEALTH_STAFF_SCHEMA = "urn:ietf:params:scim:schemas:extension:nhn:2.0:HealthStaff"


def _iso_day(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise ValueError(f"'{value}' is not a date in the form YYYY-MM-DD") from None


class Name(ComplexAttribute):
    formatted: str | None = None
    """The full name, formatted for display."""

    family_name: str | None = None
    """The family name ("etternavn")."""

    given_name: str | None = None
    """The given name(s) ("fornavn")."""

    middle_name: str | None = None
    """The middle name(s) ("mellomnavn")."""


class GroupRef(ComplexAttribute):
    value: Annotated[str | None, Mutability.read_only, CaseExact.true] = None
    """The id of a Group the User belongs to."""

    ref: Annotated[Reference["Group"] | None, Mutability.read_only] = Field(  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref")
    """The URI of that Group."""

    display: Annotated[str | None, Mutability.read_only] = None
    """The Group's displayName."""

    type: Annotated[str | None, Mutability.read_only] = None
    """Always 'direct': groups do not nest here."""


class User(Resource[AnyExtension]):
    """A member of staff. Created, replaced, patched and deleted through the HR provisioning engine."""

    __schema__ = URN(USER_SCHEMA)

    user_name: Annotated[str | None, Uniqueness.server, Required.true] = None
    """Unique login name of the User; compared case-insensitively."""

    name: Name | None = None
    """The components of the user's real name."""

    Name: ClassVar[type[ComplexAttribute]] = Name

    display_name: str | None = None
    """The name of the User, suitable for display."""

    active: bool | None = None
    """Whether the account is active. Setting false makes the person a leaver (all employments end today)."""

    emails: list[Email] | None = None
    """Email addresses for the User."""

    phone_numbers: list[PhoneNumber] | None = None
    """Phone numbers for the User."""

    groups: Annotated[list[GroupRef] | None, Mutability.read_only] = None
    """The Groups the User is a direct member of; change them through the Group resource."""


class Manager(ComplexAttribute):
    value: Annotated[str | None, Required.true, CaseExact.true] = None
    """The id of the SCIM User who is this User's manager."""

    ref: Annotated[Reference["User"] | None, Mutability.read_only] = Field(  # type: ignore[type-arg]  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref")
    """The URI of the manager's User resource."""

    display_name: Annotated[str | None, Mutability.read_only] = None
    """The manager's displayName."""


class EnterpriseUser(Extension):
    """Enterprise User extension (RFC 7643 §4.3), limited to what an HR feed here carries."""

    __schema__ = URN(ENTERPRISE_USER_SCHEMA)

    employee_number: Annotated[str | None, Uniqueness.server, CaseExact.true] = None
    """The HR system's employee id (the HR feed's employee_id)."""

    organization: Annotated[str | None, Mutability.read_only] = None
    """Organisation number of the legal entity of the first current employment."""

    division: Annotated[str | None, Mutability.read_only] = None
    """The point of care of the first current employment."""

    department: Annotated[str | None, Mutability.read_only] = None
    """The department of the first current employment."""

    manager: Manager | None = None
    """The User's manager."""


class Employment(ComplexAttribute):
    legal_entity: Annotated[str | None, CaseExact.true] = None
    """Organisation number (9 digits) of the legal entity; taken from the organisation register if absent."""

    point_of_care: Annotated[str | None, CaseExact.true] = None
    """Organisation number of the point of care ("behandlingssted"); from the register if absent."""

    department: Annotated[str | None, Required.true, CaseExact.true] = None
    """Code of the department/unit in the organisation register."""

    position_code: Annotated[str | None, Required.true, CaseExact.true] = None
    """Position code of the HR feed (physician, nurse, ...), which the role rules map to roles."""

    start_date: Annotated[str | None, Required.true] = None
    """First day of the employment, YYYY-MM-DD."""

    end_date: str | None = None
    """Last day of the employment, YYYY-MM-DD; absent while it is open-ended."""

    _days = field_validator("start_date", "end_date")(classmethod(lambda cls, v: _iso_day(v)))


class Authorisation(ComplexAttribute):
    value: Annotated[str | None, Mutability.read_only, CaseExact.true] = None
    """Authorisation code from code list 9060 (LE physician, SP nurse, ...)."""

    status: Annotated[str | None, Mutability.read_only] = None
    """As the HPR register reports it: valid, lapsed or suspended."""


class RoleGrant(ComplexAttribute):
    value: Annotated[str | None, Mutability.read_only, CaseExact.true] = None
    """The role (physician, nurse, ...)."""

    scope: Annotated[str | None, Mutability.read_only, CaseExact.true] = None
    """The organisation unit the role is scoped to."""


class HealthStaff(Extension):
    """Health personnel: identity numbers, employments, HPR authorisations and the roles they give."""

    __schema__ = URN(HEALTH_STAFF_SCHEMA)

    national_identity_number: Annotated[str | None, Uniqueness.server, CaseExact.true, Required.true] = None
    """Norwegian national id (fødselsnummer or D-number), 11 digits with valid control digits."""

    hpr_number: Annotated[str | None, CaseExact.true] = None
    """Number in the health personnel register (HPR)."""

    employments: list[Employment] | None = None
    """The person's employments (current, future, ended); a write states the complete list."""

    authorisations: Annotated[list[Authorisation] | None, Mutability.read_only] = None
    """Authorisations the HPR register holds for hprNumber."""

    roles: Annotated[list[RoleGrant] | None, Mutability.read_only] = None
    """Roles currently granted (birthright roles from the role rules, and manual grants)."""


class GroupMember(ComplexAttribute):
    value: Annotated[str | None, Mutability.immutable, CaseExact.true, Required.true] = None
    """The id of a member User."""

    ref: Annotated[Reference["User"] | None, Mutability.immutable] = Field(  # type: ignore[type-arg]  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref")
    """The URI of the member; the service sets it (a value sent is not stored)."""

    type: Annotated[str | None, Mutability.immutable] = None
    """Always 'User': groups hold users, not other groups."""

    display: Annotated[str | None, Mutability.immutable] = None
    """The member's displayName; the service sets it (a value sent is not stored)."""


class Group(Resource[Any]):
    """A group of Users. Groups are kept and reported; they grant no roles (roles come from HR data)."""

    __schema__ = URN(GROUP_SCHEMA)

    display_name: Annotated[str | None, Required.true, Uniqueness.server] = None
    """A human-readable name for the Group, unique here."""

    members: list[GroupMember] | None = None
    """The Users in the Group."""

    Members: ClassVar[type[ComplexAttribute]] = GroupMember


#: The User resource as served: core schema plus both extensions.
ScimUser = User[EnterpriseUser | Annotated[HealthStaff, Required.true]]
