"""Decision engine facts: care relationships, care teams, patient restrictions and consents, emergency
declarations, patient flags, published policy versions.

No foreign keys to the identity tables: units and persons are checked by the service against the
organisation register and grant register, which live on another migration branch.

Revision ID: authz_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from iam.db.base import UTCDateTime

revision = "authz_0001"
down_revision = None
branch_labels = ("authz",)
depends_on = "iam_0002"


def upgrade() -> None:
    op.create_table(
        "care_relationships",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(9), nullable=True),
        sa.Column("person_id", sa.String(20), nullable=True),
        sa.Column("practitioner_hpr", sa.String(9), nullable=True),
        sa.Column("team_id", sa.String(64), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('admission', 'appointment', 'referral', 'home_care', 'gp_list')",
                           name="ck_care_relationships_kind"),
        sa.CheckConstraint("unit_id IS NOT NULL OR person_id IS NOT NULL OR practitioner_hpr IS NOT NULL "
                           "OR team_id IS NOT NULL", name="ck_care_relationships_target"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_care_relationships_window"),
    )
    op.create_index("ix_care_relationships_patient", "care_relationships", ["patient"])
    op.create_index("ix_care_relationships_unit_id", "care_relationships", ["unit_id"])

    op.create_table(
        "care_team_members",
        sa.Column("team_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(20), primary_key=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_care_team_members_person_id", "care_team_members", ["person_id"])

    op.create_table(
        "patient_restrictions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("person_id", sa.String(20), nullable=True),
        sa.Column("hpr_number", sa.String(9), nullable=True),
        sa.Column("unit_id", sa.String(9), nullable=True),
        sa.Column("item_id", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("lifted_at", UTCDateTime(), nullable=True),
        sa.Column("lifted_by", sa.String(200), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('block_person', 'restrict_unit', 'lock_item', 'object_sharing')",
                           name="ck_patient_restrictions_kind"),
    )
    op.create_index("ix_patient_restrictions_patient", "patient_restrictions", ["patient"])

    op.create_table(
        "restriction_consents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("restriction_id", sa.String(40), sa.ForeignKey("patient_restrictions.id",
                  name="fk_restriction_consents_restriction_id_patient_restrictions"), nullable=False),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("person_id", sa.String(20), nullable=True),
        sa.Column("hpr_number", sa.String(9), nullable=True),
        sa.Column("unit_id", sa.String(9), nullable=True),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=True),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("person_id IS NOT NULL OR hpr_number IS NOT NULL OR unit_id IS NOT NULL",
                           name="ck_restriction_consents_grantee"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_restriction_consents_window"),
    )
    op.create_index("ix_restriction_consents_patient", "restriction_consents", ["patient"])

    op.create_table(
        "emergency_declarations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("patient", sa.String(11), nullable=False),
        sa.Column("person_id", sa.String(20), nullable=False),
        sa.Column("hpr_number", sa.String(9), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("acting_unit", sa.String(9), nullable=True),
        sa.Column("declared_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("review_task_id", sa.String(64), nullable=True),
        sa.CheckConstraint("expires_at > declared_at", name="ck_emergency_declarations_window"),
    )
    op.create_index("ix_emergency_declarations_patient", "emergency_declarations", ["patient"])
    op.create_index("ix_emergency_declarations_person_id", "emergency_declarations", ["person_id"])

    op.create_table(
        "patient_flags",
        sa.Column("patient", sa.String(11), primary_key=True),
        sa.Column("confidential_address", sa.Boolean(), nullable=False),
        sa.Column("well_known", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )

    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("published_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in ("policy_versions", "patient_flags", "emergency_declarations", "restriction_consents",
                  "patient_restrictions", "care_team_members", "care_relationships"):
        op.drop_table(table)
