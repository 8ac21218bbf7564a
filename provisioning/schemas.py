"""Boundary models of the provisioning admin API (pydantic v2; request bodies reject unknown fields)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from iam.errors import APIError
from provisioning.clock import start_of_day
from provisioning.directory import AccountView, EmploymentView, PersonView
from provisioning.feed import parse_date
from provisioning.register import GrantChange, GrantView

__all__ = [
    "AccountOut",
    "EmploymentOut",
    "GrantChangeOut",
    "GrantCreate",
    "GrantOut",
    "GrantPage",
    "PersonDetail",
    "PersonOut",
    "PersonPage",
    "ReasonIn",
    "parse_as_of",
]


def parse_as_of(value: str | None, *, default: datetime) -> datetime:
    """``as_of`` query value: a date (00:00 Oslo time that day) or a date-time with a zone; else 400."""
    if value is None:
        return default
    day = parse_date(value)
    if day is not None:
        return start_of_day(day)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise APIError(f"as_of '{value[:40]}' is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise APIError(f"as_of '{value[:40]}' has no time zone; add one, e.g. 2026-12-01T08:00:00Z")
    return parsed


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000, description="Why; recorded in the register and audit log.")


class GrantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    person_id: int
    role: str = Field(min_length=1, max_length=64)
    unit_id: str = Field(pattern=r"^[0-9]{9}$", description="Organisation number of the unit the role is scoped to.")
    purpose: str | None = Field(None, description="Purpose-of-use code this grant is limited to, e.g. COC.")
    valid_from: AwareDatetime | None = Field(None, description="Default: now.")
    valid_to: AwareDatetime | None = Field(None, description="Required outside the person's legal entities.")
    reason: str = Field(min_length=1, max_length=2000)


class PersonOut(BaseModel):
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

    @classmethod
    def of(cls, view: PersonView) -> PersonOut:
        return cls(**{name: getattr(view, name) for name in cls.model_fields})


class PersonPage(BaseModel):
    items: list[PersonOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null on the last page.")


class EmploymentOut(BaseModel):
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

    @classmethod
    def of(cls, view: EmploymentView) -> EmploymentOut:
        return cls(**{name: getattr(view, name) for name in cls.model_fields})


class StatusChangeOut(BaseModel):
    status: str
    effective_at: datetime
    source: str
    changed_by: str
    reason: str


class AccountOut(BaseModel):
    person_id: int
    status: str
    status_changed_at: datetime
    status_reason: str
    admin_hold: bool
    tokens_valid_after: datetime
    history: list[StatusChangeOut]

    @classmethod
    def of(cls, view: AccountView) -> AccountOut:
        return cls(person_id=view.person_id, status=view.status, status_changed_at=view.status_changed_at,
                   status_reason=view.status_reason, admin_hold=view.admin_hold,
                   tokens_valid_after=view.tokens_valid_after,
                   history=[StatusChangeOut(status=h.status, effective_at=h.effective_at, source=h.source,
                                            changed_by=h.changed_by, reason=h.reason) for h in view.history])


class GrantChangeOut(BaseModel):
    id: int
    action: str
    effective_at: datetime
    source: str
    changed_by: str
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, change: GrantChange) -> GrantChangeOut:
        return cls(id=change.id, action=change.action, effective_at=change.effective_at, source=change.source,
                   changed_by=change.changed_by, reason=change.reason, created_at=change.created_at)


class GrantOut(BaseModel):
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
    revoked_at: datetime | None = Field(description="When the revocation takes (or took) effect.")
    in_force: bool = Field(description="In force at the moment asked about (as_of).")
    suspended: bool = Field(description="Suspended at as_of (an HPR authorisation was not valid).")
    account_status: str | None = Field(description="The person's account status at as_of.")
    changes: list[GrantChangeOut] | None = None

    @classmethod
    def of(cls, view: GrantView, *, at: datetime, changes: list[GrantChange] | None = None) -> GrantOut:
        in_force = (view.valid_from <= at and (view.valid_to is None or view.valid_to > at)
                    and (view.revoked_at is None or view.revoked_at > at))
        return cls(
            id=view.id, person_id=view.person_id, person_name=view.person_name, role=view.role,
            unit_id=view.unit_id, unit_name=view.unit_name, unit_level=view.unit_level,
            legal_entity_id=view.legal_entity_id, point_of_care_id=view.point_of_care_id, purpose=view.purpose,
            kind=view.kind, valid_from=view.valid_from, valid_to=view.valid_to, source=view.source,
            granted_by=view.granted_by, reason=view.reason, created_at=view.created_at,
            revoked_at=view.revoked_at, in_force=in_force, suspended=view.suspended,
            account_status=view.account_status,
            changes=None if changes is None else [GrantChangeOut.of(c) for c in changes])


class GrantPage(BaseModel):
    as_of: datetime
    items: list[GrantOut]
    next_after: int | None


class PersonDetail(PersonOut):
    account: AccountOut | None
    employments: list[EmploymentOut]
    roles: list[GrantOut] = Field(description="Grants in force now.")
