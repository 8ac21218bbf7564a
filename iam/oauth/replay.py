"""One-time identifiers shared by every node: a ``jti`` accepted once is refused everywhere after.

Used for client assertions (RFC 7523 §3 item 7) and DPoP proofs (RFC 9449 §11.1). The database's primary
key does the deciding, so two nodes racing with the same identifier cannot both win. Rows are kept until
the identifier could no longer be accepted anyway (its ``exp``, or the proof's age limit), then purged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from iam.db.base import utc_now
from iam.oauth.models import UsedJtiRow

__all__ = ["JtiStore"]

_PURGE_INTERVAL_SECONDS = 60.0


class JtiStore:
    """Records identifiers in ``oauth_used_jtis``; thread-safe."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._last_purge = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _key(kind: str, issuer: str, jti: str) -> str:
        return hashlib.sha256(f"{kind}\0{issuer}\0{jti}".encode()).hexdigest()

    def use_once(self, *, kind: str, issuer: str, jti: str, expires_at: int) -> bool:
        """Record the identifier; False when it was recorded before (a replay). Commits on its own."""
        self._purge_now_and_then()
        row = UsedJtiRow(key=self._key(kind, issuer, jti), expires_at=datetime.fromtimestamp(expires_at, UTC))
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            return False
        return True

    def _purge_now_and_then(self) -> None:
        with self._lock:
            if time.monotonic() - self._last_purge < _PURGE_INTERVAL_SECONDS:
                return
            self._last_purge = time.monotonic()
        with self._sessions.begin() as session:
            session.execute(delete(UsedJtiRow).where(UsedJtiRow.expires_at < utc_now()))
