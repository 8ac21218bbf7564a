"""Request and response shapes of the access-log APIs (pydantic v2, unknown fields refused)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from audit.events import AccessEvent
from audit.query import LoggedEvent

__all__ = [
    "BatchIn",
    "BatchRecorded",
    "CaseOut",
    "CasePage",
    "EventPage",
    "PatientAccess",
    "PatientReport",
    "QuestionIn",
    "Recorded",
    "ReviewOut",
    "ReviewPage",
    "VerdictIn",
]

MAX_BATCH = 1000


class Recorded(BaseModel):
    event_id: str


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: list[AccessEvent] = Field(min_length=1, max_length=MAX_BATCH)


class BatchRecorded(BaseModel):
    event_ids: list[str]


class EventPage(BaseModel):
    events: list[LoggedEvent]
    next_cursor: str | None


class PatientAccess(BaseModel):
    """One line of the patient's access report: never a staff national id, HPR number or free text."""

    event_id: str
    time: datetime
    staff_name: str | None
    role: str | None
    organisation: str | None
    point_of_care: str | None
    unit: str | None
    data_item: str | None
    action: str
    outcome: str
    purpose_of_use: str | None
    purpose: str | None = Field(description="The purpose in plain words (bokmål).")
    emergency: bool
    changed: bool
    acted_for: str | None = Field(description="When someone used a proxy (fullmakt) for this patient, or "
                                              "this person acted as proxy: the national id of the represented.")
    as_proxy: bool = Field(description="True when this line is an access *made by* this person as a proxy.")


class PatientReport(BaseModel):
    patient: str
    accesses: list[PatientAccess]
    next_cursor: str | None


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class CaseOut(BaseModel):
    id: str
    event_id: str
    patient: str
    status: Literal["open", "answered"]
    question: str
    opened_at: datetime
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None


class CasePage(BaseModel):
    cases: list[CaseOut]


class ReviewOut(BaseModel):
    id: str
    kind: str
    event_id: str | None
    declaration_id: str | None
    patient: str | None
    user_id: str | None
    reason: str
    status: Literal["open", "closed"]
    opened_at: datetime
    verdict: str | None
    note: str | None
    reviewer: str | None
    decided_at: datetime | None


class ReviewPage(BaseModel):
    reviews: list[ReviewOut]


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["justified", "unjustified", "needs_follow_up"]
    note: Annotated[str, StringConstraints(max_length=4000)] | None = None
