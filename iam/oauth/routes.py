"""HTTP edge of the authorization server: token, introspection and revocation endpoints, JWKS and
discovery. Protocol logic lives in the rfc* modules and :mod:`iam.oauth.server`; this module only moves
bytes.

The token endpoint is the hottest route of the service (every service call starts with a token), so it is
a plain Starlette route: FastAPI's request handling (dependency solving, response validation) cost about
50 µs of the 250 µs a client-credentials token took in the application. ``get_runtime`` is called, not
declared with ``Depends``, everywhere here: FastAPI runs a sync dependency in a worker thread, a hop
that cost more than signing the token. A FastAPI route on the same path, registered after the plain one
and never reached, keeps the endpoint in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from iam.http.middleware import request_id_of
from iam.oauth.errors import InvalidRequest
from iam.oauth.metadata import server_metadata
from iam.oauth.rfc6749 import parse_form, parse_token_request
from iam.oauth.rfc8693 import REPEATABLE
from iam.oauth.server import RequestInfo
from iam.runtime import Runtime, get_runtime

__all__ = ["router"]

router = APIRouter(tags=["oauth"])
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_FORM = "application/x-www-form-urlencoded"


async def _form(request: Request, *, repeatable: frozenset[str] = frozenset()) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM:
        raise InvalidRequest(f"the request must be {_FORM}")
    # Parsing the body ourselves is measurably cheaper than FastAPI's Form() and lets us refuse
    # repeated parameters, which RFC 6749 §3.2 requires.
    return parse_form(await request.body(), repeatable=repeatable)


def _info(request: Request) -> RequestInfo:
    client = request.client
    dpop = request.headers.get("dpop")
    # The URL serves only to check a DPoP proof's htu; building it costs more than the rest of this.
    return RequestInfo(url=str(request.url) if dpop else "", authorization=request.headers.get("authorization"),
                       dpop=dpop, source_address=client.host if client else None,
                       request_id=request_id_of(request.scope))


async def token(request: Request) -> JSONResponse:
    """POST /oauth2/token, served as a plain Starlette route (see the module docstring for why)."""
    runtime = get_runtime(request)
    form = await _form(request, repeatable=REPEATABLE)
    parsed = parse_token_request(form=form, authorization=request.headers.get("authorization"))
    body = await runtime.oauth.token(parsed, _info(request))
    return JSONResponse(body, headers=_NO_STORE)


router.add_route("/oauth2/token", token, methods=["POST"], include_in_schema=False)


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
async def token_documented(request: Request) -> JSONResponse:
    """Documents the token endpoint in OpenAPI; requests never get here because the plain route above,
    registered first, answers them."""
    return await token(request)


@router.post("/oauth2/introspect", summary="Token introspection (RFC 7662)")
async def introspect(request: Request) -> JSONResponse:
    runtime = get_runtime(request)
    form = await _form(request)
    body = await run_in_threadpool(runtime.oauth.introspect, form, _info(request))
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/oauth2/revoke", summary="Token revocation (RFC 7009)")
async def revoke(request: Request) -> Response:
    runtime = get_runtime(request)
    form = await _form(request)
    await run_in_threadpool(runtime.oauth.revoke, form, _info(request))
    return Response(status_code=200, headers=_NO_STORE)


@router.get("/oauth2/jwks", summary="Public signing keys (RFC 7517)")
def jwks(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    return JSONResponse(runtime.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
@router.get("/.well-known/openid-configuration", summary="OpenID Connect discovery")
def discovery(runtime: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    algs = sorted({str(key["alg"]) for key in runtime.keys.jwks()["keys"]})
    return server_metadata(issuer=runtime.settings.issuer_url, signing_algs=algs)
