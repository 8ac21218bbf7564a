"""RFC 7523 §2.2 / §3: JWT client assertions (``private_key_jwt``, OpenID Connect Core §9).

:func:`verify_client_assertion` checks the signature against the client's registered public keys and
the claims of §3: ``iss`` and ``sub`` are the client_id, ``aud`` names our token endpoint (or issuer),
``exp`` has not passed and is not far away, ``jti`` is present. Whether the ``jti`` was used before is
for the caller to decide (it needs storage shared by every node). No web framework, no database.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from iam.oauth.errors import InvalidClient

__all__ = [
    "ASSERTION_SIGNING_ALGS",
    "ClientAssertion",
    "PublicJWK",
    "candidate_keys",
    "keys_from_jwks",
    "verify_client_assertion",
]

# Asymmetric only: a shared-secret HMAC assertion (client_secret_jwt) is not offered.
ASSERTION_SIGNING_ALGS = ("ES256", "ES384", "PS256", "RS256", "EdDSA")
CLOCK_SKEW_SECONDS = 30
# An assertion is a one-time credential (its jti is stored until exp), so a long lifetime does not open a
# replay; still, one that claims to live for hours is refused. Common client libraries (Authlib) default
# to one hour.
MAX_LIFETIME_SECONDS = 3600


@dataclass(frozen=True)
class ClientAssertion:
    client_id: str
    jti: str
    expires_at: int


@dataclass(frozen=True)
class PublicJWK:
    """One usable public key of a JWK Set, with the ``kid`` and ``alg`` it was published with."""

    kid: str | None
    alg: str | None
    key: Any


def keys_from_jwks(jwks: object) -> list[PublicJWK]:
    """Parse a JWK Set (RFC 7517 §5); keys we cannot use (unknown kty, private parts, enc) are skipped."""
    entries = jwks.get("keys", []) if isinstance(jwks, dict) else []
    keys: list[PublicJWK] = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or "d" in entry or entry.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK(entry)
        except (PyJWKError, InvalidTokenError, ValueError, KeyError, TypeError):
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        keys.append(PublicJWK(kid=kid if isinstance(kid, str) else None,
                              alg=alg if isinstance(alg, str) else None, key=parsed.key))
    return keys


def _fail(detail: str) -> InvalidClient:
    return InvalidClient(log_detail=f"client assertion: {detail}", basic=False)


def candidate_keys(keys: Sequence[PublicJWK], *, kid: object, alg: str) -> list[PublicJWK]:
    """Keys that may verify a JWS with this header: same ``kid`` (when given) and, when the key states
    its algorithm, the same algorithm (RFC 7517 §4.4)."""
    return [key for key in keys if (kid is None or key.kid == kid) and key.alg in (None, alg)]


def verify_client_assertion(
    assertion: str, *, client_id: str, keys: Sequence[PublicJWK], audiences: Collection[str], now: int
) -> ClientAssertion:
    """Verify signature, then claims; raise InvalidClient (with the reason for our log) on any failure."""
    try:
        header = jwt.get_unverified_header(assertion)
    except InvalidTokenError:
        raise _fail("not a well-formed JWT") from None
    alg = header.get("alg")
    if alg not in ASSERTION_SIGNING_ALGS:
        raise _fail(f"algorithm {alg!r} is not one of {', '.join(ASSERTION_SIGNING_ALGS)}")
    payload: dict[str, Any] | None = None
    for key in candidate_keys(keys, kid=header.get("kid"), alg=alg):
        try:
            raw = jwt.api_jws.decode_complete(assertion, key=key.key, algorithms=[alg])["payload"]
        except (InvalidTokenError, ValueError, TypeError, AttributeError):
            continue  # a key of another type raises while being prepared; try the next one
        decoded = json.loads(raw)
        payload = decoded if isinstance(decoded, dict) else None
        break
    if payload is None:
        raise _fail(f"no registered key of client {client_id!r} verifies the signature")
    if payload.get("iss") != client_id or payload.get("sub") != client_id:
        raise _fail("iss and sub must both be the client_id")
    audience = payload.get("aud")
    audience_list = [audience] if isinstance(audience, str) else list(audience or [])
    if not set(audience_list) & set(audiences):
        raise _fail(f"aud {audience_list!r} names neither our token endpoint nor our issuer")
    exp, jti = payload.get("exp"), payload.get("jti")
    if not isinstance(exp, int):
        raise _fail("exp is missing")
    if exp + CLOCK_SKEW_SECONDS <= now:
        raise _fail("it has expired")
    if exp - now > MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise _fail(f"exp is more than {MAX_LIFETIME_SECONDS} s away")
    nbf = payload.get("nbf")
    if isinstance(nbf, int) and nbf - CLOCK_SKEW_SECONDS > now:
        raise _fail("it is not valid yet (nbf)")
    if not isinstance(jti, str) or not jti:
        raise _fail("jti is missing")
    return ClientAssertion(client_id=client_id, jti=jti, expires_at=exp)
