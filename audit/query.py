"""Searching the log: filters, newest first, opaque keyset cursors, streamed exports.

Every search is served by an index (``(patient|user_id|department|occurred_at, occurred_at, seq)``) and
keyset pagination on ``(occurred_at, seq)``, so page 1,000 costs what page 1 costs. The cursor is the
last row's position, base64url-encoded; it is opaque to clients (they pass ``next_cursor`` back unchanged).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Select, and_, or_, select, tuple_
from sqlalchemy.orm import Session

from audit.errors import BadCursor
from audit.models import AuditEventRow

__all__ = ["EXPORT_FIELDS", "LoggedEvent", "Page", "SearchFilters", "events_page", "iter_events", "patient_events"]

# Core columns, not ORM attributes: an ORM-enabled select costs about 20 µs more a row, which is most of
# the time of "all accesses to patient P".
T = AuditEventRow.__table__.c


class LoggedEvent(BaseModel):
    """An event as privacy officers see it. For admin events ``user_id`` is the actor."""

    model_config = ConfigDict(extra="forbid")

    seq: int
    event_id: str
    kind: Literal["access", "admin"]
    recorded_at: datetime
    occurred_at: datetime
    action: str
    outcome: str | None
    user_id: str | None
    user_national_id: str | None
    user_hpr_number: str | None
    user_name: str | None
    role: str | None
    legal_entity: str | None
    point_of_care: str | None
    department: str | None
    patient: str | None
    data_item: str | None
    purpose_of_use: str | None
    decision_id: str | None
    policy_rule: str | None
    emergency: bool
    self_granted: bool
    reason_text: str | None
    client_id: str | None
    token_jti: str | None
    source_address: str | None
    request_id: str | None
    proxy_for: str | None
    changed: bool | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any] | None


EXPORT_FIELDS = tuple(LoggedEvent.model_fields)
_COLUMNS = [T[name] for name in EXPORT_FIELDS]


def _to_event(row: Any) -> LoggedEvent:
    values = dict(zip(EXPORT_FIELDS, row, strict=True))
    if values["details"] is not None:
        values["details"] = json.loads(values["details"])
    return LoggedEvent.model_validate(values)


@dataclass(frozen=True)
class SearchFilters:
    patient: str | None = None
    user: str | None = None
    unit: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    emergency: bool | None = None
    outcome: str | None = None
    kind: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.patient is not None:
            found.append(T.patient == self.patient)
        if self.user is not None:
            found.append(T.user_id == self.user)
        if self.unit is not None:
            found.append(T.department == self.unit)
        if self.start is not None:
            found.append(T.occurred_at >= self.start)
        if self.end is not None:
            found.append(T.occurred_at <= self.end)
        if self.emergency is not None:
            found.append(T.emergency == self.emergency)
        if self.outcome is not None:
            found.append(T.outcome == self.outcome)
        if self.kind is not None:
            found.append(T.kind == self.kind)
        return found


@dataclass(frozen=True)
class Page:
    events: list[LoggedEvent]
    next_cursor: str | None


def encode_cursor(occurred_at: datetime, seq: int) -> str:
    raw = f"1|{occurred_at.astimezone(UTC).isoformat()}|{seq}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, occurred, seq = raw.split("|")
        when = datetime.fromisoformat(occurred)
        if version != "1" or when.tzinfo is None:
            raise ValueError
        return when, int(seq)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise BadCursor(cursor) from None


def _newest_first(statement: Select[Any], cursor: tuple[datetime, int] | None) -> Select[Any]:
    if cursor is not None:
        statement = statement.where(tuple_(T.occurred_at, T.seq) < tuple_(*cursor))
    return statement.order_by(T.occurred_at.desc(), T.seq.desc())


def _oldest_first(statement: Select[Any], cursor: tuple[datetime, int] | None) -> Select[Any]:
    if cursor is not None:
        statement = statement.where(tuple_(T.occurred_at, T.seq) > tuple_(*cursor))
    return statement.order_by(T.occurred_at, T.seq)


def events_page(session: Session, filters: SearchFilters, *, limit: int, cursor: str | None = None) -> Page:
    """One page of matching events, newest first; raise BadCursor for a cursor we did not issue."""
    position = decode_cursor(cursor) if cursor else None
    statement = _newest_first(select(*_COLUMNS).where(*filters.conditions()), position).limit(limit + 1)
    rows = session.execute(statement).all()
    events = [_to_event(row) for row in rows[:limit]]
    following = encode_cursor(events[-1].occurred_at, events[-1].seq) if len(rows) > limit and events else None
    return Page(events, following)


def iter_events(session: Session, filters: SearchFilters, *, chunk: int = 1000,
                oldest_first: bool = False) -> Iterator[LoggedEvent]:
    """Every matching event, newest first (or oldest first, for SIEM streams), read in keyset chunks."""
    position: tuple[datetime, int] | None = None
    order = _oldest_first if oldest_first else _newest_first
    while True:
        statement = order(select(*_COLUMNS).where(*filters.conditions()), position).limit(chunk)
        rows = session.execute(statement).all()
        for row in rows:
            yield _to_event(row)
        if len(rows) < chunk:
            return
        last = rows[-1]
        position = (last[EXPORT_FIELDS.index("occurred_at")], last[0])


def patient_events(session: Session, national_id: str, *, limit: int,
                   cursor: str | None = None) -> Page:
    """Accesses to the patient's record, and accesses the person made as someone's proxy (domain rule 10).

    Two index-served queries merged in memory, rather than one OR query that neither database can serve
    from one index in time order.
    """
    position = decode_cursor(cursor) if cursor else None
    own = _newest_first(select(*_COLUMNS).where(T.patient == national_id, T.kind == "access"), position)
    as_proxy = _newest_first(select(*_COLUMNS).where(and_(T.user_national_id == national_id,
                                                          T.proxy_for.is_not(None),
                                                          or_(T.patient.is_(None), T.patient != national_id))),
                             position)
    rows = [*session.execute(own.limit(limit + 1)).all(), *session.execute(as_proxy.limit(limit + 1)).all()]
    events = sorted((_to_event(row) for row in rows), key=lambda e: (e.occurred_at, e.seq), reverse=True)
    following = (encode_cursor(events[limit - 1].occurred_at, events[limit - 1].seq)
                 if len(events) > limit else None)
    return Page(events[:limit], following)
