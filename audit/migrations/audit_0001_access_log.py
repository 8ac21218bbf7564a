"""The access log: hash-chained events, admin inbox, checkpoints, Merkle blocks, retention, reviews, cases.

On PostgreSQL ``audit_events`` is range-partitioned by month on ``recorded_at`` (with a default partition);
its primary key is therefore ``(seq, recorded_at)``, and ``event_id`` uniqueness is kept by the writer,
which appends under a lock (a unique index on a partitioned table must include the partition key).

Revision ID: audit_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from audit.ddl import create_triggers, ensure_partitions
from iam.db.base import UTCDateTime

revision = "audit_0001"
down_revision = None
branch_labels = ("audit",)
depends_on = "iam_0001"


def _seq() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _s(name: str, length: int) -> sa.Column[object]:
    return sa.Column(name, sa.String(length), nullable=True)


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    event_columns: list[sa.schema.SchemaItem] = [
        sa.Column("seq", _seq(), nullable=False, autoincrement=False),
        _ts("recorded_at"),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        _ts("occurred_at"),
        sa.Column("action", sa.String(64), nullable=False),
        _s("outcome", 8), _s("user_id", 128), _s("user_national_id", 128), _s("user_hpr_number", 128),
        _s("user_name", 200), _s("role", 200), _s("legal_entity", 128), _s("point_of_care", 128),
        _s("department", 128), _s("patient", 128), _s("data_item", 200), _s("purpose_of_use", 100),
        _s("decision_id", 128), _s("policy_rule", 200),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("self_granted", sa.Boolean(), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=True),
        _s("client_id", 128), _s("token_jti", 128), _s("source_address", 64), _s("request_id", 128),
        _s("proxy_for", 128),
        sa.Column("changed", sa.Boolean(), nullable=True),
        _s("target_type", 64), _s("target_id", 128),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.CheckConstraint("kind IN ('access', 'admin')", name="ck_audit_events_kind"),
    ]
    if postgres:
        op.create_table("audit_events", *event_columns,
                        sa.PrimaryKeyConstraint("seq", "recorded_at", name="pk_audit_events"),
                        postgresql_partition_by="RANGE (recorded_at)")
        op.execute("CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT")
        ensure_partitions(bind)
    else:
        op.create_table("audit_events", *event_columns, sa.PrimaryKeyConstraint("seq", name="pk_audit_events"))
    op.create_index("ix_audit_events_event_id", "audit_events", ["event_id"], unique=not postgres)
    op.create_index("ix_audit_events_patient_time", "audit_events", ["patient", "occurred_at", "seq"])
    op.create_index("ix_audit_events_user_time", "audit_events", ["user_id", "occurred_at", "seq"])
    op.create_index("ix_audit_events_unit_time", "audit_events", ["department", "occurred_at", "seq"])
    op.create_index("ix_audit_events_proxy_actor", "audit_events", ["user_national_id", "occurred_at", "seq"],
                    sqlite_where=sa.text("proxy_for IS NOT NULL"), postgresql_where=sa.text("proxy_for IS NOT NULL"))
    op.create_index("ix_audit_events_time", "audit_events", ["occurred_at", "seq"])

    op.create_table(
        "audit_admin_inbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("supplied", sa.Boolean(), nullable=False),
        _ts("occurred_at"),
        sa.Column("body", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_admin_inbox"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_tree_size", "audit_checkpoints", ["tree_size"])
    op.create_table(
        "audit_merkle_blocks",
        sa.Column("block", _seq(), nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("block", name="pk_audit_merkle_blocks"),
    )
    op.create_table(
        "audit_retention",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("cut_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("frontier", sa.Text(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        _ts("before"),
        _ts("created_at"),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_retention"),
    )
    op.create_table(
        "audit_reviews",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        _s("event_id", 128), _s("declaration_id", 128), _s("patient", 128), _s("user_id", 128),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("opened_at"),
        _s("verdict", 32),
        sa.Column("note", sa.Text(), nullable=True),
        _s("reviewer", 128),
        _ts("decided_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_reviews"),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_audit_reviews_status"),
    )
    op.create_index("ix_audit_reviews_status_opened", "audit_reviews", ["status", "opened_at"])
    op.create_table(
        "audit_cases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("patient", sa.String(128), nullable=False),
        sa.Column("asked_by", sa.String(128), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("opened_at"),
        sa.Column("answer", sa.Text(), nullable=True),
        _s("answered_by", 128),
        _ts("answered_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_cases"),
        sa.CheckConstraint("status IN ('open', 'answered')", name="ck_audit_cases_status"),
    )
    op.create_index("ix_audit_cases_status_opened", "audit_cases", ["status", "opened_at"])
    op.create_index("ix_audit_cases_patient", "audit_cases", ["patient"])
    create_triggers(bind)


def downgrade() -> None:
    for table in ("audit_cases", "audit_reviews", "audit_retention", "audit_merkle_blocks", "audit_checkpoints",
                  "audit_admin_inbox", "audit_events"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
