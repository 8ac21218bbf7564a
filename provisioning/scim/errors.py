"""SCIM errors (RFC 7644 §3.12): each class knows its HTTP status and its ``scimType``.

::

    ScimError                       400 (no scimType)
    ├── InvalidFilter               400 invalidFilter   filter syntax or an attribute the resource has not
    ├── TooMany                     400 tooMany         more results than the service will return
    ├── Uniqueness                  409 uniqueness      a unique attribute (userName, national id...) is taken
    ├── Mutability                  400 mutability      a readOnly/immutable attribute was changed
    ├── InvalidSyntax               400 invalidSyntax   the body is not JSON or not the message's structure
    ├── InvalidPath                 400 invalidPath     a PATCH path that is malformed or names nothing
    ├── NoTarget                    400 noTarget        a PATCH path filter that matched no value
    ├── InvalidValue                400 invalidValue    a value of the wrong type, or one our rules refuse
    ├── InvalidVersion              400 invalidVers     an unsupported SCIM protocol version
    ├── ResourceNotFound            404                 no such resource (also: deleted users)
    ├── PreconditionFailed          412                 If-Match names another version (RFC 7644 §3.14)
    ├── PayloadTooLarge             413                 body or Bulk request over the announced limits
    └── NotImplementedFeature       501                 an operation ServiceProviderConfig says we lack

Every error renders as the RFC's error message ``{"schemas": [...Error], "status": "409", "scimType":
"uniqueness", "detail": "..."}``; details name the offending value and what was expected. Errors from
scim2-models (the library behind our models, filters and PATCH) and pydantic validation errors are turned
into these by :func:`from_library` and :func:`from_validation`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Error, SCIMException

__all__ = [
    "ERROR_SCHEMA",
    "InvalidFilter",
    "InvalidPath",
    "InvalidSyntax",
    "InvalidValue",
    "InvalidVersion",
    "Mutability",
    "NoTarget",
    "NotImplementedFeature",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ResourceNotFound",
    "ScimError",
    "TooMany",
    "Uniqueness",
    "error_body",
    "from_library",
    "from_validation",
]

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(status=self.status, scim_type=self.scim_type, detail=self.detail)


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class TooMany(ScimError):
    scim_type = "tooMany"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class Mutability(ScimError):
    scim_type = "mutability"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidVersion(ScimError):
    scim_type = "invalidVers"


class ResourceNotFound(ScimError):
    status = 404


class PreconditionFailed(ScimError):
    status = 412


class PayloadTooLarge(ScimError):
    status = 413


class NotImplementedFeature(ScimError):
    status = 501


def error_body(*, status: int, scim_type: str | None, detail: str) -> dict[str, Any]:
    """The RFC 7644 §3.12 error message; ``status`` is a JSON string there, as the RFC's examples show."""
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return body


_BY_TYPE: dict[str, type[ScimError]] = {
    cls.scim_type: cls
    for cls in (InvalidFilter, TooMany, Uniqueness, Mutability, InvalidSyntax, InvalidPath, NoTarget,
                InvalidValue, InvalidVersion)
    if cls.scim_type
}
_BY_STATUS: dict[int, type[ScimError]] = {404: ResourceNotFound, 412: PreconditionFailed,
                                          413: PayloadTooLarge, 501: NotImplementedFeature}


def _error_of(status: int, scim_type: str | None, detail: str) -> ScimError:
    cls = _BY_TYPE.get(scim_type or "") or _BY_STATUS.get(status) or InvalidValue
    return cls(detail)


def from_library(exc: SCIMException) -> ScimError:
    """Our error for one raised by scim2-models, keeping its scimType and its detail."""
    error = exc.to_error()
    return _error_of(error.status or exc.status, error.scim_type, error.detail or str(exc))


def from_validation(exc: ValidationError, *, what: str) -> ScimError:
    """Our error for a payload pydantic refused: the first problem, with where it is.

    An attribute the schema does not define is ``invalidSyntax`` ("unknown attributes rejected", as the
    SCIM interoperability profile §5.3 asks); a value of the wrong type is ``invalidValue``; errors the
    library raised as SCIM errors keep their own scimType (``mutability``, ``noTarget``...).
    """
    first = exc.errors()[0]
    if first["type"] == "extra_forbidden":
        location = ".".join(str(part) for part in first["loc"])
        return InvalidSyntax(f"{what}: attribute '{location}' is not defined by the resource's schemas")
    error = Error.from_validation_error(first)
    return _error_of(error.status or 400, error.scim_type, f"{what}: {error.detail}")
