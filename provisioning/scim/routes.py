"""HTTP binding of the SCIM 2.0 server at ``/scim/v2`` (RFC 7644 §3): thin routes over the services.

Every route except the discovery documents needs a bearer token with the ``scim`` scope. Every error under
``/scim/v2`` (ours, the bearer check's 401/403, an unknown path) is rendered in the SCIM error format with
``Content-Type: application/scim+json``; a 401 keeps its ``WWW-Authenticate`` challenge. Request bodies
over ``maxPayloadSize`` are refused with 413 before they are parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import select

from iam.db.base import utc_now
from iam.errors import APIError
from iam.http.middleware import request_id_of
from iam.oauth.bearer import require_scope
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime
from provisioning.scim import groups as group_service
from provisioning.scim import users as user_service
from provisioning.scim.bulk import BulkOperation, OperationResult, parse_bulk_request, run_bulk
from provisioning.scim.discovery import Limits, resource_types, schemas, service_provider_config
from provisioning.scim.errors import (
    InvalidSyntax,
    InvalidValue,
    PayloadTooLarge,
    ResourceNotFound,
    ScimError,
    error_body,
)
from provisioning.scim.etag import if_none_match_hits, version_of
from provisioning.scim.models import ScimGroupRow, ScimUserRow
from provisioning.scim.resources import Group, ScimUser
from provisioning.scim.search import Listing, list_resources, project, read_search
from provisioning.scim.user_view import load_users, user_attribute_map, user_select

__all__ = ["LIMITS", "SCIM_MEDIA_TYPE", "router"]

SCIM_MEDIA_TYPE = "application/scim+json"
LIMITS = Limits()
_PREFIX = "/scim/v2"


class ScimResponse(Response):
    media_type = SCIM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def _error(status: int, scim_type: str | None, detail: str, headers: dict[str, str] | None = None) -> ScimResponse:
    return ScimResponse(error_body(status=status, scim_type=scim_type, detail=detail), status_code=status,
                        headers=headers)


class ScimRoute(APIRoute):
    """Renders every error raised while handling a SCIM request (dependencies included) as a SCIM Error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def scim_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except ScimError as exc:
                return _error(exc.status, exc.scim_type, exc.detail, exc.headers)
            except APIError as exc:
                return _error(exc.status, None, exc.message, exc.headers)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(part) for part in first.get("loc", ()))
                return _error(400, "invalidValue", f"{where}: {first.get('msg', 'invalid')}")

        return scim_handler


router = APIRouter(prefix=_PREFIX, tags=["SCIM 2.0"], route_class=ScimRoute)
_scim = require_scope("scim")


async def scim_body(request: Request) -> Any:
    """The JSON body, refused with 413 over maxPayloadSize and ``invalidSyntax`` when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > LIMITS.max_payload_size:
        raise PayloadTooLarge(f"the body has {declared} bytes; maxPayloadSize is {LIMITS.max_payload_size}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > LIMITS.max_payload_size:
            raise PayloadTooLarge(f"the body exceeds maxPayloadSize ({LIMITS.max_payload_size} bytes)")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidSyntax(f"the body is not JSON: {exc}") from None


def _context(request: Request, runtime: Runtime, claims: AccessTokenClaims) -> user_service.RequestContext:
    base = str(request.base_url).rstrip("/") + _PREFIX
    return user_service.RequestContext(base_url=base, actor=f"scim client {claims.client_id}", at=utc_now(),
                                       bus=runtime.bus, request_id=request_id_of(request.scope) or None)


def _one(request: Request, document: dict[str, Any], model: Any, *, status: int = 200) -> Response:
    version = document["meta"]["version"]
    if status == 200 and request.method == "GET" and if_none_match_hits(request.headers.get("if-none-match"), version):
        return Response(status_code=304, headers={"ETag": version})
    params = read_search({key: request.query_params[key] for key in ("attributes", "excludedAttributes")
                          if key in request.query_params}, model, from_body=False)
    headers = {"ETag": version}
    if status == 201:
        headers["Location"] = document["meta"]["location"]
    return ScimResponse(project([document], model, params)[0], status_code=status, headers=headers)


def _user_listing(ctx: user_service.RequestContext) -> Listing:
    return Listing(model=ScimUser, attributes=user_attribute_map(ctx.at), base=user_select(), id_column=ScimUserRow.id,
                   load=lambda session, ids: load_users(session, ids, at=ctx.at, base_url=ctx.base_url))


def _group_listing(ctx: user_service.RequestContext) -> Listing:
    return Listing(model=Group, attributes=group_service.group_attribute_map(), base=select(ScimGroupRow.id),
                   id_column=ScimGroupRow.id,
                   load=lambda session, ids: group_service.load_groups(session, ids, base_url=ctx.base_url))


# Discovery (RFC 7644 §4): open, like every discovery document of this service.

@router.get("/ServiceProviderConfig")
def get_service_provider_config(request: Request) -> ScimResponse:
    return ScimResponse(service_provider_config(base_url=str(request.base_url).rstrip("/") + _PREFIX, limits=LIMITS))


def _listed(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": len(resources),
            "startIndex": 1, "itemsPerPage": len(resources), "Resources": resources}


@router.get("/ResourceTypes")
def get_resource_types(request: Request) -> ScimResponse:
    return ScimResponse(_listed(resource_types(base_url=str(request.base_url).rstrip("/") + _PREFIX)))


@router.get("/ResourceTypes/{name}")
def get_resource_type(request: Request, name: str) -> ScimResponse:
    for document in resource_types(base_url=str(request.base_url).rstrip("/") + _PREFIX):
        if document["id"] == name:
            return ScimResponse(document)
    raise ResourceNotFound(f"ResourceType '{name}' does not exist")


@router.get("/Schemas")
def get_schemas(request: Request) -> ScimResponse:
    return ScimResponse(_listed(schemas(base_url=str(request.base_url).rstrip("/") + _PREFIX)))


@router.get("/Schemas/{urn}")
def get_schema(request: Request, urn: str) -> ScimResponse:
    for document in schemas(base_url=str(request.base_url).rstrip("/") + _PREFIX):
        if document["id"] == urn:
            return ScimResponse(document)
    raise ResourceNotFound(f"Schema '{urn}' does not exist")


# Users (RFC 7644 §3.3-§3.6)

@router.get("/Users")
def list_users(request: Request, runtime: Runtime = Depends(get_runtime),
               claims: AccessTokenClaims = Depends(_scim)) -> ScimResponse:
    ctx = _context(request, runtime, claims)
    search = read_search(dict(request.query_params), ScimUser, from_body=False)
    with runtime.sessions() as session:
        return ScimResponse(list_resources(session, _user_listing(ctx), search, limits=LIMITS, version=version_of))


@router.post("/Users/.search")
def search_users(request: Request, body: Any = Depends(scim_body), runtime: Runtime = Depends(get_runtime),
                 claims: AccessTokenClaims = Depends(_scim)) -> ScimResponse:
    if not isinstance(body, dict):
        raise InvalidValue("a SearchRequest must be a JSON object")
    ctx = _context(request, runtime, claims)
    search = read_search(body, ScimUser, from_body=True)
    with runtime.sessions() as session:
        return ScimResponse(list_resources(session, _user_listing(ctx), search, limits=LIMITS, version=version_of))


@router.post("/Users")
def create_user(request: Request, body: Any = Depends(scim_body), runtime: Runtime = Depends(get_runtime),
                claims: AccessTokenClaims = Depends(_scim)) -> Response:
    document = user_service.create_user(runtime.sessions, body, _context(request, runtime, claims))
    return _one(request, document, ScimUser, status=201)


@router.get("/Users/{user_id}")
def get_user(request: Request, user_id: str, runtime: Runtime = Depends(get_runtime),
             claims: AccessTokenClaims = Depends(_scim)) -> Response:
    return _one(request, user_service.get_user(runtime.sessions, user_id, _context(request, runtime, claims)),
                ScimUser)


@router.put("/Users/{user_id}")
def replace_user(request: Request, user_id: str, body: Any = Depends(scim_body),
                 runtime: Runtime = Depends(get_runtime), claims: AccessTokenClaims = Depends(_scim)) -> Response:
    document = user_service.replace_user(runtime.sessions, user_id, body, _context(request, runtime, claims),
                                         if_match=request.headers.get("if-match"))
    return _one(request, document, ScimUser)


@router.patch("/Users/{user_id}")
def patch_user(request: Request, user_id: str, body: Any = Depends(scim_body),
               runtime: Runtime = Depends(get_runtime), claims: AccessTokenClaims = Depends(_scim)) -> Response:
    document = user_service.patch_user(runtime.sessions, user_id, body, _context(request, runtime, claims),
                                       if_match=request.headers.get("if-match"))
    return _one(request, document, ScimUser)


@router.delete("/Users/{user_id}", status_code=204)
def delete_user(request: Request, user_id: str, runtime: Runtime = Depends(get_runtime),
                claims: AccessTokenClaims = Depends(_scim)) -> Response:
    user_service.delete_user(runtime.sessions, user_id, _context(request, runtime, claims),
                             if_match=request.headers.get("if-match"))
    return Response(status_code=204)


# Groups

@router.get("/Groups")
def list_groups(request: Request, runtime: Runtime = Depends(get_runtime),
                claims: AccessTokenClaims = Depends(_scim)) -> ScimResponse:
    ctx = _context(request, runtime, claims)
    search = read_search(dict(request.query_params), Group, from_body=False)
    with runtime.sessions() as session:
        return ScimResponse(list_resources(session, _group_listing(ctx), search, limits=LIMITS, version=version_of))


@router.post("/Groups/.search")
def search_groups(request: Request, body: Any = Depends(scim_body), runtime: Runtime = Depends(get_runtime),
                  claims: AccessTokenClaims = Depends(_scim)) -> ScimResponse:
    if not isinstance(body, dict):
        raise InvalidValue("a SearchRequest must be a JSON object")
    ctx = _context(request, runtime, claims)
    search = read_search(body, Group, from_body=True)
    with runtime.sessions() as session:
        return ScimResponse(list_resources(session, _group_listing(ctx), search, limits=LIMITS, version=version_of))


@router.post("/Groups")
def create_group(request: Request, body: Any = Depends(scim_body), runtime: Runtime = Depends(get_runtime),
                 claims: AccessTokenClaims = Depends(_scim)) -> Response:
    document = group_service.create_group(runtime.sessions, body, _context(request, runtime, claims))
    return _one(request, document, Group, status=201)


@router.get("/Groups/{group_id}")
def get_group(request: Request, group_id: str, runtime: Runtime = Depends(get_runtime),
              claims: AccessTokenClaims = Depends(_scim)) -> Response:
    return _one(request, group_service.get_group(runtime.sessions, group_id, _context(request, runtime, claims)),
                Group)


@router.put("/Groups/{group_id}")
def replace_group(request: Request, group_id: str, body: Any = Depends(scim_body),
                  runtime: Runtime = Depends(get_runtime), claims: AccessTokenClaims = Depends(_scim)) -> Response:
    document = group_service.replace_group(runtime.sessions, group_id, body, _context(request, runtime, claims),
                                           if_match=request.headers.get("if-match"))
    return _one(request, document, Group)


@router.patch("/Groups/{group_id}")
def patch_group(request: Request, group_id: str, body: Any = Depends(scim_body),
                runtime: Runtime = Depends(get_runtime), claims: AccessTokenClaims = Depends(_scim)) -> Response:
    document = group_service.patch_group(runtime.sessions, group_id, body, _context(request, runtime, claims),
                                         if_match=request.headers.get("if-match"))
    return _one(request, document, Group)


@router.delete("/Groups/{group_id}", status_code=204)
def delete_group(request: Request, group_id: str, runtime: Runtime = Depends(get_runtime),
                 claims: AccessTokenClaims = Depends(_scim)) -> Response:
    group_service.delete_group(runtime.sessions, group_id, _context(request, runtime, claims),
                               if_match=request.headers.get("if-match"))
    return Response(status_code=204)


# Bulk (RFC 7644 §3.7)

@router.post("/Bulk")
def bulk(request: Request, body: Any = Depends(scim_body), runtime: Runtime = Depends(get_runtime),
         claims: AccessTokenClaims = Depends(_scim)) -> ScimResponse:
    parsed = parse_bulk_request(body, max_operations=LIMITS.max_operations)
    ctx = _context(request, runtime, claims)

    def execute(operation: BulkOperation) -> OperationResult:
        kind, _, resource_id = operation.path.strip("/").partition("/")
        services: dict[str, Any] = {"Users": user_service, "Groups": group_service}
        service = services.get(kind)
        if service is None or "/" in resource_id or (operation.method == "POST") == bool(resource_id):
            raise InvalidValue(f"'{operation.method} {operation.path}' is not a Users or Groups operation")
        name = "user" if kind == "Users" else "group"
        if operation.method == "POST":
            document = getattr(service, f"create_{name}")(runtime.sessions, operation.data, ctx)
            return OperationResult(201, document["meta"]["location"], document["meta"]["version"])
        if operation.method == "DELETE":
            getattr(service, f"delete_{name}")(runtime.sessions, resource_id, ctx, if_match=operation.version)
            return OperationResult(204)
        verb = "replace" if operation.method == "PUT" else "patch"
        document = getattr(service, f"{verb}_{name}")(runtime.sessions, resource_id, operation.data, ctx,
                                                      if_match=operation.version)
        return OperationResult(200, document["meta"]["location"], document["meta"]["version"])

    return ScimResponse(run_bulk(parsed, execute))


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def unknown(rest: str) -> Response:
    raise ResourceNotFound(f"'{_PREFIX}/{rest}' is not a SCIM endpoint of this service")

