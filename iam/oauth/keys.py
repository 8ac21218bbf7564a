"""Signing keys: kept in the database, private halves encrypted at rest, cached in memory as a key ring.

A key is *published* (in JWKS) from its creation and *used for signing* from ``active_from``, so that
resource servers can fetch it before the first token it signs arrives (RFC 7517 key rollover practice).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from iam.config import ConfigError
from iam.db.base import utc_now
from iam.oauth.models import SigningKeyRow

__all__ = ["KeyRing", "SigningKey", "SigningKeyInfo"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

# An unknown kid makes the ring re-read the database, but at most this often, so a flood of tokens with
# made-up kids cannot turn into a flood of queries.
_REFRESH_INTERVAL_SECONDS = 5.0
# No token of ours lives longer (iam.oauth.tokens.MAX_TOKEN_LIFETIME); a retired key stays published this
# long after it stopped signing, plus a margin for clocks and for nodes that learn of a rotation late.
_MAX_TOKEN_LIFETIME = 3600
_RETIRE_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey
    public_key: PublicKey
    public_jwk: dict[str, Any]
    active_from: datetime
    retire_at: datetime | None


@dataclass(frozen=True)
class SigningKeyInfo:
    """A key's life cycle without its secret half."""

    kid: str
    alg: str
    created_at: datetime
    active_from: datetime
    retire_at: datetime | None


def _generate(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"signing algorithm {alg!r} is not supported; expected ES256, RS256 or EdDSA")


def _public_jwk(kid: str, alg: str, public_key: PublicKey) -> dict[str, Any]:
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk: dict[str, Any] = algorithm.to_jwk(public_key, as_dict=True)
    jwk.update({"kid": kid, "alg": alg, "use": "sig"})
    return jwk


class _Sealer:
    """AES-256-GCM with a key derived (HKDF-SHA256) from the configured secret key."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"iam signing keys v1").derive(secret)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, kid: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, sealed: bytes, kid: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], kid.encode())
        except InvalidTag:
            raise ConfigError(
                f"signing key '{kid}' cannot be decrypted with the configured secret key "
                "(IAM_SECRET_KEY or IAM_SECRET_KEY_FILE changed?)"
            ) from None


class KeyRing:
    """The published and usable signing keys, cached; thread-safe."""

    def __init__(self, session_factory: sessionmaker[Session], *, secret: bytes, alg: str) -> None:
        self._sessions = session_factory
        self._sealer = _Sealer(secret)
        self._alg = alg
        self._keys: dict[str, SigningKey] = {}
        self._lock = threading.Lock()
        self._last_refresh = 0.0
        self._current: SigningKey | None = None
        self._switch_at = 0.0

    def start(self) -> None:
        """Load keys; create the first one when the database has none (a fresh installation)."""
        self.refresh()
        if not self._keys:
            self.create_key(alg=self._alg, active_from=utc_now())
            self.refresh()

    def create_key(self, *, alg: str, active_from: datetime) -> str:
        private_key = _generate(alg)
        kid = secrets.token_urlsafe(12)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        row = SigningKeyRow(
            kid=kid,
            alg=alg,
            public_jwk=json.dumps(_public_jwk(kid, alg, private_key.public_key())),
            private_key_encrypted=self._sealer.seal(pem, kid),
            active_from=active_from,
        )
        with self._sessions.begin() as session:
            session.add(row)
        return kid

    def rotate(self, *, alg: str, activate_in: timedelta, publish: Callable[[Session], None]) -> SigningKeyInfo:
        """Introduce a new signing key: published in JWKS at once, used for signing from ``activate_in`` on.

        Every key signing until then is given a ``retire_at`` past the lifetime of the last token it can
        sign, so it stays published while its tokens live. ``publish`` queues the change notice in the
        same transaction, so every node reloads its ring when the rotation commits.
        """
        if activate_in < timedelta(0):
            raise ValueError(f"activate_in {activate_in} is negative")
        private_key = _generate(alg)
        kid = secrets.token_urlsafe(12)
        now = utc_now()
        active_from = now + activate_in
        # The old keys sign until active_from (other nodes may learn of the rotation a little later:
        # allow for that), and their last tokens live MAX_TOKEN_LIFETIME after.
        retire_at = active_from + timedelta(seconds=_MAX_TOKEN_LIFETIME + _RETIRE_MARGIN_SECONDS)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with self._sessions.begin() as session:
            for row in session.scalars(select(SigningKeyRow).where(SigningKeyRow.retire_at.is_(None))):
                row.retire_at = retire_at
            session.add(SigningKeyRow(
                kid=kid, alg=alg, public_jwk=json.dumps(_public_jwk(kid, alg, private_key.public_key())),
                private_key_encrypted=self._sealer.seal(pem, kid), active_from=active_from))
            session.flush()
            publish(session)
        self.refresh()
        return SigningKeyInfo(kid=kid, alg=alg, created_at=now, active_from=active_from, retire_at=None)

    def describe(self) -> list[SigningKeyInfo]:
        """Every key in the database, newest first, with its life cycle (for ``iam keys list``)."""
        with self._sessions() as session:
            rows = session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.active_from.desc())).all()
            return [SigningKeyInfo(kid=row.kid, alg=row.alg, created_at=row.created_at,
                                   active_from=row.active_from, retire_at=row.retire_at) for row in rows]

    def refresh(self) -> None:
        now = utc_now()
        with self._sessions() as session:
            rows = session.scalars(select(SigningKeyRow)).all()
            keys: dict[str, SigningKey] = {}
            for row in rows:
                if row.retire_at is not None and row.retire_at <= now:
                    continue
                keys[row.kid] = self._load(row)
        with self._lock:
            self._keys = keys
            self._last_refresh = time.monotonic()
            self._current, self._switch_at = None, 0.0

    def _load(self, row: SigningKeyRow) -> SigningKey:
        pem = self._sealer.open(row.private_key_encrypted, row.kid)
        private_key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
        return SigningKey(
            kid=row.kid,
            alg=row.alg,
            private_key=private_key,
            public_key=private_key.public_key(),
            public_jwk=json.loads(row.public_jwk),
            active_from=row.active_from,
            retire_at=row.retire_at,
        )

    def signing_key(self) -> SigningKey:
        """The newest key whose ``active_from`` has passed; remembered until the next key's moment."""
        now = time.time()
        current = self._current
        if current is not None and now < self._switch_at:
            return current
        usable = self._choose(now)
        if usable is None:
            self.refresh()
            usable = self._choose(now)
        if usable is None:
            raise ConfigError("no signing key is active; run 'iam keys rotate' or restart the service")
        return usable

    def _choose(self, now: float) -> SigningKey | None:
        keys = list(self._keys.values())
        usable = [key for key in keys if key.active_from.timestamp() <= now]
        pending = [key.active_from.timestamp() for key in keys if key.active_from.timestamp() > now]
        if not usable:
            return None
        chosen = max(usable, key=lambda key: key.active_from)
        with self._lock:
            self._current, self._switch_at = chosen, min(pending, default=float("inf"))
        return chosen

    def public_key(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._last_refresh > _REFRESH_INTERVAL_SECONDS:
            self.refresh()
            key = self._keys.get(kid)
        return key

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        keys = sorted(self._keys.values(), key=lambda key: key.active_from, reverse=True)
        return {"keys": [key.public_jwk for key in keys]}
