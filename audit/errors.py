"""Errors of the access log, each with its HTTP status and wire code.

::

    iam.errors.APIError
    ├── AuditUnavailable      503 audit_unavailable   the log cannot be written: deny, do not proceed unlogged
    ├── EventConflict         409 conflict            same event_id, different content (idempotency key reuse)
    ├── BadCursor             400 invalid_request     a pagination cursor this service did not issue
    └── PatientMismatch       403 forbidden           a patient token reading another patient's report
"""

from __future__ import annotations

from iam.errors import APIError, Conflict

__all__ = ["AuditUnavailable", "BadCursor", "EventConflict", "PatientMismatch"]


class AuditUnavailable(APIError):
    """The access log could not make an event durable. Callers must deny the access this event records."""

    status = 503
    code = "audit_unavailable"


class EventConflict(Conflict):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"event_id {event_id!r} was already recorded with different content; "
                         "an event id may be reused only for the identical event")
        self.event_id = event_id


class BadCursor(APIError):
    def __init__(self, cursor: str) -> None:
        shown = cursor if len(cursor) <= 40 else cursor[:40] + "..."
        super().__init__(f"cursor {shown!r} is not a cursor this service issued; "
                         "pass the next_cursor of a previous page unchanged")


class PatientMismatch(APIError):
    status = 403
    code = "forbidden"
