"""Issuing and verifying our access tokens (RFC 9068 JWTs signed by the key ring).

Verification here covers the token itself (signature, type, issuer, audience, lifetime). Whether a valid
token has since been revoked, or its person disabled, is :mod:`iam.oauth.token_status`'s question.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from iam.oauth import rfc7515
from iam.oauth.keys import KeyRing
from iam.oauth.rfc9068 import (
    TOKEN_TYPE,
    AccessTokenClaims,
    SignedClaims,
    check_claims,
    new_claims,
    verify_signature,
)

__all__ = ["MAX_TOKEN_LIFETIME", "IssuedToken", "TokenService"]

# No access token of ours lives longer (the trust framework's 60 minutes); key rotation relies on it.
MAX_TOKEN_LIFETIME = 3600
# Tokens whose signature was checked, remembered per process. A client reuses its token for many calls,
# and the ES256 check (about 150 µs) was the largest single cost of a decision over HTTP.
VERIFIED_CACHE_SIZE = 20_000


class IssuedToken(dict[str, Any]):
    """The RFC 6749 §5.1 response body; ``jti`` names the token for logs and revocation."""

    jti: str = ""


class TokenService:
    def __init__(self, keys: KeyRing, *, issuer: str, audience: str, ttl: int) -> None:
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._verified: dict[str, SignedClaims] = {}
        self._verified_lock = threading.Lock()

    def issue(
        self,
        *,
        subject: str,
        client_id: str,
        scopes: list[str],
        audience: str | None = None,
        ttl: int | None = None,
        extra_claims: dict[str, Any] | None = None,
        dpop_jkt: str | None = None,
    ) -> IssuedToken:
        """Sign a token; ``dpop_jkt`` binds it to a DPoP key (RFC 9449 §6.1) and makes its type DPoP."""
        lifetime = min(ttl or self.ttl, MAX_TOKEN_LIFETIME)
        now = int(time.time())
        claims = new_claims(issuer=self.issuer, subject=subject, audience=audience or self.audience,
                            client_id=client_id, scopes=scopes, now=now, ttl=lifetime)
        if extra_claims:
            claims.update(extra_claims)
        if dpop_jkt is not None:
            claims["cnf"] = {"jkt": dpop_jkt}
        key = self._keys.signing_key()
        token = rfc7515.sign(claims, key=key.private_key, alg=key.alg, kid=key.kid, typ=TOKEN_TYPE)
        issued = IssuedToken(access_token=token, token_type="DPoP" if dpop_jkt else "Bearer",
                             expires_in=lifetime, scope=" ".join(scopes))
        issued.jti = claims["jti"]
        return issued

    def verify(self, token: str, *, any_audience: bool = False) -> AccessTokenClaims:
        """Verify signature then claims; raise InvalidToken (RFC 6750) with the reason.

        ``any_audience`` accepts our tokens for every audience (introspection, token exchange); APIs of
        this service use the default, which requires our own audience.
        """
        signed = self._verified.get(token)
        # A remembered signature counts only while its key is still ours (a withdrawn key ends it at once);
        # the claims, expiry included, are checked on every use.
        if signed is None or self._key_for(str(signed.header["kid"])) is None:
            signed = verify_signature(token, key_for=self._key_for)
            self._remember(token, signed)
        return check_claims(signed, issuer=self.issuer, audience=None if any_audience else self.audience,
                            now=int(time.time()))

    def _remember(self, token: str, signed: SignedClaims) -> None:
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                # Oldest first (insertion order); tokens live an hour at most, so old entries are the dead ones.
                for stale in list(self._verified)[:VERIFIED_CACHE_SIZE // 4]:
                    del self._verified[stale]
            self._verified[token] = signed

    def _key_for(self, kid: str) -> tuple[Any, str] | None:
        key = self._keys.public_key(kid)
        return None if key is None else (key.public_key, key.alg)
