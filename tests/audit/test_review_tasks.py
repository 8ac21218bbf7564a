"""Review tasks: the decision engine opens one per break-the-glass declaration; officers record verdicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from audit.query import SearchFilters, events_page
from audit.review import open_review_task
from iam.runtime import Runtime
from tests.audit.conftest import PATIENT

Bearer = Callable[..., dict[str, str]]


def test_break_the_glass_review_is_queued_and_closed_with_a_verdict(api: TestClient, bearer: Bearer,
                                                                     runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        review_id = open_review_task(session, kind="break_the_glass", declaration_id="decl-1", patient=PATIENT,
                                     user_id="person-17", reason="hjertestans, pasient bevisstløs")
    headers = bearer("audit:review")
    queued = api.get("/audit/v1/reviews", headers=headers).json()["reviews"]
    verdict = api.post(f"/audit/v1/reviews/{review_id}/verdict", json={"verdict": "justified", "note": "ok"},
                       headers=headers)
    again = api.post(f"/audit/v1/reviews/{review_id}/verdict", json={"verdict": "unjustified"}, headers=headers)
    assert [(r["id"], r["kind"], r["declaration_id"], r["status"]) for r in queued] == [
        (review_id, "break_the_glass", "decl-1", "open")]
    assert (verdict.status_code, verdict.json()["status"], verdict.json()["verdict"]) == (200, "closed", "justified")
    assert (again.status_code, again.json()["error_description"]) == (
        409, f"review task '{review_id}' already has the verdict 'justified'")
    assert api.get("/audit/v1/reviews", headers=headers).json()["reviews"] == []
    runtime.audit.flush()
    with runtime.sessions() as session:
        actions = [e.action for e in events_page(session, SearchFilters(kind="admin"), limit=10).events]
    assert actions == ["review.verdict", "review.open"]


def test_review_task_needs_a_subject() -> None:
    with pytest.raises(ValueError, match="needs the event_id or the declaration_id"):
        open_review_task(None, kind="break_the_glass", reason="x")  # type: ignore[arg-type]


def test_unknown_review_and_bad_verdict_are_refused(api: TestClient, bearer: Bearer) -> None:
    headers = bearer("audit:review")
    missing = api.post("/audit/v1/reviews/nope/verdict", json={"verdict": "justified"}, headers=headers)
    bad = api.post("/audit/v1/reviews/nope/verdict", json={"verdict": "fine"}, headers=headers)
    assert (missing.status_code, missing.json()["error_description"]) == (404, "review task 'nope' does not exist")
    assert (bad.status_code, bad.json()["error_description"]) == (
        422, "body.verdict: Input should be 'justified', 'unjustified' or 'needs_follow_up'")
