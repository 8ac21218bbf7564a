"""Revoked tokens (RFC 7009), in the database and in every node's memory.

A revocation is a row in ``oauth_revoked_tokens`` plus a notice on the change bus channel ``revocation``
(payload: the token's ``jti``) in the same transaction. Every node keeps the set of revoked, not yet
expired jtis in memory: loaded at start, extended by notices (PostgreSQL LISTEN/NOTIFY delivers them
within milliseconds), and reloaded whole when the bus reconnects. So checking a token on the hot path is
a dictionary look-up, not a query; introspection asks the database too, to be exact at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from iam.db.base import utc_now
from iam.notify import RESYNC
from iam.oauth.models import RevokedTokenRow
from iam.oauth.rfc9068 import AccessTokenClaims

__all__ = ["REVOCATION_CHANNEL", "RevocationList"]

REVOCATION_CHANNEL = "revocation"
_PURGE_INTERVAL_SECONDS = 300.0

Publish = Callable[[Session, str, str], None]


class RevocationList:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._revoked: dict[str, int] = {}  # jti -> exp (epoch seconds)
        self._lock = threading.Lock()
        self._last_purge = time.monotonic()

    def load(self) -> None:
        """(Re)load every revocation that has not expired yet."""
        with self._sessions() as session:
            rows = session.execute(select(RevokedTokenRow.jti, RevokedTokenRow.expires_at)
                                   .where(RevokedTokenRow.expires_at > utc_now())).all()
        revoked = {jti: int(expires_at.timestamp()) for jti, expires_at in rows}
        with self._lock:
            self._revoked = revoked

    def on_notice(self, payload: str) -> None:
        """Change bus subscriber for channel ``revocation``: the payload is ``<exp>:<jti>`` or resync."""
        if payload == RESYNC:
            self.load()
            return
        exp, _, jti = payload.partition(":")
        if exp.isdigit() and jti:
            with self._lock:
                self._revoked[jti] = int(exp)

    def is_revoked(self, jti: str) -> bool:
        return jti in self._revoked

    def is_revoked_in_database(self, jti: str) -> bool:
        with self._sessions() as session:
            return session.get(RevokedTokenRow, jti) is not None

    def revoke(self, session: Session, claims: AccessTokenClaims, *, publish: Publish) -> None:
        """Record the revocation in the caller's transaction; the notice goes out when it commits.

        Also marks the jti revoked in this node's memory at once: if the caller then rolls back, this node
        refuses a token the others still accept until it expires, which errs on the safe side.
        """
        if session.get(RevokedTokenRow, claims.jti) is None:
            session.add(RevokedTokenRow(jti=claims.jti, client_id=claims.client_id, subject=claims.subject,
                                        expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
                                        revoked_at=utc_now()))
            session.flush()
        publish(session, REVOCATION_CHANNEL, f"{claims.expires_at}:{claims.jti}")
        with self._lock:
            self._revoked[claims.jti] = claims.expires_at
        self._purge_now_and_then(session)

    def _purge_now_and_then(self, session: Session) -> None:
        now = time.monotonic()
        if now - self._last_purge < _PURGE_INTERVAL_SECONDS:
            return
        self._last_purge = now
        epoch = int(time.time())
        with self._lock:
            self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > epoch}
        session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < utc_now()))
