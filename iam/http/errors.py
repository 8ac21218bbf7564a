"""One JSON error shape for every API: ``{"error", "error_description", "request_id"}``.

The shape follows RFC 6749 §5.2 so OAuth clients read it natively. No traceback ever reaches a client;
unexpected errors are logged with the request id, which the client can quote to an operator. The parts
of an error response are built here once, for FastAPI's exception handlers and for the hot routes
(:mod:`iam.http.hot`).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from iam.errors import APIError
from iam.http.middleware import request_id_of
from iam.oauth.errors import OAuthError

__all__ = ["ErrorParts", "api_error_parts", "error_response", "install_error_handlers", "unexpected_error_parts"]

_log = logging.getLogger("iam.errors")


class ErrorParts(NamedTuple):
    body: dict[str, Any]
    status: int
    headers: dict[str, str]


def error_parts(request_id: str, *, status: int, code: str, message: str,
                headers: dict[str, str] | None = None) -> ErrorParts:
    body = {"error": code, "error_description": message, "request_id": request_id}
    return ErrorParts(body, status, {"Cache-Control": "no-store", **(headers or {})})


def api_error_parts(exc: APIError, request_id: str) -> ErrorParts:
    if isinstance(exc, OAuthError) and exc.log_detail:
        _log.info("oauth error", extra={"code": exc.code, "detail": exc.log_detail, "request_id": request_id})
    return error_parts(request_id, status=exc.status, code=exc.code, message=exc.message, headers=exc.headers)


def unexpected_error_parts(request_id: str) -> ErrorParts:
    return error_parts(request_id, status=500, code="server_error",
                       message="internal error; quote the request id to the operator")


def _json(parts: ErrorParts) -> JSONResponse:
    return JSONResponse(parts.body, status_code=parts.status, headers=parts.headers)


def error_response(request: Request, *, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return _json(error_parts(request_id_of(request.scope), status=status, code=code, message=message,
                             headers=headers))


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = error.get("loc", ())
        if error.get("type") == "json_invalid":
            # FastAPI puts the character offset where the location would be, and the parser's reason in ctx.
            why = (error.get("ctx") or {}).get("error", "JSON decode error")
            parts.append(f"body: not valid JSON ({why} at character {location[-1] if len(location) > 1 else 0})")
            continue
        parts.append(f"{'.'.join(str(item) for item in location)}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return _json(api_error_parts(exc, request_id_of(request.scope)))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, status=422, code="invalid_request", message=_describe_validation(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        return error_response(request, status=exc.status_code, code=code, message=str(exc.detail),
                              headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error", extra={"request_id": request_id_of(request.scope)})
        return _json(unexpected_error_parts(request_id_of(request.scope)))
