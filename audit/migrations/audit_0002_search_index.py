"""The search index moves off the append path: ``audit_search`` (filled by the indexer) replaces the patient,
user, unit and proxy-actor indexes of ``audit_events``.

Each of those indexes took a key at a random place per appended event, so a 500-event commit dirtied about
1,500 index pages (on SQLite a 4 KB WAL frame each, written and synced before the callers were answered).
``audit_search`` is filled behind the appender in large batches (see ``audit/indexer.py``); queries add
the events after ``audit_search_state.indexed_seq`` by scanning that short tail. Existing events are
indexed here, so queries are complete the moment the upgrade finishes.

Revision ID: audit_0002
Revises: audit_0001
"""

import sqlalchemy as sa
from alembic import op

from audit.indexer import index_sql
from iam.db.base import UTCDateTime

revision = "audit_0002"
down_revision = "audit_0001"
branch_labels = None
depends_on = None

_DROPPED = ("ix_audit_events_patient_time", "ix_audit_events_user_time", "ix_audit_events_unit_time",
            "ix_audit_events_proxy_actor")


def _seq() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "audit_search",
        sa.Column("bucket", _seq(), nullable=False, autoincrement=False),
        sa.Column("dim", sa.String(1), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("seq", _seq(), nullable=False, autoincrement=False),
        sa.PrimaryKeyConstraint("bucket", "dim", "value", "occurred_at", "seq", name="pk_audit_search"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_search_state",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("indexed_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_search_state"),
    )
    newest = bind.execute(sa.text("SELECT coalesce(max(seq), 0) FROM audit_events")).scalar_one()
    oldest = bind.execute(sa.text("SELECT coalesce(min(seq), 1) FROM audit_events")).scalar_one()
    bind.exec_driver_sql(index_sql(bind.dialect.name == "postgresql"), {"lo": oldest - 1, "hi": newest})
    bind.execute(sa.text("INSERT INTO audit_search_state (id, indexed_seq) VALUES (1, :seq)"), {"seq": newest})
    for name in _DROPPED:
        op.drop_index(name, table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_patient_time", "audit_events", ["patient", "occurred_at", "seq"])
    op.create_index("ix_audit_events_user_time", "audit_events", ["user_id", "occurred_at", "seq"])
    op.create_index("ix_audit_events_unit_time", "audit_events", ["department", "occurred_at", "seq"])
    op.create_index("ix_audit_events_proxy_actor", "audit_events", ["user_national_id", "occurred_at", "seq"],
                    sqlite_where=sa.text("proxy_for IS NOT NULL"), postgresql_where=sa.text("proxy_for IS NOT NULL"))
    op.drop_table("audit_search_state")
    op.drop_table("audit_search")
