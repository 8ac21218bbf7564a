"""Authorization server, issue 7: private_key_jwt and exchange policy on clients, used jtis, revocations.

Revision ID: oauth_0001
Revises:
Depends on: iam_0002
"""

import sqlalchemy as sa
from alembic import op

from iam.db.base import UTCDateTime

revision = "oauth_0001"
down_revision = None
branch_labels = ("oauth",)
depends_on = "iam_0002"


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("jwks", sa.Text(), nullable=True))
        batch.add_column(sa.Column("jwks_uri", sa.String(2000), nullable=True))
        batch.add_column(sa.Column("exchange_audiences", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("dpop_bound_access_tokens", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "oauth_used_jtis",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Index("ix_oauth_used_jtis_expires_at", "expires_at"),
    )
    op.create_table(
        "oauth_revoked_tokens",
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
        sa.Index("ix_oauth_revoked_tokens_expires_at", "expires_at"),
    )


def downgrade() -> None:
    op.drop_table("oauth_revoked_tokens")
    op.drop_table("oauth_used_jtis")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("dpop_bound_access_tokens")
        batch.drop_column("exchange_audiences")
        batch.drop_column("jwks_uri")
        batch.drop_column("jwks")
