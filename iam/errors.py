"""The service's error hierarchy: each class knows its HTTP status and wire code.

::

    APIError                      400 invalid_request (base)
    ├── NotFound                  404 not_found
    ├── Conflict                  409 conflict
    ├── ServiceUnavailable        503 unavailable
    └── iam.oauth.errors.OAuthError and its RFC 6749 / RFC 6750 subclasses

One handler (iam.http.errors) renders every APIError as
``{"error": code, "error_description": message, "request_id": id}``.
"""

from __future__ import annotations

__all__ = ["APIError", "Conflict", "NotFound", "ServiceUnavailable"]


class APIError(Exception):
    status: int = 400
    code: str = "invalid_request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class NotFound(APIError):
    status = 404
    code = "not_found"


class Conflict(APIError):
    status = 409
    code = "conflict"


class ServiceUnavailable(APIError):
    status = 503
    code = "unavailable"
