"""``GET /fhir/AuditEvent``: FHIR R4 search over the access log (scope ``audit:read``).

Errors are FHIR OperationOutcome resources (what FHIR clients read), with the same status codes as the
rest of the API: 400 for an unusable search parameter or cursor.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from audit.errors import BadCursor
from audit.fhir import SearchError, parse_search, searchset
from audit.query import SearchFilters, events_page
from iam.oauth.bearer import require_scope
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime

__all__ = ["router"]

router = APIRouter(prefix="/fhir", tags=["FHIR"])
FHIR_JSON = "application/fhir+json"


def _outcome(status: int, code: str, message: str) -> JSONResponse:
    body: dict[str, Any] = {"resourceType": "OperationOutcome",
                            "issue": [{"severity": "error", "code": code, "diagnostics": message}]}
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


@router.get("/AuditEvent", summary="Search AuditEvents (patient, agent, date, _count)",
            response_class=JSONResponse)
def search_audit_events(
    request: Request,
    _: AccessTokenClaims = Depends(require_scope("audit:read")),
    runtime: Runtime = Depends(get_runtime),
) -> JSONResponse:
    try:
        search = parse_search(list(request.query_params.multi_items()))
        filters = SearchFilters(patient=search.patient, user=search.agent, start=search.start, end=search.end,
                                kind="access")
        with runtime.sessions() as session:
            page = events_page(session, filters, limit=search.count, cursor=search.cursor)
    except SearchError as exc:
        return _outcome(400, "invalid", str(exc))
    except BadCursor as exc:
        return _outcome(400, "invalid", exc.message)
    server = runtime.settings.issuer_url
    base = f"{server}/fhir/AuditEvent"
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "_cursor"]
    self_url = f"{base}?{urlencode(request.query_params.multi_items())}"
    next_url = f"{base}?{urlencode([*params, ('_cursor', page.next_cursor)])}" if page.next_cursor else None
    return JSONResponse(searchset(page.events, server=server, self_url=self_url, next_url=next_url),
                        media_type=FHIR_JSON)
