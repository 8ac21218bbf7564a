"""RFC 7662: OAuth 2.0 Token Introspection, the request (§2.1) and the response (§2.2).

An inactive token, whatever the reason (forged, expired, revoked, its account disabled, not ours), is
answered with nothing but ``{"active": false}`` (§2.2), so introspection leaks nothing about it.
No web framework, no database.
"""

from __future__ import annotations

from typing import Any

from iam.oauth.errors import InvalidRequest
from iam.oauth.rfc9068 import AccessTokenClaims

__all__ = ["INACTIVE", "active_response", "token_parameter"]

INACTIVE: dict[str, Any] = {"active": False}


def token_parameter(form: dict[str, str]) -> str:
    """§2.1: ``token`` is required; ``token_type_hint`` is optional and may be ignored (we issue one kind)."""
    token = form.get("token")
    if not token:
        raise InvalidRequest("parameter 'token' is missing")
    return token


def active_response(claims: AccessTokenClaims, *, issuer: str) -> dict[str, Any]:
    """§2.2 members for an active token, then the token's own claims (care context, cnf, ...)."""
    response: dict[str, Any] = {
        "active": True,
        "scope": " ".join(sorted(claims.scopes)),
        "client_id": claims.client_id,
        "token_type": "DPoP" if claims.bound_jkt else "Bearer",
        "exp": claims.expires_at,
        "iat": claims.issued_at,
        "sub": claims.subject,
        "aud": list(claims.audience) if len(claims.audience) != 1 else claims.audience[0],
        "iss": issuer,
        "jti": claims.jti,
    }
    for key, value in claims.extra.items():
        response.setdefault(key, value)
    return response
