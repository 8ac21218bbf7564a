"""HTTP edge of the authorization server: token, introspection and revocation endpoints, JWKS and
discovery. Protocol logic lives in the rfc* modules and :mod:`iam.oauth.server`; this module only moves
bytes.

The token endpoint is the hottest route of the service (every service call starts with a token), so it and
its two companions are hot routes (:mod:`iam.http.hot`), served beneath the framework; FastAPI routes on
the same paths document them in OpenAPI. ``get_runtime`` is called, not declared with ``Depends``,
everywhere here: FastAPI runs a sync dependency in a worker thread, a hop that cost more than signing the
token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from iam.http.hot import HotRequest, HotResponse, HotRoute, json_response, serve_through_framework
from iam.oauth.errors import InvalidRequest
from iam.oauth.metadata import server_metadata
from iam.oauth.rfc6749 import parse_form, parse_token_request
from iam.oauth.rfc8693 import REPEATABLE
from iam.oauth.server import RequestInfo
from iam.runtime import Runtime, get_runtime

__all__ = ["HOT_ROUTES", "router"]

router = APIRouter(tags=["oauth"])
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"
_FORM_LIMIT = 64 << 10


def _form(request: HotRequest, *, repeatable: frozenset[str] = frozenset()) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise InvalidRequest(f"the request must be {_FORM}")
    # Parsing the body ourselves is measurably cheaper than FastAPI's Form() and lets us refuse
    # repeated parameters, which RFC 6749 §3.2 requires.
    return parse_form(request.body, repeatable=repeatable)


def _info(request: HotRequest) -> RequestInfo:
    dpop = request.headers.get("dpop")
    # The URL serves only to check a DPoP proof's htu; building it costs more than the rest of this.
    return RequestInfo(url=request.url if dpop else "", authorization=request.headers.get("authorization"),
                       dpop=dpop, source_address=request.client_host, request_id=request.request_id)


def _runtime(request: HotRequest) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def token(request: HotRequest) -> HotResponse:
    """POST /oauth2/token."""
    form = _form(request, repeatable=REPEATABLE)
    parsed = parse_token_request(form=form, authorization=request.headers.get("authorization"))
    body = await _runtime(request).oauth.token(parsed, _info(request))
    return json_response(body, headers=_NO_STORE)


async def introspect(request: HotRequest) -> HotResponse:
    """POST /oauth2/introspect."""
    body = await run_in_threadpool(_runtime(request).oauth.introspect, _form(request), _info(request))
    return json_response(body, headers=_NO_STORE)


async def revoke(request: HotRequest) -> HotResponse:
    """POST /oauth2/revoke: 200 with an empty body, also for an unknown token (RFC 7009 §2.2)."""
    await run_in_threadpool(_runtime(request).oauth.revoke, _form(request), _info(request))
    return HotResponse(200, b"", _NO_STORE, media_type="text/plain")


HOT_ROUTES = (HotRoute("POST", "/oauth2/token", token, max_body=_FORM_LIMIT),
              HotRoute("POST", "/oauth2/introspect", introspect, max_body=_FORM_LIMIT),
              HotRoute("POST", "/oauth2/revoke", revoke, max_body=_FORM_LIMIT))


@router.post("/oauth2/token", summary="OAuth 2.0 token endpoint: client credentials, token exchange (RFC 8693)",
             openapi_extra={"requestBody": {"required": True, "content": {_FORM: {"schema": {
                 "type": "object", "required": ["grant_type"], "properties": {
                     "grant_type": {"type": "string", "enum": ["client_credentials",
                                                               "urn:ietf:params:oauth:grant-type:token-exchange"]},
                     "scope": {"type": "string"}, "subject_token": {"type": "string"},
                     "subject_token_type": {"type": "string"}, "audience": {"type": "string"},
                     "resource": {"type": "string"}, "authorization_details": {"type": "string"},
                     "client_id": {"type": "string"}, "client_secret": {"type": "string"},
                     "client_assertion": {"type": "string"}, "client_assertion_type": {"type": "string"}}}}}}})
async def token_documented(request: Request) -> Response:
    return await serve_through_framework(token, request)


@router.post("/oauth2/introspect", summary="Token introspection (RFC 7662)")
async def introspect_documented(request: Request) -> Response:
    return await serve_through_framework(introspect, request)


@router.post("/oauth2/revoke", summary="Token revocation (RFC 7009)")
async def revoke_documented(request: Request) -> Response:
    return await serve_through_framework(revoke, request)


@router.get("/oauth2/jwks", summary="Public signing keys (RFC 7517)")
def jwks(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    return JSONResponse(runtime.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
@router.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
def discovery(runtime: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    algs = sorted({str(key["alg"]) for key in runtime.keys.jwks()["keys"]})
    return server_metadata(issuer=runtime.settings.issuer_url, signing_algs=algs)
