"""Identity model: organisation register, persons, employments, accounts, licences, grant register.

The history tables (grants, grant_changes, account_status_changes) are append-only, enforced by triggers
on both databases. A later migration that rebuilds one of them on SQLite (batch mode) must re-create them.

Revision ID: provisioning_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from iam.db.base import UTCDateTime

revision = "provisioning_0001"
down_revision = None
branch_labels = ("provisioning",)
depends_on = "iam_0002"

APPEND_ONLY = ("grants", "grant_changes", "account_status_changes")


def _fk(table: str, column: str, target: str, target_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.{target_column}"], name=f"fk_{table}_{column}_{target}")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "org_units",
        sa.Column("unit_id", sa.String(9), nullable=False),
        sa.Column("parent_id", sa.String(9), nullable=True),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("sector", sa.String(40), nullable=False),
        sa.Column("unit_kind", sa.String(40), nullable=False),
        sa.Column("municipality", sa.String(100), nullable=False),
        sa.Column("legal_entity_id", sa.String(9), nullable=False),
        sa.Column("point_of_care_id", sa.String(9), nullable=True),
        _ts("closed_at", nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("unit_id", name="pk_org_units"),
        _fk("org_units", "parent_id", "org_units", "unit_id"),
        sa.CheckConstraint("level IN ('legal_entity', 'point_of_care', 'department')", name="ck_org_units_level"),
    )
    op.create_index("ix_org_units_parent_id", "org_units", ["parent_id"])
    op.create_index("ix_org_units_legal_entity_id", "org_units", ["legal_entity_id"])

    op.create_table(
        "persons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("national_id", sa.String(11), nullable=False),
        sa.Column("hpr_number", sa.String(9), nullable=True),
        sa.Column("employee_id", sa.String(64), nullable=True),
        sa.Column("given_name", sa.String(200), nullable=False),
        sa.Column("family_name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_persons"),
        sa.UniqueConstraint("national_id", name="uq_persons_national_id"),
        sa.UniqueConstraint("hpr_number", name="uq_persons_hpr_number"),
        sa.UniqueConstraint("employee_id", name="uq_persons_employee_id"),
    )

    op.create_table(
        "employments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("position_code", sa.String(64), nullable=False),
        sa.Column("legal_entity_id", sa.String(9), nullable=False),
        sa.Column("point_of_care_id", sa.String(9), nullable=False),
        sa.Column("department_id", sa.String(9), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        _ts("removed_at", nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_employments"),
        _fk("employments", "person_id", "persons", "id"),
        _fk("employments", "legal_entity_id", "org_units", "unit_id"),
        _fk("employments", "point_of_care_id", "org_units", "unit_id"),
        _fk("employments", "department_id", "org_units", "unit_id"),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="ck_employments_end_after_start"),
    )
    op.create_index("ix_employments_person_id", "employments", ["person_id"])

    op.create_table(
        "accounts",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        _ts("status_changed_at"),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("admin_hold", sa.Boolean(), nullable=False),
        _ts("tokens_valid_after"),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("person_id", name="pk_accounts"),
        _fk("accounts", "person_id", "persons", "id"),
        sa.CheckConstraint("status IN ('pending', 'active', 'suspended', 'disabled')", name="ck_accounts_status"),
    )
    op.create_index("ix_accounts_status", "accounts", ["status"])

    op.create_table(
        "account_status_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        _ts("effective_at"),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_account_status_changes"),
        _fk("account_status_changes", "person_id", "persons", "id"),
        sa.CheckConstraint("status IN ('pending', 'active', 'suspended', 'disabled')",
                           name="ck_account_status_changes_status"),
    )
    op.create_index("ix_account_status_changes_person_at", "account_status_changes", ["person_id", "effective_at"])

    op.create_table(
        "licences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hpr_number", sa.String(9), nullable=False),
        sa.Column("national_id", sa.String(11), nullable=True),
        sa.Column("authorisation", sa.String(8), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        _ts("checked_at"),
        sa.PrimaryKeyConstraint("id", name="pk_licences"),
        sa.UniqueConstraint("hpr_number", "authorisation", name="uq_licences_hpr_number_authorisation"),
        sa.CheckConstraint("status IN ('valid', 'lapsed', 'suspended')", name="ck_licences_status"),
    )

    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("unit_id", sa.String(9), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(12), nullable=False),
        _ts("valid_from"),
        _ts("valid_to", nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_grants"),
        _fk("grants", "person_id", "persons", "id"),
        _fk("grants", "unit_id", "org_units", "unit_id"),
        sa.CheckConstraint("kind IN ('birthright', 'manual')", name="ck_grants_kind"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="ck_grants_window"),
    )
    op.create_index("ix_grants_person_id", "grants", ["person_id"])
    op.create_index("ix_grants_role_unit", "grants", ["role", "unit_id"])

    op.create_table(
        "grant_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(12), nullable=False),
        _ts("effective_at"),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("changed_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_grant_changes"),
        _fk("grant_changes", "grant_id", "grants", "id"),
        _fk("grant_changes", "person_id", "persons", "id"),
        sa.CheckConstraint("action IN ('revoke', 'suspend', 'resume')", name="ck_grant_changes_action"),
    )
    op.create_index("ix_grant_changes_grant_action", "grant_changes", ["grant_id", "action", "effective_at"])
    op.create_index("ix_grant_changes_person_id", "grant_changes", ["person_id"])
    op.create_index("ix_grant_changes_effective_at", "grant_changes", ["effective_at"])

    op.create_table(
        "provisioning_state",
        sa.Column("name", sa.String(40), nullable=False),
        _ts("at"),
        sa.PrimaryKeyConstraint("name", name="pk_provisioning_state"),
    )

    _append_only_triggers()


def _append_only_triggers() -> None:
    """The database itself refuses UPDATE and DELETE on the history tables."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION provisioning_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION provisioning_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    for table in ("provisioning_state", "grant_changes", "grants", "licences", "account_status_changes",
                  "accounts", "employments", "persons", "org_units"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS provisioning_append_only()")
