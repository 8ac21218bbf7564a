"""Break the glass (domain.md rule 5): declare, time-boxed access flagged in the log, review task, named block."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from audit.models import ReviewRow
from audit.query import SearchFilters, events_page
from iam.runtime import Runtime
from tests.authz.conftest import PATIENT, evaluation, logged
from tests.authz.world import World


def _declare(client: TestClient, headers: dict[str, str], user: str, **extra: Any) -> Any:
    return client.post("/access/v1/emergency", headers=headers, json={
        "user": user, "patient": PATIENT, "reason_code": "unconscious_patient", "reason_text": "found at home",
        **extra})


def test_breaking_the_glass_grants_time_boxed_flagged_access_and_opens_a_review(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str],
        emergency_headers: dict[str, str]) -> None:
    dr = world["dr_surgery"]
    before = client.post("/access/v1/evaluation", headers=authz_headers,
                         json=evaluation(dr.person_id, purpose="BTG")).json()
    assert before["context"]["reason_code"] == "no_emergency_declaration"
    response = _declare(client, emergency_headers, f"hpr:{dr.hpr_number}")
    assert response.status_code == 201
    declaration = response.json()
    declared = datetime.fromisoformat(declaration["declared_at"])
    assert datetime.fromisoformat(declaration["expires_at"]) - declared == timedelta(hours=4)
    assert (declaration["person_id"], declaration["purpose"], declaration["reason_code"]) == (
        dr.person_id, "BTG", "unconscious_patient")
    assert "mental_health_notes" in declaration["sections"] and "notes" in declaration["sections"]
    fetched = client.get(f"/access/v1/emergency/{declaration['id']}", headers=emergency_headers).json()
    assert fetched["sections"] == declaration["sections"]
    with runtime.sessions() as session:
        review = session.execute(select(ReviewRow)).scalar_one()
    assert (review.id, review.kind, review.declaration_id, review.patient, review.user_id) == (
        declaration["review_task_id"], "break_the_glass", declaration["id"], PATIENT, dr.person_id)
    after = client.post("/access/v1/evaluation", headers=authz_headers,
                        json=evaluation(dr.person_id, purpose="BTG")).json()
    assert after["decision"] is True
    assert (after["context"]["policy_rule"], after["context"]["emergency"], after["context"]["obligations"]) == (
        "btg-clinician", True, ["review_required"])
    assert after["context"]["facts"]["emergency_declaration"]["id"] == declaration["id"]
    treat = client.post("/access/v1/evaluation", headers=authz_headers, json=evaluation(dr.person_id)).json()
    assert treat["decision"] is False
    flags = [(e.outcome, e.purpose_of_use, e.emergency, e.self_granted) for e in logged(runtime, patient=PATIENT)]
    assert flags == [("deny", "BTG", True, True), ("permit", "BTG", True, True), ("deny", "TREAT", False, False)]
    # The permit names the declaration (and its coded reason) that granted it; the review task has the free text.
    assert logged(runtime, patient=PATIENT)[1].reason_text == (
        f"emergency declaration {declaration['id']} (unconscious_patient)")


def test_a_named_block_is_never_overridden_by_breaking_the_glass(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str],
        emergency_headers: dict[str, str]) -> None:
    dr = world["dr_surgery"]
    client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "block_person", "person_id": dr.person_id, "requested_by": "the patient"})
    response = _declare(client, emergency_headers, dr.person_id)
    assert (response.status_code, response.json()["error"], response.json()["error_description"]) == (
        403, "forbidden", "the patient has blocked this user by name; breaking the glass cannot override a named "
                          "block")
    # The refused attempt is in the tamper-evident log for privacy officers (domain.md rule 6).
    runtime.audit.flush()
    with runtime.sessions() as session:
        refused = [e for e in events_page(session, SearchFilters(kind="admin"), limit=100).events
                   if e.action == "emergency.refuse"]
    assert [(e.target_type, e.target_id, e.details["user"], e.details["refused"]) for e in refused] == [
        ("patient", PATIENT, dr.person_id, response.json()["error_description"])]


def test_an_emergency_opens_restrictions_but_the_access_is_flagged(
        client: TestClient, world: World, authz_headers: dict[str, str], emergency_headers: dict[str, str]) -> None:
    dr = world["dr_surgery"]
    restriction = client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "restrict_unit", "unit_id": world.units.trust,
        "requested_by": "the patient"}).json()
    _declare(client, emergency_headers, dr.person_id)
    decision = client.post("/access/v1/evaluation", headers=authz_headers,
                           json=evaluation(dr.person_id, purpose="BTG")).json()
    assert decision["decision"] is True
    assert decision["context"]["obligations"] == ["restriction_opened", "review_required"]
    assert decision["context"]["facts"]["opened_restrictions"][0]["restriction"] == restriction["id"]


def test_ending_the_declaration_closes_the_glass(
        client: TestClient, world: World, authz_headers: dict[str, str], emergency_headers: dict[str, str]) -> None:
    dr = world["dr_ward"]
    declaration = _declare(client, emergency_headers, dr.person_id).json()
    ended = client.delete(f"/access/v1/emergency/{declaration['id']}", headers=emergency_headers)
    assert ended.status_code == 200
    assert ended.json()["ended_at"] is not None
    decision = client.post("/access/v1/evaluation", headers=authz_headers,
                           json=evaluation(dr.person_id, purpose="BTG")).json()
    assert decision["context"]["reason_code"] == "no_emergency_declaration"
    again = client.delete(f"/access/v1/emergency/{declaration['id']}", headers=emergency_headers)
    assert again.status_code == 409
    fetched = client.get(f"/access/v1/emergency/{declaration['id']}", headers=emergency_headers)
    assert fetched.json()["id"] == declaration["id"]


def test_declarations_are_refused_for_roles_that_may_not_break_the_glass_and_bad_codes(
        client: TestClient, world: World, emergency_headers: dict[str, str], authz_headers: dict[str, str]) -> None:
    secretary = _declare(client, emergency_headers, world["secretary"].person_id)
    assert (secretary.status_code, secretary.json()["error_description"]) == (
        403, f"no role of user '{world['secretary'].person_id}' may break the glass under BTG")
    bad_reason = _declare(client, emergency_headers, world["dr_ward"].person_id, reason_code="curiosity")
    assert (bad_reason.status_code, bad_reason.json()["error_description"]) == (
        400, "reason_code 'curiosity' is unknown; expected one of life_threatening, unconscious_patient, "
             "acute_referral, other_urgent")
    bad_purpose = _declare(client, emergency_headers, world["dr_ward"].person_id, purpose_of_use="TREAT")
    assert (bad_purpose.status_code, bad_purpose.json()["error_description"]) == (
        400, "purpose_of_use 'TREAT' is not an emergency purpose; expected one of BTG")
    unknown = _declare(client, emergency_headers, "hpr:9999999")
    assert (unknown.status_code, unknown.json()["error_description"]) == (400, "user 'hpr:9999999' is not known")
    wrong_scope = _declare(client, authz_headers, world["dr_ward"].person_id)
    assert wrong_scope.status_code == 403
    assert wrong_scope.json()["error"] == "insufficient_scope"
