"""Change notices polled by SQLite nodes (PostgreSQL uses LISTEN/NOTIFY instead).

Revision ID: iam_0002
Revises: iam_0001
"""

import sqlalchemy as sa
from alembic import op

from iam.db.base import UTCDateTime

revision = "iam_0002"
down_revision = "iam_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_notices",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Index("ix_change_notices_created_at", "created_at"),
    )
