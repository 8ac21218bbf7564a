"""AuthZEN boxcarred evaluations (§7): defaults, the three evaluation semantics, per-item errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from iam.runtime import Runtime
from tests.authz.conftest import OTHER_PATIENT, PATIENT, logged, relate
from tests.authz.world import World


def _batch(user: str, sections: list[str], semantic: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": user}, "action": {"name": "read"},
        "context": {"purpose_of_use": "TREAT"},
        "evaluations": [{"resource": {"type": "patient_record", "id": PATIENT, "properties": {"section": s}}}
                        for s in sections]}
    if semantic is not None:
        body["options"] = {"evaluations_semantic": semantic}
    return body


SECTIONS = ["administrative", "notes", "care_plan"]  # a health secretary: permit, deny, deny


def test_execute_all_answers_every_evaluation_in_order(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    response = client.post("/access/v1/evaluations", headers=authz_headers,
                           json=_batch(world["secretary"].person_id, SECTIONS))
    assert response.status_code == 200
    results = response.json()["evaluations"]
    assert [r["decision"] for r in results] == [True, False, False]
    assert [r["context"]["reason_code"] for r in results] == ["care_relationship", "section_not_permitted",
                                                             "section_not_permitted"]
    assert [e.data_item for e in logged(runtime, patient=PATIENT)] == SECTIONS


def test_deny_on_first_deny_stops_after_the_first_denial(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    response = client.post("/access/v1/evaluations", headers=authz_headers,
                           json=_batch(world["secretary"].person_id, SECTIONS, "deny_on_first_deny"))
    assert [r["decision"] for r in response.json()["evaluations"]] == [True, False]
    assert [e.data_item for e in logged(runtime, patient=PATIENT)] == ["administrative", "notes"]


def test_permit_on_first_permit_stops_at_the_first_permit(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    response = client.post("/access/v1/evaluations", headers=authz_headers,
                           json=_batch(world["secretary"].person_id, ["notes", "administrative", "care_plan"],
                                       "permit_on_first_permit"))
    assert [r["decision"] for r in response.json()["evaluations"]] == [False, True]


def test_each_evaluation_overrides_the_defaults(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    body = _batch(world["secretary"].person_id, ["administrative"])
    notes = {"type": "patient_record", "id": PATIENT, "properties": {"section": "notes"}}
    body["evaluations"].append({"subject": {"type": "user", "id": world["dr_ward"].person_id}, "resource": notes})
    body["evaluations"].append({"resource": {"type": "patient_record", "id": OTHER_PATIENT,
                                             "properties": {"section": "administrative"}}})
    results = client.post("/access/v1/evaluations", headers=authz_headers, json=body).json()["evaluations"]
    assert [(r["decision"], r["context"]["reason_code"]) for r in results] == [
        (True, "care_relationship"), (True, "care_relationship"), (False, "no_care_relationship")]


def test_a_bad_evaluation_is_answered_in_place_and_counts_as_a_deny(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    body = _batch(world["secretary"].person_id, ["administrative", "diary", "administrative"])
    results = client.post("/access/v1/evaluations", headers=authz_headers, json=body).json()["evaluations"]
    assert [r["decision"] for r in results] == [True, False, True]
    assert results[1]["context"] == {"error": {"status": 400, "message": (
        "record section 'diary' is unknown; expected one of administrative, critical_info, notes, medication, "
        "lab_results, care_plan, mental_health_notes")}}
    body["options"] = {"evaluations_semantic": "deny_on_first_deny"}
    results = client.post("/access/v1/evaluations", headers=authz_headers, json=body).json()["evaluations"]
    assert [r["decision"] for r in results] == [True, False]


def test_without_an_evaluations_array_it_behaves_as_a_single_evaluation(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    body = _batch(world["secretary"].person_id, [])
    body.pop("evaluations")
    body["resource"] = {"type": "patient_record", "id": PATIENT, "properties": {"section": "administrative"}}
    response = client.post("/access/v1/evaluations", headers=authz_headers, json=body)
    assert response.status_code == 200
    assert response.json()["decision"] is False


def test_missing_defaults_and_unknown_semantics_are_400(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    body = _batch(world["secretary"].person_id, ["notes"])
    body.pop("subject")
    response = client.post("/access/v1/evaluations", headers=authz_headers, json=body)
    assert response.status_code == 400
    assert response.json()["error_description"] == "evaluations.0: subject missing and no top-level default"
    body = _batch(world["secretary"].person_id, ["notes"], "first_one_wins")
    response = client.post("/access/v1/evaluations", headers=authz_headers, json=body)
    assert response.status_code == 400
    assert response.json()["error_description"] == (
        "options.evaluations_semantic: Input should be 'execute_all', 'deny_on_first_deny' or "
        "'permit_on_first_permit'")
