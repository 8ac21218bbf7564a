"""Hot routes: the few endpoints every call to the service passes through, served beneath the framework.

A decision (``POST /access/v1/evaluation``) or a token (``POST /oauth2/token``) is a few hundred
microseconds of our own work. FastAPI's layers around it (router matching over every route, the
exception and exit-stack middleware, dependency solving, response building) cost about as much again:
a trivial FastAPI endpoint answered 5,000 requests/s on two workers here, less than the decision API's
target. A hot route is an ``async`` function from :class:`HotRequest` to :class:`HotResponse`, looked up
by exact method and path before the framework sees the request; everything else goes to FastAPI.

Behaviour is the service's everywhere: the request-context middleware (request id, access log line,
metrics) wraps both; errors are :class:`~iam.errors.APIError` rendered in the one error shape
(:func:`iam.http.errors.error_body`); an unexpected exception is logged and answered 500 without detail;
a body over the route's limit is refused with 413. Each hot path also has a FastAPI route on the same
path that documents it in OpenAPI and serves it through :func:`serve_through_framework` should the
framework ever receive it (the hot router answers first, so in practice it never does).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from iam.errors import APIError
from iam.http.errors import ErrorParts, api_error_parts, unexpected_error_parts
from iam.http.middleware import request_id_of

__all__ = ["HotRequest", "HotResponse", "HotRoute", "HotRoutes", "json_response", "serve_through_framework"]

_log = logging.getLogger("iam.errors")


class PayloadTooLarge(APIError):
    status = 413
    code = "invalid_request"


class HotRequest:
    """What a hot route sees of a request: the ASGI scope, the whole body and the headers by lower-case name
    (the first of repeated headers, as Starlette's ``headers.get`` gives)."""

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.scope = scope
        self.body = body
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        self.headers = headers

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def app(self) -> Any:
        return self.scope["app"]

    @property
    def request_id(self) -> str:
        return request_id_of(self.scope)

    @property
    def client_host(self) -> str | None:
        client = self.scope.get("client")
        return str(client[0]) if client else None

    @cached_property
    def url(self) -> str:
        """The URL as received (scheme, host header, path, query), built as Starlette builds it."""
        return str(URL(scope=self.scope))


@dataclass(frozen=True, slots=True)
class HotResponse:
    status: int
    body: bytes
    headers: dict[str, str]
    media_type: str = "application/json"


def json_response(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> HotResponse:
    """Compact UTF-8 JSON with ``Cache-Control: no-store`` unless ``headers`` say otherwise."""
    return HotResponse(status, orjson.dumps(body), {"Cache-Control": "no-store", **(headers or {})})


HotHandler = Callable[[HotRequest], Awaitable[HotResponse]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """``path`` doubles as the route label of the HTTP metrics (the middleware reads ``scope["route"].path``)."""

    method: str
    path: str
    handler: HotHandler
    max_body: int = 1 << 20


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _answer(route: HotRoute, scope: Scope, receive: Receive) -> HotResponse:
    request_id = request_id_of(scope)
    try:
        return await route.handler(HotRequest(scope, await _read_body(receive, route.max_body)))
    except APIError as exc:
        return _error(api_error_parts(exc, request_id))
    except Exception:
        _log.exception("unhandled error", extra={"request_id": request_id})
        return _error(unexpected_error_parts(request_id))


def _error(parts: ErrorParts) -> HotResponse:
    return json_response(parts.body, status=parts.status, headers=parts.headers)


class HotRoutes:
    """Pure ASGI: answers the registered (method, path) pairs itself and hands every other request on."""

    def __init__(self, app: ASGIApp, routes: Iterable[HotRoute]) -> None:
        self.app = app
        self._routes = {(route.method, route.path): route for route in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        response = await _answer(route, scope, receive)
        headers = [(b"content-type", response.media_type.encode()),
                   (b"content-length", str(len(response.body)).encode()),
                   *((name.lower().encode("latin-1"), value.encode("latin-1"))
                     for name, value in response.headers.items())]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


async def serve_through_framework(handler: HotHandler, request: Request) -> Response:
    """Run a hot route for a request that came through FastAPI (see the module docstring)."""
    try:
        response = await handler(HotRequest(request.scope, await request.body()))
    except APIError as exc:
        response = _error(api_error_parts(exc, request_id_of(request.scope)))
    return Response(response.body, status_code=response.status, media_type=response.media_type,
                    headers=response.headers)
