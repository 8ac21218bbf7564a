"""ORM rows of the authorization server. Never leave iam.oauth: stores turn them into dataclasses.

Tables: registered clients, signing keys, used one-time identifiers (``jti`` of client assertions and DPoP
proofs, shared by every node so a replay on another node is caught), and revoked tokens.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from iam.db.base import Base, utc_now

__all__ = ["ClientRow", "RevokedTokenRow", "SigningKeyRow", "UsedJtiRow"]


class ClientRow(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # "sha256$<salt>$<digest>" of a 256-bit random secret; see iam.oauth.client_secrets for why not a
    # slow hash. None for clients that authenticate with private_key_jwt only.
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(Text)
    grant_types: Mapped[str] = mapped_column(Text)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    disabled_at: Mapped[datetime | None]
    # RFC 7591 §2 metadata for private_key_jwt: the client's public keys inline, or where to fetch them.
    jwks: Mapped[str | None] = mapped_column(Text)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    # Token exchange policy as data: the audiences this client may obtain exchanged tokens for,
    # space-separated. Empty: none.
    exchange_audiences: Mapped[str] = mapped_column(Text, default="", server_default="")
    # RFC 9449 §5.2: every token for this client must be DPoP-bound.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SigningKeyRow(Base):
    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[str] = mapped_column(Text)
    # AES-256-GCM of the PKCS#8 PEM under a key derived from the settings' secret key; the kid is bound
    # in as associated data so a ciphertext cannot be moved to another row.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    # Published in JWKS from created_at, used for signing from active_from, unpublished after retire_at.
    active_from: Mapped[datetime]
    retire_at: Mapped[datetime | None]


class UsedJtiRow(Base):
    """A one-time identifier seen once; the primary key makes a second insert fail on every node."""

    __tablename__ = "oauth_used_jtis"

    # SHA-256 (hex) of "<kind>\\0<issuer>\\0<jti>": fixed length whatever the caller's jti looks like.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class RevokedTokenRow(Base):
    """RFC 7009 revocations; kept until the token would have expired anyway."""

    __tablename__ = "oauth_revoked_tokens"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utc_now)
