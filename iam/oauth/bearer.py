"""The FastAPI dependency that protects every API: a valid access token with the right scope.

``Depends(require_scope("admin"))`` yields the verified :class:`AccessTokenClaims`. Failures follow
RFC 6750 §3 and RFC 9449 §7.1: 401 ``invalid_token`` (missing, malformed, forged, expired, wrong key or
algorithm, revoked, its client or account disabled, a DPoP-bound token sent as Bearer), 401
``invalid_dpop_proof`` (missing, invalid or replayed proof for a DPoP-bound token) and 403
``insufficient_scope``. Revocation and account state come from memory kept fresh by change notices, so
the check costs no query on the hot path (a token of a cached client and person).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request

from iam.http.middleware import request_id_of
from iam.oauth.errors import InsufficientScope, InvalidToken
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.oauth.server import RequestInfo
from iam.runtime import Runtime, get_runtime

__all__ = ["bearer_token", "require_scope"]


def bearer_token(request: Request) -> tuple[str, str]:
    """The (scheme, token) of the Authorization header: scheme ``Bearer`` or ``DPoP``."""
    header = request.headers.get("authorization")
    if header is None:
        raise InvalidToken("no bearer token", token_present=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not token.strip():
        raise InvalidToken("the Authorization header is not 'Bearer <token>'")
    return scheme, token.strip()


def require_scope(scope: str) -> Callable[..., AccessTokenClaims]:
    """A dependency checking the token and ``scope``.

    FastAPI runs it (a plain function) in a worker thread. A hot async route may instead call it directly,
    ``require_scope("authz")(request, bearer_token(request), get_runtime(request))``: it does no I/O
    when the token's client and person are cached, and a quick query when not.
    """

    def dependency(
        request: Request, presented: tuple[str, str] = Depends(bearer_token),
        runtime: Runtime = Depends(get_runtime),
    ) -> AccessTokenClaims:
        scheme, token = presented
        info = RequestInfo(url=str(request.url), dpop=request.headers.get("dpop"),
                           request_id=request_id_of(request.scope))
        claims = runtime.oauth.verify_presented(scheme=scheme, token=token, info=info, method=request.method)
        if scope not in claims.scopes:
            raise InsufficientScope(scope)
        return claims

    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return dependency
