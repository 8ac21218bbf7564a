"""Privacy officers' work queues: review tasks (every break-the-glass access) and patients' questions (cases).

Functions take the caller's session and never commit; each change also writes an admin event into the
log in that same transaction, so who reviewed what, and when, is itself tamper-evident.

* :func:`open_review_task` is called by the decision engine for every emergency declaration (domain rule 5:
  100 % reviewed), and may be called for any access that needs a human look.
* :func:`record_verdict` closes a task with ``justified``, ``unjustified`` or ``needs_follow_up``.
* :func:`open_case` is a patient questioning one access in their report (domain rule 7);
  :func:`answer_case` is the privacy officer's answer.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.admin import record_admin_event
from audit.events import AdminEvent, new_event_id
from audit.models import CaseRow, ReviewRow
from audit.schemas import CaseOut, ReviewOut
from iam.db.base import utc_now
from iam.errors import Conflict, NotFound

__all__ = [
    "REVIEW_KINDS",
    "answer_case",
    "list_cases",
    "list_reviews",
    "open_case",
    "open_review_task",
    "record_verdict",
]

REVIEW_KINDS = ("break_the_glass", "questioned_access", "anomaly")


def _review(row: ReviewRow) -> ReviewOut:
    return ReviewOut.model_validate(row, from_attributes=True)


def _case(row: CaseRow) -> CaseOut:
    return CaseOut.model_validate(row, from_attributes=True)


def open_review_task(session: Session, *, kind: str, event_id: str | None = None,
                     declaration_id: str | None = None, patient: str | None = None, user_id: str | None = None,
                     reason: str, actor: str = "iam") -> str:
    """Queue a review task and return its id. ``kind`` is one of :data:`REVIEW_KINDS`.

    Raises ValueError for an unknown kind or when neither ``event_id`` nor ``declaration_id`` is given.
    """
    if kind not in REVIEW_KINDS:
        raise ValueError(f"review kind {kind!r} is not one of {', '.join(REVIEW_KINDS)}")
    if event_id is None and declaration_id is None:
        raise ValueError("a review task needs the event_id or the declaration_id it is about")
    review_id = new_event_id()
    session.add(ReviewRow(id=review_id, kind=kind, event_id=event_id, declaration_id=declaration_id,
                          patient=patient, user_id=user_id, reason=reason[:4000], status="open",
                          opened_at=utc_now()))
    record_admin_event(session, AdminEvent(actor=actor, action="review.open", target_type="review",
                                           target_id=review_id, details={"kind": kind, "event_id": event_id,
                                                                         "declaration_id": declaration_id}))
    return review_id


def list_reviews(session: Session, *, status: str | None = "open", limit: int = 100) -> list[ReviewOut]:
    """Review tasks, oldest first (the queue order)."""
    statement = select(ReviewRow).order_by(ReviewRow.opened_at, ReviewRow.id).limit(limit)
    if status is not None:
        statement = statement.where(ReviewRow.status == status)
    return [_review(row) for row in session.scalars(statement)]


def record_verdict(session: Session, review_id: str, *, verdict: str, note: str | None, reviewer: str) -> ReviewOut:
    """Close a review task; raise NotFound for an unknown id and Conflict when it is already closed."""
    row = session.get(ReviewRow, review_id)
    if row is None:
        raise NotFound(f"review task {review_id!r} does not exist")
    if row.status != "open":
        raise Conflict(f"review task {review_id!r} already has the verdict {row.verdict!r}")
    row.status, row.verdict, row.note = "closed", verdict, note
    row.reviewer, row.decided_at = reviewer, utc_now()
    record_admin_event(session, AdminEvent(actor=reviewer, action="review.verdict", target_type="review",
                                           target_id=review_id, details={"verdict": verdict}))
    session.flush()
    return _review(row)


def open_case(session: Session, *, event_id: str, patient: str, asked_by: str, question: str) -> CaseOut:
    """A patient's question about one access; the caller checked that the access is in their report."""
    row = CaseRow(id=new_event_id(), event_id=event_id, patient=patient, asked_by=asked_by, question=question,
                  status="open", opened_at=utc_now())
    session.add(row)
    record_admin_event(session, AdminEvent(actor=asked_by, action="case.open", target_type="case",
                                           target_id=row.id, details={"event_id": event_id}))
    session.flush()
    return _case(row)


def list_cases(session: Session, *, status: str | None = "open", limit: int = 100) -> list[CaseOut]:
    statement = select(CaseRow).order_by(CaseRow.opened_at, CaseRow.id).limit(limit)
    if status is not None:
        statement = statement.where(CaseRow.status == status)
    return [_case(row) for row in session.scalars(statement)]


def answer_case(session: Session, case_id: str, *, answer: str, answered_by: str) -> CaseOut:
    row = session.get(CaseRow, case_id)
    if row is None:
        raise NotFound(f"case {case_id!r} does not exist")
    if row.status != "open":
        raise Conflict(f"case {case_id!r} is already answered")
    row.status, row.answer, row.answered_by, row.answered_at = "answered", answer, answered_by, utc_now()
    record_admin_event(session, AdminEvent(actor=answered_by, action="case.answer", target_type="case",
                                           target_id=case_id))
    session.flush()
    return _case(row)
