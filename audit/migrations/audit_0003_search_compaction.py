"""Compaction of the search index: how many groups of buckets moved into archives (see audit/compaction.py).

``group_buckets`` is how many buckets form a group; it is fixed for the life of a log (queries and
compaction both derive the archives from it).

Revision ID: audit_0003
Revises: audit_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "audit_0003"
down_revision = "audit_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_search_state") as batch:
        batch.add_column(sa.Column("compacted_groups", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("group_buckets", sa.Integer(), nullable=False, server_default="32"))


def downgrade() -> None:
    # Archived keys go back to the buckets their events belong to, where the old queries look for them.
    op.execute("UPDATE audit_search SET bucket = seq / 32768 WHERE bucket < 0")
    with op.batch_alter_table("audit_search_state") as batch:
        batch.drop_column("group_buckets")
        batch.drop_column("compacted_groups")
