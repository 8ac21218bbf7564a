"""Pure ASGI middleware: request id, access log and Prometheus metrics in one pass.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a queue per request. It is
the outermost layer of the application (see :mod:`iam.app`), so every response, the hot routes' and the
framework's error pages included, carries the request id and is counted and logged once.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from iam.logs import log_request

__all__ = ["RequestContextMiddleware", "request_id_of"]

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

REQUESTS = Counter("iam_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "iam_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


# A request id names a request in logs; it needs to be unique, not secret. A random per-process prefix
# plus a counter is unique across processes and nodes and costs a fraction of a uuid4 (a system call).
_ID_PREFIX = os.urandom(11).hex()
_ID_COUNTER = itertools.count(1)


def _new_id_prefix() -> None:
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX, _ID_COUNTER = os.urandom(11).hex(), itertools.count(1)


os.register_at_fork(after_in_child=_new_id_prefix)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):010x}"


# prometheus_client's labels() takes a lock and builds a key on every call; the label sets are few.
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _observe(method: str, route: str, status: int, elapsed: float) -> None:
    key = (method, route, status)
    series = _series.get(key)
    if series is None:
        series = _series.setdefault(key, (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)))
    series[0].inc()
    series[1].observe(elapsed)


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.get("state", {})
    return str(state.get("request_id", ""))


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        # A caller's id is echoed only when it is a harmless token, so it cannot inject into logs.
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            _observe(scope["method"], route, status, elapsed)
            client = scope.get("client")
            # The route's template, not the path: paths carry national ids (/audit/v1/patients/{national_id}/...),
            # which have no place in an operations log. An unmatched path is logged to help find the mistake.
            log_request({"request_id": request_id, "method": scope["method"],
                         "path": scope["path"] if route == "unmatched" else route, "status": status,
                         "duration_ms": round(elapsed * 1000, 3), "client": client[0] if client else None})
