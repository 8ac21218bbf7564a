"""RFC 9068: JSON Web Token profile for OAuth 2.0 access tokens.

Two steps, kept apart on purpose: :func:`verify_signature` proves who signed the bytes (RFC 7515) and
yields :class:`SignedClaims`; :func:`check_claims` then checks what the claims say (§4: ``typ`` is
``at+jwt``, ``iss`` is ours, ``aud`` names us, ``exp`` has not passed) and yields :class:`AccessTokenClaims`.
Only the second type may be trusted by an API. No web framework and no database here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iam.oauth import rfc7515
from iam.oauth.errors import InvalidToken

__all__ = [
    "PERSON_PREFIX",
    "TOKEN_TYPE",
    "AccessTokenClaims",
    "SignedClaims",
    "check_claims",
    "new_claims",
    "verify_signature",
]

TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT typ of RFC 9068, not a secret
# ``sub`` of a token that acts for a person; client-credentials tokens carry the client_id instead.
PERSON_PREFIX = "person:"
# Leeway for clocks of other nodes; small, because tokens live minutes.
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class SignedClaims:
    """Claims whose signature has been verified, but whose meaning has not been checked."""

    header: dict[str, Any]
    claims: dict[str, Any]


@dataclass(frozen=True)
class AccessTokenClaims:
    """A verified access token: signature, type, issuer, audience and lifetime all checked."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    issued_at: int
    expires_at: int
    audience: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bound_jkt(self) -> str | None:
        """RFC 9449 §6.1: the thumbprint of the key a DPoP-bound token is bound to (``cnf.jkt``)."""
        confirmation = self.extra.get("cnf")
        jkt = confirmation.get("jkt") if isinstance(confirmation, dict) else None
        return jkt if isinstance(jkt, str) else None

    @property
    def person_id(self) -> str | None:
        """Our person id when the token acts for a person (``sub`` is ``person:<id>``), else None."""
        return self.subject.removeprefix(PERSON_PREFIX) if self.subject.startswith(PERSON_PREFIX) else None


def new_claims(
    *, issuer: str, subject: str, audience: str, client_id: str, scopes: list[str], now: int, ttl: int
) -> dict[str, Any]:
    """The claims of §2.2 for a new token; ``jti`` is 128 random bits."""
    return {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": now + ttl,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": " ".join(scopes),
    }


def verify_signature(token: str, *, key_for: Callable[[str], tuple[Any, str] | None]) -> SignedClaims:
    """Check the JWS signature with the key named by ``kid``.

    ``key_for(kid)`` returns (public key, algorithm) or None. The algorithm comes from *our* key, never
    from the token header, which is what defeats ``alg: none`` and HS256-signed-with-the-public-key.
    """
    try:
        jws = rfc7515.parse(token)
    except rfc7515.MalformedJWS:
        raise InvalidToken("the token is not a well-formed JWT") from None
    header = jws.header
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("the token header names no key (kid)")
    found = key_for(kid)
    if found is None:
        raise InvalidToken("the token is signed with a key we do not know")
    public_key, alg = found
    if header.get("alg") != alg:
        raise InvalidToken(f"the token's algorithm {header.get('alg')!r} is not the key's {alg!r}")
    if not rfc7515.verify(jws, key=public_key, alg=alg):
        raise InvalidToken("the token signature is invalid")
    try:
        claims = jws.unverified_claims()  # verified now
    except rfc7515.MalformedJWS:
        raise InvalidToken("the token payload is not a JSON object") from None
    return SignedClaims(header=header, claims=claims)


def check_claims(signed: SignedClaims, *, issuer: str, audience: str | None, now: int) -> AccessTokenClaims:
    """RFC 9068 §4 validation of an already signature-checked token.

    ``audience=None`` skips the audience check, for our own introspection and token exchange, which accept
    our tokens whatever service they were issued for.
    """
    header, claims = signed.header, signed.claims
    if str(header.get("typ", "")).lower() not in (TOKEN_TYPE, "application/at+jwt"):
        raise InvalidToken("the token is not an access token (typ must be at+jwt)")
    if claims.get("iss") != issuer:
        raise InvalidToken("the token was issued by someone else")
    audiences = claims.get("aud")
    audience_list = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if audience is not None and audience not in audience_list:
        raise InvalidToken("the token is not meant for this service (aud)")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise InvalidToken("the token lacks exp or iat")
    if exp + CLOCK_SKEW_SECONDS <= now:
        raise InvalidToken("the token has expired")
    nbf = claims.get("nbf", iat)
    if isinstance(nbf, int) and nbf - CLOCK_SKEW_SECONDS > now:
        raise InvalidToken("the token is not valid yet")
    subject, client_id, jti = claims.get("sub"), claims.get("client_id"), claims.get("jti")
    if not isinstance(subject, str) or not isinstance(client_id, str) or not isinstance(jti, str):
        raise InvalidToken("the token lacks sub, client_id or jti")
    scope = claims.get("scope", "")
    known = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"}
    return AccessTokenClaims(
        subject=subject,
        client_id=client_id,
        scopes=frozenset(str(scope).split()),
        jti=jti,
        issued_at=iat,
        expires_at=exp,
        audience=tuple(str(item) for item in audience_list),
        extra={key: value for key, value in claims.items() if key not in known},
    )
