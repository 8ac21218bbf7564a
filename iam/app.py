"""The application factory: one FastAPI app with every product area's router, and the hot routes beneath it.

Request layers, outermost first: request context (id, access log line, metrics), the hot routes
(:mod:`iam.http.hot`: decisions and tokens), then FastAPI with everything else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry import _logs as otel_logs
from opentelemetry import metrics, trace
from starlette.types import ASGIApp

from audit import fhir_routes as audit_fhir_routes
from audit import people_routes as audit_people_routes
from audit import routes as audit_routes
from iam import __version__
from iam.authz import facts_routes as authz_facts_routes
from iam.authz import routes as authz_routes
from iam.config import Settings
from iam.http import health
from iam.http.errors import install_error_handlers
from iam.http.hot import HotRoute, HotRoutes
from iam.http.middleware import RequestContextMiddleware
from iam.logs import flush_request_lines
from iam.oauth import client_admin
from iam.oauth import routes as oauth_routes
from iam.runtime import Runtime
from provisioning import routes as provisioning_routes
from provisioning.scheduler import start_scheduler
from provisioning.scim import routes as scim_routes

__all__ = ["ServiceApp", "create_app"]

DESCRIPTION = """Identity and access management for a shared regional patient record.

Every API needs a bearer token with the right scope (get one at `POST /oauth2/token`), except discovery,
JWKS and the health endpoints."""


class ServiceApp(FastAPI):
    """FastAPI with the request-context middleware outermost and the hot routes in front of the framework."""

    hot_routes: tuple[HotRoute, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContextMiddleware(HotRoutes(super().build_middleware_stack(), self.hot_routes))


# The provider types OpenTelemetry's API hands out until a provider is set up (FastAPI tells them apart the
# same way: the API has no public "is configured" query).
_NOT_SET_UP = frozenset({"ProxyTracerProvider", "NoOpTracerProvider", "_ProxyMeterProvider", "NoOpMeterProvider",
                         "ProxyLoggerProvider", "NoOpLoggerProvider"})


def _telemetry() -> TelemetryConfig:
    """FastAPI's own OpenTelemetry spans, metrics and logs, each only when the process has set up that
    provider before the app is built (``opentelemetry-instrument`` does so) or asks FastAPI to configure them;
    otherwise off. Left on, FastAPI asked the global providers on every request whether they had been
    configured since, 3 % of a token request. Our own Prometheus metrics (``/metrics``) do not depend on it."""
    if os.environ.get("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return {}
    return {"tracing": _set_up(trace.get_tracer_provider()), "metrics": _set_up(metrics.get_meter_provider()),
            "logs": _set_up(otel_logs.get_logger_provider())}


def _set_up(provider: object) -> bool:
    return type(provider).__name__ not in _NOT_SET_UP


_log = logging.getLogger("iam.authz")

# How long a starting server process waits for its bulk load of every user's roles before it serves. Serving
# before that load ends costs one database look-up per user on first sight, and at scale 5.0 (200,000 staff)
# under benchmark load that load then took over 55 s instead of 5-7 s, every decision meanwhile competing
# with it for the GIL (bench/authz_http.py --scale 5.0). A load that fails or outlasts this wait is not
# waited for: the process serves and looks users up one by one.
SUBJECT_LOAD_WAIT_S = 120.0


async def _wait_for_subjects(runtime: Runtime) -> None:
    if not await anyio.to_thread.run_sync(runtime.authz.wait_for_subjects, SUBJECT_LOAD_WAIT_S):
        _log.warning("serving before the bulk load of users ended", extra={"waited_s": SUBJECT_LOAD_WAIT_S})


def create_app(settings: Settings, *, runtime: Runtime | None = None) -> ServiceApp:
    """Build the app. The runtime (database, keys) starts with the app unless one is handed in."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = runtime is None
        app.state.runtime = runtime or Runtime.start(settings)
        await _wait_for_subjects(app.state.runtime)
        scheduler = start_scheduler(app.state.runtime)
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            if own:
                app.state.runtime.close()
            flush_request_lines()

    app = ServiceApp(title="IAM for shared patient records", version=__version__, description=DESCRIPTION,
                     lifespan=lifespan, telemetry=_telemetry())
    if runtime is not None:
        app.state.runtime = runtime
    install_error_handlers(app)
    app.hot_routes = (*oauth_routes.HOT_ROUTES, *authz_routes.HOT_ROUTES)
    app.include_router(health.router)
    app.include_router(oauth_routes.router)
    app.include_router(client_admin.router)
    app.include_router(authz_routes.router)
    app.include_router(authz_facts_routes.router)
    app.include_router(scim_routes.router)
    app.include_router(provisioning_routes.router)
    app.include_router(audit_routes.router)
    app.include_router(audit_people_routes.router)
    app.include_router(audit_fhir_routes.router)
    return app
