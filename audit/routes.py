"""HTTP API of the access log: ingestion (``audit:write``) and privacy officers' queries (``audit:read``).

* ``POST /audit/v1/events`` and ``POST /audit/v1/events:batch``: clinical applications report accesses
  they performed. Answered 201 only once the events are durable; idempotent on ``event_id`` (the same id
  and content again gives the same answer and stores nothing; the same id with other content is 409).
  A missing ``client_id`` is filled with the reporting token's client.
* ``GET /audit/v1/events``: search, newest first, with an opaque ``cursor``.
* ``GET /audit/v1/events/export?format=csv|jsonl``: the same search, streamed in full.
* ``GET /audit/v1/events/{event_id}/proof``: an RFC 9162 inclusion proof (see :mod:`audit.proofs`).
* ``POST /audit/v1/checkpoints`` / ``GET /audit/v1/checkpoints/latest``: sign a checkpoint now / show the
  newest one (keep a copy outside the database: it is what detects a rewrite of the whole log).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from audit.events import AccessEvent
from audit.proofs import build_proof
from audit.query import EXPORT_FIELDS, LoggedEvent, SearchFilters, events_page, iter_events
from audit.schemas import BatchIn, BatchRecorded, EventPage, Recorded
from iam.errors import NotFound
from iam.oauth.bearer import require_scope
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime

__all__ = ["router"]

router = APIRouter(prefix="/audit/v1", tags=["access log"])


def _reported_by(event: AccessEvent, claims: AccessTokenClaims) -> AccessEvent:
    return event if event.client_id is not None else event.model_copy(update={"client_id": claims.client_id})


@router.post("/events", status_code=201, summary="Report one access (durable when answered)")
async def ingest_event(
    event: AccessEvent,
    claims: AccessTokenClaims = Depends(require_scope("audit:write")),
    runtime: Runtime = Depends(get_runtime),
) -> Recorded:
    return Recorded(event_id=await runtime.audit.record_async(_reported_by(event, claims)))


@router.post("/events:batch", status_code=201, summary="Report up to 1000 accesses, stored all or none")
async def ingest_batch(
    body: BatchIn,
    claims: AccessTokenClaims = Depends(require_scope("audit:write")),
    runtime: Runtime = Depends(get_runtime),
) -> BatchRecorded:
    events = [_reported_by(event, claims) for event in body.events]
    return BatchRecorded(event_ids=await runtime.audit.record_many_async(events))


def _filters(
    patient: str | None = Query(None, max_length=128, description="Patient national id"),
    user: str | None = Query(None, max_length=128, description="Internal person id of the user"),
    unit: str | None = Query(None, max_length=128, description="Department (unit) id"),
    start: AwareDatetime | None = Query(None, alias="from", description="Occurred at or after (with zone)"),
    end: AwareDatetime | None = Query(None, alias="to", description="Occurred at or before (with zone)"),
    emergency: bool | None = Query(None),
    outcome: Literal["permit", "deny", "error"] | None = Query(None),
    kind: Literal["access", "admin"] | None = Query(None),
) -> SearchFilters:
    return SearchFilters(patient=patient, user=user, unit=unit, start=start, end=end, emergency=emergency,
                         outcome=outcome, kind=kind)


@router.get("/events", summary="Search the log, newest first")
def search_events(
    filters: SearchFilters = Depends(_filters),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=1000),
    _: AccessTokenClaims = Depends(require_scope("audit:read")),
    runtime: Runtime = Depends(get_runtime),
) -> EventPage:
    with runtime.sessions() as session:
        page = events_page(session, filters, limit=limit, cursor=cursor)
    return EventPage(events=page.events, next_cursor=page.next_cursor)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)


def _csv_lines(events: Iterator[LoggedEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    for count, event in enumerate(events, start=1):
        writer.writerow([_csv_value(getattr(event, name)) for name in EXPORT_FIELDS])
        if count % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _jsonl_lines(events: Iterator[LoggedEvent]) -> Iterator[str]:
    for event in events:
        yield event.model_dump_json() + "\n"


@router.get("/events/export", summary="Export every matching event as CSV or JSON lines (streamed)")
def export_events(
    filters: SearchFilters = Depends(_filters),
    format: Literal["csv", "jsonl"] = Query("jsonl"),
    _: AccessTokenClaims = Depends(require_scope("audit:read")),
    runtime: Runtime = Depends(get_runtime),
) -> StreamingResponse:
    def stream() -> Iterator[str]:
        with runtime.sessions() as session:
            events = iter_events(session, filters)
            yield from (_csv_lines(events) if format == "csv" else _jsonl_lines(events))

    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    filename = f"access-log.{format}"
    return StreamingResponse(stream(), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/events/{event_id}/proof", summary="RFC 9162 inclusion proof of one event under a checkpoint")
def prove_event(
    event_id: str,
    _: AccessTokenClaims = Depends(require_scope("audit:read")),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    checkpointer = runtime.audit.checkpointer
    assert checkpointer is not None
    with runtime.sessions() as session:
        return build_proof(session, checkpointer, event_id)


@router.post("/checkpoints", status_code=201, summary="Sign a checkpoint over the log now")
async def create_checkpoint(
    _: AccessTokenClaims = Depends(require_scope("audit:review")),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    checkpointer = runtime.audit.checkpointer
    assert checkpointer is not None
    await run_in_threadpool(runtime.audit.flush)
    created = await run_in_threadpool(checkpointer.create, force=True)
    assert created is not None
    return created.to_json()


@router.get("/checkpoints/latest", summary="The newest signed checkpoint")
def latest_checkpoint(
    _: AccessTokenClaims = Depends(require_scope("audit:read")),
    runtime: Runtime = Depends(get_runtime),
) -> dict[str, Any]:
    checkpointer = runtime.audit.checkpointer
    assert checkpointer is not None
    latest = checkpointer.latest()
    if latest is None:
        raise NotFound("no checkpoint has been signed yet")
    return latest.to_json()
