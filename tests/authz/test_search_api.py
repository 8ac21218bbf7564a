"""AuthZEN search (§8): who may read a record, which sections and patients a user may read, which actions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from iam.runtime import Runtime
from tests.authz.conftest import OTHER_PATIENT, PATIENT, logged, relate
from tests.authz.world import World

NOTES = {"type": "patient_record", "id": PATIENT, "properties": {"section": "notes"}}


def test_who_may_read_the_patients_notes_now(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    relate(client, authz_headers, kind="gp_list", unit_id=world.units.gp_department,
           practitioner_hpr=world["gp"].hpr_number)
    response = client.post("/access/v1/search/subject", headers=authz_headers, json={
        "subject": {"type": "user"}, "action": {"name": "read"}, "resource": NOTES,
        "context": {"purpose_of_use": "TREAT"}})
    assert response.status_code == 200
    body = response.json()
    expected = sorted((world[k].person_id for k in ("dr_ward", "nurse_ward", "gp")), key=lambda p: (len(p), p))
    assert [r["id"] for r in body["results"]] == expected
    assert body["page"] == {"next_token": "", "count": 3}
    names = {world[k].name for k in ("dr_ward", "nurse_ward", "gp")}
    assert {r["properties"]["name"] for r in body["results"]} == names
    searches = logged(runtime, patient=PATIENT)
    assert [(e.action, e.data_item) for e in searches] == [("search", "notes/who-may-read")]


def test_subject_search_pages_with_tokens_bound_to_the_query(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    query: dict[str, Any] = {"subject": {"type": "user"}, "action": {"name": "read"},
                             "resource": {**NOTES, "properties": {"section": "administrative"}},
                             "context": {"purpose_of_use": "TREAT"}, "page": {"limit": 2}}
    first = client.post("/access/v1/search/subject", headers=authz_headers, json=query).json()
    assert first["page"]["count"] == 2 and first["page"]["next_token"]
    second = client.post("/access/v1/search/subject", headers=authz_headers,
                         json={**query, "page": {"token": first["page"]["next_token"]}}).json()
    assert second["page"] == {"next_token": "", "count": 1}
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert sorted(ids) == sorted(world[k].person_id for k in ("dr_ward", "nurse_ward", "secretary"))
    changed = client.post("/access/v1/search/subject", headers=authz_headers, json={
        **query, "action": {"name": "write"}, "page": {"token": first["page"]["next_token"]}})
    assert (changed.status_code, changed.json()["error_description"]) == (
        400, "page.token belongs to a different query: subject, action, resource, context and limit must stay "
             "the same while paging")
    text_limit = client.post("/access/v1/search/subject", headers=authz_headers, json={**query, "page": {"limit": "2"}})
    assert (text_limit.status_code, text_limit.json()["error_description"]) == (
        400, "page.limit: Input should be a valid integer")
    forged = client.post("/access/v1/search/subject", headers=authz_headers, json={**query, "page": {"token": "xyz"}})
    assert (forged.status_code, forged.json()["error_description"]) == (
        400, "page.token is not a token this PDP issued; pass next_token unchanged")


def test_which_sections_of_a_patient_a_user_may_read(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.psychiatry, kind="referral")
    response = client.post("/access/v1/search/resource", headers=authz_headers, json={
        "subject": {"type": "user", "id": world["psychologist"].person_id}, "action": {"name": "read"},
        "resource": {"type": "patient_record", "properties": {"patient": PATIENT}},
        "context": {"purpose_of_use": "TREAT"}})
    assert response.status_code == 200
    assert [r["properties"]["section"] for r in response.json()["results"]] == [
        "administrative", "critical_info", "notes", "medication", "mental_health_notes"]
    assert {r["id"] for r in response.json()["results"]} == {PATIENT}
    by_id = client.post("/access/v1/search/resource", headers=authz_headers, json={
        "subject": {"type": "user", "id": world["psychologist"].person_id}, "action": {"name": "read"},
        "resource": {"type": "patient_record", "id": PATIENT}, "context": {"purpose_of_use": "TREAT"}})
    assert by_id.json()["results"] == response.json()["results"]


def test_which_patients_a_user_may_read(client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    relate(client, authz_headers, patient=OTHER_PATIENT, unit_id=world.units.surgery)
    body = {"subject": {"type": "user", "id": world["nurse_ward"].person_id}, "action": {"name": "read"},
            "resource": {"type": "patient_record", "properties": {"section": "care_plan"}},
            "context": {"purpose_of_use": "TREAT"}}
    response = client.post("/access/v1/search/resource", headers=authz_headers, json=body)
    assert [r["id"] for r in response.json()["results"]] == [PATIENT]
    dr_body = {**body, "subject": {"type": "user", "id": world["dr_surgery"].person_id},
               "resource": {"type": "patient_record", "properties": {"section": "notes"}}}
    response = client.post("/access/v1/search/resource", headers=authz_headers, json=dr_body)
    assert [r["id"] for r in response.json()["results"]] == [OTHER_PATIENT]


def test_which_actions_a_user_may_take(client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    body: dict[str, Any] = {
        "subject": {"type": "user", "id": world["dr_ward"].person_id},
        "resource": {"type": "patient_record", "id": PATIENT, "properties": {"section": "care_plan"}},
            "context": {"purpose_of_use": "TREAT"}}
    response = client.post("/access/v1/search/action", headers=authz_headers, json=body)
    assert response.json()["results"] == [{"name": "read"}]
    body["resource"]["properties"]["section"] = "notes"
    response = client.post("/access/v1/search/action", headers=authz_headers, json=body)
    assert response.json()["results"] == [{"name": "read"}, {"name": "write"}]


def test_search_requests_are_checked(client: TestClient, authz_headers: dict[str, str]) -> None:
    response = client.post("/access/v1/search/subject", headers=authz_headers, json={
        "subject": {"type": "robot"}, "action": {"name": "read"}, "resource": NOTES})
    assert (response.status_code, response.json()["error_description"]) == (
        400, "subject.type 'robot' is not supported; expected 'user'")
    response = client.post("/access/v1/search/resource", headers=authz_headers, json={
        "subject": {"type": "user", "id": "1"}, "action": {"name": "read"}, "resource": {"type": "patient_record"}})
    assert (response.status_code, response.json()["error_description"]) == (
        400, "resource.properties.section is required: the record section (e.g. 'notes')")
    response = client.post("/access/v1/search/action", headers=authz_headers, json={"subject": {"type": "user"}})
    assert response.status_code == 400
    assert response.json()["error_description"] == "subject.id: Field required; resource: Field required"
