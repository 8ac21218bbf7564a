"""Bulk operations (RFC 7644 §3.7): parse, resolve ``bulkId`` references, run in order, report each result.

What is enforced: the message schema; at most ``max_operations`` operations (413, as §3.7.4 requires;
the body size is checked by the caller before parsing); ``bulkId`` on every POST and unique within the
request; ``failOnErrors`` (stop after that many failed operations, leaving the rest unprocessed).

``bulkId:<id>`` references may appear in an operation's ``path`` or anywhere in its ``data`` (for example a
Group's ``members[].value``). They are resolved to the id the POST with that bulkId created. An operation is
run once every bulkId it references is resolved, so a reference to a *later* POST works too (§3.7.2);
references that can never be resolved (a circle, an unknown bulkId or a failed POST) fail that operation
with 409 ``invalidValue``. Operations are not atomic together: each one commits on its own (§3.7).

The caller supplies ``execute(operation) -> OperationResult`` that runs one resolved operation and raises
:class:`~provisioning.scim.errors.ScimError` when it fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provisioning.scim.errors import InvalidSyntax, InvalidValue, PayloadTooLarge, ScimError

__all__ = [
    "BULK_REQUEST_SCHEMA",
    "BULK_RESPONSE_SCHEMA",
    "BulkOperation",
    "OperationResult",
    "parse_bulk_request",
    "run_bulk",
]

BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_REFERENCE = re.compile(r"^bulkId:(.+)$")
_OPERATION_KEYS = frozenset({"method", "bulkId", "version", "path", "data"})


@dataclass(frozen=True)
class BulkOperation:
    """One operation of a Bulk request. ``path`` is relative to the SCIM base (``/Users/2819c223``)."""

    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any


@dataclass(frozen=True)
class OperationResult:
    status: int
    location: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class _Request:
    operations: list[BulkOperation]
    fail_on_errors: int | None


def parse_bulk_request(body: Any, *, max_operations: int) -> _Request:
    """Check the BulkRequest message; raise InvalidSyntax, InvalidValue or PayloadTooLarge (413)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("a BulkRequest must be a JSON object")
    unknown = sorted(set(body) - {"schemas", "failOnErrors", "Operations"})
    if unknown:
        raise InvalidSyntax(f"BulkRequest: attribute '{unknown[0]}' is not defined by the BulkRequest schema")
    if body.get("schemas") != [BULK_REQUEST_SCHEMA]:
        raise InvalidSyntax(f"BulkRequest: schemas must be ['{BULK_REQUEST_SCHEMA}']")
    raw = body.get("Operations")
    if not isinstance(raw, list) or not raw:
        raise InvalidSyntax("BulkRequest: 'Operations' must be a non-empty array")
    if len(raw) > max_operations:
        raise PayloadTooLarge(f"the Bulk request has {len(raw)} operations; maxOperations is {max_operations}")
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int)
                                       or fail_on_errors < 1):
        raise InvalidValue(f"BulkRequest: failOnErrors must be a positive integer, not {fail_on_errors!r}")
    operations = [_operation(index, item) for index, item in enumerate(raw)]
    seen: set[str] = set()
    for operation in operations:
        if operation.bulk_id is not None:
            if operation.bulk_id in seen:
                raise InvalidValue(f"BulkRequest: bulkId '{operation.bulk_id}' is used twice")
            seen.add(operation.bulk_id)
    return _Request(operations=operations, fail_on_errors=fail_on_errors)


def _operation(index: int, item: Any) -> BulkOperation:
    where = f"Operations[{index}]"
    if not isinstance(item, dict):
        raise InvalidSyntax(f"{where} must be an object")
    unknown = sorted(set(item) - _OPERATION_KEYS)
    if unknown:
        raise InvalidSyntax(f"{where}: attribute '{unknown[0]}' is not defined for a bulk operation")
    method = item.get("method")
    if not isinstance(method, str) or method.upper() not in _METHODS:
        raise InvalidValue(f"{where}.method must be one of {', '.join(_METHODS)}, not {method!r}")
    method = method.upper()
    path = item.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidValue(f"{where}.path must be a resource path such as '/Users', not {path!r}")
    bulk_id = item.get("bulkId")
    if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
        raise InvalidValue(f"{where}.bulkId must be a non-empty string")
    if method == "POST" and bulk_id is None:
        raise InvalidValue(f"{where}: a POST operation needs a bulkId")
    version = item.get("version")
    if version is not None and not isinstance(version, str):
        raise InvalidValue(f"{where}.version must be a string")
    if method in ("POST", "PUT", "PATCH") and not isinstance(item.get("data"), dict):
        raise InvalidSyntax(f"{where}: a {method} operation needs a 'data' object")
    return BulkOperation(method=method, path=path, bulk_id=bulk_id, version=version, data=item.get("data"))


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return {match.group(1)} if match else set()
    if isinstance(value, list):
        return set().union(*(_references(item) for item in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_references(item) for item in value.values())) if value else set()
    return set()


def _path_references(path: str) -> set[str]:
    return {segment.removeprefix("bulkId:") for segment in path.split("/") if segment.startswith("bulkId:")}


def _resolve(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return ids[match.group(1)] if match else value
    if isinstance(value, list):
        return [_resolve(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, ids) for key, item in value.items()}
    return value


def _resolved(operation: BulkOperation, ids: dict[str, str]) -> BulkOperation:
    path = "/".join(ids[part.removeprefix("bulkId:")] if part.startswith("bulkId:") else part
                    for part in operation.path.split("/"))
    return BulkOperation(method=operation.method, path=path, bulk_id=operation.bulk_id,
                         version=operation.version, data=_resolve(operation.data, ids))


def _entry(operation: BulkOperation, *, status: int, location: str | None = None, version: str | None = None,
           error: ScimError | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"method": operation.method}
    if operation.bulk_id is not None:
        entry["bulkId"] = operation.bulk_id
    if version is not None:
        entry["version"] = version
    if location is not None:
        entry["location"] = location
    entry["status"] = str(status)
    if error is not None:
        entry["response"] = error.body()
    return entry


def run_bulk(request: _Request, execute: Callable[[BulkOperation], OperationResult]) -> dict[str, Any]:
    """Run the operations (in request order, an operation waiting for the bulkIds it references) and build
    the BulkResponse. Stops once ``failOnErrors`` operations have failed."""
    pending = list(request.operations)
    created: dict[str, str] = {}
    failed_ids: set[str] = set()
    results: list[dict[str, Any]] = []
    errors = 0
    while pending:
        ready = next((op for op in pending
                      if (_references(op.data) | _path_references(op.path)) <= created.keys()), None)
        if ready is None:
            # Nothing can progress: every remaining operation waits on a bulkId that failed, is unknown
            # or belongs to a circle. Fail the first one and try again (it may unblock nothing, then the next).
            ready = pending[0]
            missing = sorted((_references(ready.data) | _path_references(ready.path)) - created.keys())
            reason = ("failed" if missing[0] in failed_ids else "is not created by any POST in this request, or "
                      "the references form a circle")
            error: ScimError = InvalidValue(f"bulkId '{missing[0]}' {reason}")
            error.status = 409
            pending.remove(ready)
            if ready.bulk_id is not None:
                failed_ids.add(ready.bulk_id)
            results.append(_entry(ready, status=409, error=error))
            errors += 1
        else:
            pending.remove(ready)
            try:
                outcome = execute(_resolved(ready, created))
            except ScimError as exc:
                if ready.bulk_id is not None:
                    failed_ids.add(ready.bulk_id)
                results.append(_entry(ready, status=exc.status, error=exc))
                errors += 1
            else:
                if ready.bulk_id is not None and ready.method == "POST" and outcome.location:
                    created[ready.bulk_id] = outcome.location.rstrip("/").rsplit("/", 1)[-1]
                results.append(_entry(ready, status=outcome.status, location=outcome.location,
                                      version=outcome.version))
        if request.fail_on_errors is not None and errors >= request.fail_on_errors:
            break
    return {"schemas": [BULK_RESPONSE_SCHEMA], "Operations": results}

