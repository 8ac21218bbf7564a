"""What protects every API: a valid access token with the right scope.

``Depends(require_scope("admin"))`` yields the verified :class:`AccessTokenClaims`; a hot route
(:mod:`iam.http.hot`) calls :func:`verify_bearer` for the same check. Failures follow
RFC 6750 §3 and RFC 9449 §7.1: 401 ``invalid_token`` (missing, malformed, forged, expired, wrong key or
algorithm, revoked, its client or account disabled, a DPoP-bound token sent as Bearer), 401
``invalid_dpop_proof`` (missing, invalid or replayed proof for a DPoP-bound token) and 403
``insufficient_scope``. Revocation and account state come from memory kept fresh by change notices, so
the check costs no query on the hot path (a token of a cached client and person).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request

from iam.http.hot import HotRequest
from iam.http.middleware import request_id_of
from iam.oauth.errors import InsufficientScope, InvalidToken
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.oauth.server import RequestInfo
from iam.runtime import Runtime, get_runtime

__all__ = ["bearer_token", "require_scope", "verify_bearer"]


def _split_authorization(header: str | None) -> tuple[str, str]:
    if header is None:
        raise InvalidToken("no bearer token", token_present=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "dpop") or not token.strip():
        raise InvalidToken("the Authorization header is not 'Bearer <token>'")
    return scheme, token.strip()


def bearer_token(request: Request) -> tuple[str, str]:
    """The (scheme, token) of the Authorization header: scheme ``Bearer`` or ``DPoP``."""
    return _split_authorization(request.headers.get("authorization"))


def _check(runtime: Runtime, scope: str, *, presented: tuple[str, str], method: str, dpop: str | None,
           url: Callable[[], str], request_id: str) -> AccessTokenClaims:
    scheme, token = presented
    # The URL serves only to check a DPoP proof's htu, and costs more to build than the rest of the check.
    info = RequestInfo(url=url() if dpop else "", dpop=dpop, request_id=request_id)
    claims = runtime.oauth.verify_presented(scheme=scheme, token=token, info=info, method=method)
    if scope not in claims.scopes:
        raise InsufficientScope(scope)
    return claims


def verify_bearer(request: HotRequest, scope: str) -> AccessTokenClaims:
    """The check of :func:`require_scope` for a hot route (:mod:`iam.http.hot`)."""
    presented = _split_authorization(request.headers.get("authorization"))
    return _check(request.app.state.runtime, scope, presented=presented, method=request.method,
                  dpop=request.headers.get("dpop"), url=lambda: request.url, request_id=request.request_id)


def require_scope(scope: str) -> Callable[..., AccessTokenClaims]:
    """A dependency checking the token and ``scope``; FastAPI runs it (a plain function) in a worker thread.

    It does no I/O when the token's client and person are cached, and a quick query when not."""

    def dependency(
        request: Request, presented: tuple[str, str] = Depends(bearer_token),
        runtime: Runtime = Depends(get_runtime),
    ) -> AccessTokenClaims:
        return _check(runtime, scope, presented=presented, method=request.method, dpop=request.headers.get("dpop"),
                      url=lambda: str(request.url), request_id=request_id_of(request.scope))

    dependency.__name__ = f"require_scope_{scope.replace(':', '_')}"
    return dependency
