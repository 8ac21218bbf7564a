"""Tables of the identity model: organisation register, persons, employments, accounts, licences, and
the append-only grant register.

Which tables are state and which are history
--------------------------------------------
* ``org_units``, ``persons``, ``employments``, ``accounts`` and ``licences`` hold the *current* truth as the
  sources (organisation register, HR feeds, HPR) last reported it. They are updated in place.
* ``grants``, ``grant_changes`` and ``account_status_changes`` are history: rows are only ever inserted
  (both databases reject UPDATE and DELETE with a trigger, see migration ``provisioning_0001``). A grant
  ends or pauses through a new ``grant_changes`` row (``revoke``, ``suspend``, ``resume``) with the moment
  it takes effect, which may lie in the future (a mover's grace period). "Who held which role where at
  time T" is therefore one query over these tables (:mod:`provisioning.register`).

These ORM classes never leave the provisioning package: other areas read through
:mod:`provisioning.subjects`, which returns frozen dataclasses.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from iam.db.base import Base, utc_now

__all__ = [
    "ACCOUNT_STATUSES",
    "GRANT_ACTIONS",
    "GRANT_KINDS",
    "LICENCE_STATUSES",
    "UNIT_LEVELS",
    "AccountRow",
    "AccountStatusChangeRow",
    "EmploymentRow",
    "GrantChangeRow",
    "GrantRow",
    "LicenceRow",
    "OrgUnitRow",
    "PersonRow",
    "ProvisioningStateRow",
]

UNIT_LEVELS = ("legal_entity", "point_of_care", "department")
ACCOUNT_STATUSES = ("pending", "active", "suspended", "disabled")
LICENCE_STATUSES = ("valid", "lapsed", "suspended")
GRANT_KINDS = ("birthright", "manual")
GRANT_ACTIONS = ("revoke", "suspend", "resume")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OrgUnitRow(Base):
    """One unit of the organisation register; ``unit_id`` is its organisation number.

    ``legal_entity_id`` and ``point_of_care_id`` are denormalised from the parent chain so a scope check
    needs no recursive query: a legal entity has itself and NULL, a point of care has its parent and
    itself, a department has its grandparent and parent.
    """

    __tablename__ = "org_units"
    __table_args__ = (CheckConstraint(_in("level", UNIT_LEVELS), name="level"),)

    unit_id: Mapped[str] = mapped_column(String(9), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(String(9), ForeignKey("org_units.unit_id"), index=True)
    level: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    sector: Mapped[str] = mapped_column(String(40))
    unit_kind: Mapped[str] = mapped_column(String(40))
    municipality: Mapped[str] = mapped_column(String(100))
    legal_entity_id: Mapped[str] = mapped_column(String(9), index=True)
    point_of_care_id: Mapped[str | None] = mapped_column(String(9))
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class PersonRow(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    national_id: Mapped[str] = mapped_column(String(11), unique=True)
    hpr_number: Mapped[str | None] = mapped_column(String(9), unique=True)
    employee_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class EmploymentRow(Base):
    """An employment as the HR source last listed it. ``removed_at`` is set when the source stops listing
    it (a snapshot without the person, or a delta record without this employment); such a row is kept
    for history but is never in effect."""

    __tablename__ = "employments"
    __table_args__ = (CheckConstraint("end_date IS NULL OR end_date >= start_date", name="end_after_start"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    position_code: Mapped[str] = mapped_column(String(64))
    legal_entity_id: Mapped[str] = mapped_column(String(9), ForeignKey("org_units.unit_id"))
    point_of_care_id: Mapped[str] = mapped_column(String(9), ForeignKey("org_units.unit_id"))
    department_id: Mapped[str] = mapped_column(String(9), ForeignKey("org_units.unit_id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(64))
    removed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class AccountRow(Base):
    """One account per person. Tokens issued before ``tokens_valid_after`` are dead (the token service
    checks it); it moves to *now* whenever the account stops being active. ``admin_hold`` marks a status
    an administrator set: HR changes never re-activate such an account."""

    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status"),)

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    status_changed_at: Mapped[datetime]
    status_reason: Mapped[str] = mapped_column(Text, default="")
    admin_hold: Mapped[bool] = mapped_column(default=False)
    tokens_valid_after: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class AccountStatusChangeRow(Base):
    """History of account statuses (append-only), so "could P act at time T" has an answer."""

    __tablename__ = "account_status_changes"
    __table_args__ = (
        CheckConstraint(_in("status", ACCOUNT_STATUSES), name="status"),
        Index("ix_account_status_changes_person_at", "person_id", "effective_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    status: Mapped[str] = mapped_column(String(12))
    effective_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    changed_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class LicenceRow(Base):
    """An HPR authorisation as the register last reported it (a cache of the register, updated in place)."""

    __tablename__ = "licences"
    __table_args__ = (
        UniqueConstraint("hpr_number", "authorisation", name="uq_licences_hpr_number_authorisation"),
        CheckConstraint(_in("status", LICENCE_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hpr_number: Mapped[str] = mapped_column(String(9))
    national_id: Mapped[str | None] = mapped_column(String(11))
    authorisation: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(64))
    checked_at: Mapped[datetime]


class GrantRow(Base):
    """One role assignment (append-only). ``valid_from``/``valid_to`` are the window it was granted for;
    revocation and licence suspension are :class:`GrantChangeRow` rows."""

    __tablename__ = "grants"
    __table_args__ = (
        CheckConstraint(_in("kind", GRANT_KINDS), name="kind"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="window"),
        Index("ix_grants_role_unit", "role", "unit_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    unit_id: Mapped[str] = mapped_column(String(9), ForeignKey("org_units.unit_id"))
    purpose: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(12))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(64))
    granted_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class GrantChangeRow(Base):
    """A revocation, suspension or resumption of a grant (append-only), effective at ``effective_at``."""

    __tablename__ = "grant_changes"
    __table_args__ = (
        CheckConstraint(_in("action", GRANT_ACTIONS), name="action"),
        Index("ix_grant_changes_grant_action", "grant_id", "action", "effective_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("grants.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    action: Mapped[str] = mapped_column(String(12))
    effective_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(64))
    changed_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ProvisioningStateRow(Base):
    """Small named markers, e.g. when the date-driven tick last ran (``tick``)."""

    __tablename__ = "provisioning_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[datetime]
