"""One JSON error shape for every API: ``{"error", "error_description", "request_id"}``.

The shape follows RFC 6749 §5.2 so OAuth clients read it natively. No traceback ever reaches a client;
unexpected errors are logged with the request id, which the client can quote to an operator.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from iam.errors import APIError
from iam.http.middleware import request_id_of
from iam.oauth.errors import OAuthError

__all__ = ["error_response", "install_error_handlers"]

_log = logging.getLogger("iam.errors")


def error_response(request: Request, *, status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    request_id = request_id_of(request.scope)
    body = {"error": code, "error_description": message, "request_id": request_id}
    response_headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=response_headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(item) for item in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        if isinstance(exc, OAuthError) and exc.log_detail:
            _log.info("oauth error", extra={"code": exc.code, "detail": exc.log_detail,
                                            "request_id": request_id_of(request.scope)})
        return error_response(request, status=exc.status, code=exc.code, message=exc.message,
                              headers=exc.headers)

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
        return error_response(request, status=500, code="server_error",
                              message="internal error; quote the request id to the operator")
