"""Tables of the decision engine's own facts (kept in step with migration ``authz_0001``).

* ``care_relationships``: patient <-> department, named practitioner or care team, with a validity window.
  Ending one sets ``ended_at`` (the row stays, for "why could U read P on date D").
* ``care_team_members``: who belongs to a care team (a team id is the clinical system's own).
* ``patient_restrictions`` and ``restriction_consents``: the patient's blocks, restrictions, locks and
  objection to sharing, and the consents that open them; lifting or revoking sets a timestamp.
* ``emergency_declarations``: break-the-glass declarations, time-boxed, each with its review task.
* ``patient_flags``: confidential address and well-known patient, from the population register.
* ``policy_versions``: every published policy (all files of ``policies/``), newest in force on every node.

ORM rows never leave :mod:`iam.authz.store`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from iam.db.base import Base, utc_now

__all__ = [
    "CareRelationshipRow",
    "CareTeamMemberRow",
    "ConsentRow",
    "EmergencyDeclarationRow",
    "PatientFlagsRow",
    "PolicyVersionRow",
    "RestrictionRow",
]


class CareRelationshipRow(Base):
    __tablename__ = "care_relationships"
    __table_args__ = (
        CheckConstraint("kind IN ('admission', 'appointment', 'referral', 'home_care', 'gp_list')", name="kind"),
        CheckConstraint("unit_id IS NOT NULL OR person_id IS NOT NULL OR practitioner_hpr IS NOT NULL "
                        "OR team_id IS NOT NULL", name="target"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="window"),
        Index("ix_care_relationships_patient", "patient"),
        Index("ix_care_relationships_unit_id", "unit_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient: Mapped[str] = mapped_column(String(11))
    kind: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[str | None] = mapped_column(String(9))
    person_id: Mapped[str | None] = mapped_column(String(20))
    practitioner_hpr: Mapped[str | None] = mapped_column(String(9))
    team_id: Mapped[str | None] = mapped_column(String(64))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(200))
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(Text)


class CareTeamMemberRow(Base):
    __tablename__ = "care_team_members"

    team_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(default=utc_now)
    added_by: Mapped[str] = mapped_column(String(200))


class RestrictionRow(Base):
    __tablename__ = "patient_restrictions"
    __table_args__ = (
        CheckConstraint("kind IN ('block_person', 'restrict_unit', 'lock_item', 'object_sharing')", name="kind"),
        Index("ix_patient_restrictions_patient", "patient"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient: Mapped[str] = mapped_column(String(11))
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[str | None] = mapped_column(String(20))
    hpr_number: Mapped[str | None] = mapped_column(String(9))
    unit_id: Mapped[str | None] = mapped_column(String(9))
    item_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(200))
    lifted_at: Mapped[datetime | None]
    lifted_by: Mapped[str | None] = mapped_column(String(200))
    lift_reason: Mapped[str | None] = mapped_column(Text)


class ConsentRow(Base):
    __tablename__ = "restriction_consents"
    __table_args__ = (
        CheckConstraint("person_id IS NOT NULL OR hpr_number IS NOT NULL OR unit_id IS NOT NULL", name="grantee"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="window"),
        Index("ix_restriction_consents_patient", "patient"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    restriction_id: Mapped[str] = mapped_column(String(40), ForeignKey("patient_restrictions.id"))
    patient: Mapped[str] = mapped_column(String(11))
    person_id: Mapped[str | None] = mapped_column(String(20))
    hpr_number: Mapped[str | None] = mapped_column(String(9))
    unit_id: Mapped[str | None] = mapped_column(String(9))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    reference: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(default=utc_now)
    recorded_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None]


class EmergencyDeclarationRow(Base):
    __tablename__ = "emergency_declarations"
    __table_args__ = (
        CheckConstraint("expires_at > declared_at", name="window"),
        Index("ix_emergency_declarations_patient", "patient"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    patient: Mapped[str] = mapped_column(String(11))
    person_id: Mapped[str] = mapped_column(String(20), index=True)
    hpr_number: Mapped[str | None] = mapped_column(String(9))
    purpose: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str] = mapped_column(String(64))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    acting_unit: Mapped[str | None] = mapped_column(String(9))
    declared_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    client_id: Mapped[str] = mapped_column(String(64))
    review_task_id: Mapped[str | None] = mapped_column(String(64))


class PatientFlagsRow(Base):
    __tablename__ = "patient_flags"

    patient: Mapped[str] = mapped_column(String(11), primary_key=True)
    confidential_address: Mapped[bool] = mapped_column(default=False)
    well_known: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class PolicyVersionRow(Base):
    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64))
    files: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(default=utc_now)
    published_by: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
