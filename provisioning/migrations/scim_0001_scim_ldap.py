"""SCIM resources beside the identity model (users' SCIM attributes, contacts, groups) and LDAP sync marks.

Revision ID: scim_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from iam.db.base import UTCDateTime

revision = "scim_0001"
down_revision = None
branch_labels = ("scim",)
depends_on = "provisioning_0001"


def upgrade() -> None:
    op.create_table(
        "scim_users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(256), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=True),
        sa.Column("display_name", sa.String(300), nullable=True),
        sa.Column("name_formatted", sa.String(300), nullable=True),
        sa.Column("middle_name", sa.String(200), nullable=True),
        sa.Column("manager_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name="fk_scim_users_person_id_persons"),
        sa.UniqueConstraint("person_id", name="uq_scim_users_person_id"),
    )
    op.create_index("uq_scim_users_user_name_lower", "scim_users", [sa.text("lower(user_name)")], unique=True)
    op.create_index("ix_scim_users_external_id", "scim_users", ["external_id"])
    op.create_index("ix_scim_users_updated_at", "scim_users", ["updated_at"])
    op.create_table(
        "scim_contacts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(320), nullable=False),
        sa.Column("type", sa.String(40), nullable=True),
        sa.Column("display", sa.String(320), nullable=True),
        sa.Column("primary", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["scim_users.id"], name="fk_scim_contacts_user_id_scim_users",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_scim_contacts_user_kind", "scim_contacts", ["user_id", "kind"])
    op.create_table(
        "scim_groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("display_name", sa.String(300), nullable=False),
        sa.Column("external_id", sa.String(256), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("uq_scim_groups_display_name_lower", "scim_groups", [sa.text("lower(display_name)")],
                    unique=True)
    op.create_index("ix_scim_groups_external_id", "scim_groups", ["external_id"])
    op.create_index("ix_scim_groups_updated_at", "scim_groups", ["updated_at"])
    op.create_table(
        "scim_group_members",
        sa.Column("group_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id", name="pk_scim_group_members"),
        sa.ForeignKeyConstraint(["group_id"], ["scim_groups.id"], name="fk_scim_group_members_group_id_scim_groups",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["scim_users.id"], name="fk_scim_group_members_user_id_scim_users",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_scim_group_members_user_id", "scim_group_members", ["user_id"])
    op.create_table(
        "ldap_sync_state",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("modify_timestamp", sa.String(32), nullable=True),
        sa.Column("usn", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=False),
        sa.Column("last_full_run_at", UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    for table in ("ldap_sync_state", "scim_group_members", "scim_groups", "scim_contacts", "scim_users"):
        op.drop_table(table)
