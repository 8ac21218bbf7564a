"""HTTP API for patients (scope ``patient``) and privacy officers' queues (scope ``audit:review``).

* ``GET /audit/v1/patients/{national_id}/accesses``: the patient's access report (see :mod:`audit.patient`
  for what it shows, what it never shows, and whose report a token may read).
* ``POST /audit/v1/patients/{national_id}/accesses/{event_id}/question``: question one access; opens a case.
* ``GET /audit/v1/cases``, ``POST /audit/v1/cases/{id}/answer``: the privacy officer's side of cases.
* ``GET /audit/v1/reviews``, ``POST /audit/v1/reviews/{id}/verdict``: review tasks (break the glass).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, StringConstraints

from audit.patient import access_report, check_own_patient, in_report
from audit.review import answer_case, list_cases, list_reviews, open_case, record_verdict
from audit.schemas import CaseOut, CasePage, PatientReport, QuestionIn, ReviewOut, ReviewPage, VerdictIn
from iam.errors import NotFound
from iam.oauth.bearer import require_scope
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime

__all__ = ["router"]

router = APIRouter(prefix="/audit/v1", tags=["access log: patients and review"])

NationalId = Annotated[str, StringConstraints(pattern=r"^\d{11}$")]


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


@router.get("/patients/{national_id}/accesses", summary="Who accessed my record (patient portal)")
def patient_accesses(
    national_id: NationalId,
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(100, ge=1, le=500),
    claims: AccessTokenClaims = Depends(require_scope("patient")),
    runtime: Runtime = Depends(get_runtime),
) -> PatientReport:
    check_own_patient(claims, national_id)
    with runtime.sessions() as session:
        return access_report(session, national_id, limit=limit, cursor=cursor)


@router.post("/patients/{national_id}/accesses/{event_id}/question", status_code=201,
             summary="Question one access in my report; opens a case for the privacy officer")
def question_access(
    national_id: NationalId,
    event_id: str,
    body: QuestionIn,
    claims: AccessTokenClaims = Depends(require_scope("patient")),
    runtime: Runtime = Depends(get_runtime),
) -> CaseOut:
    check_own_patient(claims, national_id)
    with runtime.sessions.begin() as session:
        if not in_report(session, national_id, event_id):
            raise NotFound(f"access {event_id!r} is not in the access report of this patient")
        return open_case(session, event_id=event_id, patient=national_id, asked_by=claims.subject,
                         question=body.question)


@router.get("/cases", summary="Patients' questions about accesses")
def get_cases(
    status: Literal["open", "answered"] | None = Query("open"),
    limit: int = Query(100, ge=1, le=1000),
    _: AccessTokenClaims = Depends(require_scope("audit:review")),
    runtime: Runtime = Depends(get_runtime),
) -> CasePage:
    with runtime.sessions() as session:
        return CasePage(cases=list_cases(session, status=status, limit=limit))


@router.post("/cases/{case_id}/answer", summary="Answer a patient's question")
def post_answer(
    case_id: str,
    body: AnswerIn,
    claims: AccessTokenClaims = Depends(require_scope("audit:review")),
    runtime: Runtime = Depends(get_runtime),
) -> CaseOut:
    with runtime.sessions.begin() as session:
        return answer_case(session, case_id, answer=body.answer, answered_by=claims.subject)


@router.get("/reviews", summary="Review tasks (every break-the-glass access), oldest first")
def get_reviews(
    status: Literal["open", "closed"] | None = Query("open"),
    limit: int = Query(100, ge=1, le=1000),
    _: AccessTokenClaims = Depends(require_scope("audit:review")),
    runtime: Runtime = Depends(get_runtime),
) -> ReviewPage:
    with runtime.sessions() as session:
        return ReviewPage(reviews=list_reviews(session, status=status, limit=limit))


@router.post("/reviews/{review_id}/verdict", summary="Record the reviewer's verdict and close the task")
def post_verdict(
    review_id: str,
    body: VerdictIn,
    claims: AccessTokenClaims = Depends(require_scope("audit:review")),
    runtime: Runtime = Depends(get_runtime),
) -> ReviewOut:
    with runtime.sessions.begin() as session:
        return record_verdict(session, review_id, verdict=body.verdict, note=body.note, reviewer=claims.subject)
