"""Maintaining care relationships, care teams, restrictions, consents and flags, and their effect on decisions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from iam.runtime import Runtime
from provisioning.grants import grant_role
from tests.authz.conftest import PATIENT, evaluation, eventually, logged, relate
from tests.authz.world import World


def _decide(client: TestClient, headers: dict[str, str], user: str, **kwargs: Any) -> dict[str, Any]:
    response = client.post("/access/v1/evaluation", headers=headers, json=evaluation(user, **kwargs))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_registering_and_ending_a_relationship_opens_and_closes_access(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    nurse = world["nurse_ward"].person_id
    assert _decide(client, authz_headers, nurse)["decision"] is False
    created = relate(client, authz_headers, unit_id=world.units.ward, id="ADM-1")
    assert (created["id"], created["kind"], created["unit_id"], created["ended_at"]) == (
        "ADM-1", "admission", world.units.ward, None)
    assert _decide(client, authz_headers, nurse)["decision"] is True
    ended = client.post("/authz/v1/care-relationships/ADM-1/end", headers=authz_headers,
                        json={"reason": "discharged"})
    assert ended.status_code == 200
    assert ended.json()["end_reason"] == "discharged"
    assert _decide(client, authz_headers, nurse)["context"]["reason_code"] == "no_care_relationship"
    again = client.post("/authz/v1/care-relationships/ADM-1/end", headers=authz_headers, json={})
    assert again.status_code == 409
    assert again.json()["error_description"].startswith("care relationship 'ADM-1' already ended at ")


def test_relationships_are_listed_by_patient_and_unit_with_paging(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    for number in range(3):
        relate(client, authz_headers, unit_id=world.units.ward, id=f"R{number}", kind="appointment")
    first = client.get("/authz/v1/care-relationships", headers=authz_headers,
                       params={"patient": PATIENT, "limit": 2}).json()
    assert [r["id"] for r in first["items"]] == ["R0", "R1"]
    second = client.get("/authz/v1/care-relationships", headers=authz_headers,
                        params={"patient": PATIENT, "limit": 2, "cursor": first["next_cursor"]}).json()
    assert ([r["id"] for r in second["items"]], second["next_cursor"]) == (["R2"], None)
    by_unit = client.get("/authz/v1/care-relationships", headers=authz_headers,
                         params={"unit_id": world.units.ward, "active": True}).json()
    assert len(by_unit["items"]) == 3
    assert client.get("/authz/v1/care-relationships/R1", headers=authz_headers).json()["kind"] == "appointment"
    missing = client.get("/authz/v1/care-relationships/NOPE", headers=authz_headers)
    assert (missing.status_code, missing.json()["error_description"]) == (
        404, "care relationship 'NOPE' does not exist")


def test_bad_relationships_are_refused_with_the_reason(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    post = client.post
    unknown_unit = post("/authz/v1/care-relationships", headers=authz_headers,
                        json={"patient": PATIENT, "kind": "admission", "unit_id": "123456785"})
    assert (unknown_unit.status_code, unknown_unit.json()["error_description"]) == (
        400, "unit_id '123456785' is not in the organisation register")
    no_target = post("/authz/v1/care-relationships", headers=authz_headers,
                     json={"patient": PATIENT, "kind": "referral"})
    assert no_target.status_code == 422
    assert "name at least one of unit_id, person_id, practitioner_hpr or team_id" in \
        no_target.json()["error_description"]
    relate(client, authz_headers, unit_id=world.units.ward, id="DUP")
    duplicate = post("/authz/v1/care-relationships", headers=authz_headers,
                     json={"id": "DUP", "patient": PATIENT, "kind": "admission", "unit_id": world.units.ward})
    assert (duplicate.status_code, duplicate.json()["error"]) == (409, "conflict")
    backwards = post("/authz/v1/care-relationships", headers=authz_headers,
                     json={"patient": PATIENT, "kind": "admission", "unit_id": world.units.ward,
                           "valid_from": "2026-01-02T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"})
    assert (backwards.status_code, backwards.json()["error_description"]) == (
        400, "valid_to 2026-01-01T00:00:00+00:00 must be after valid_from 2026-01-02T00:00:00+00:00")


def test_a_relationship_naming_the_practitioner_or_a_care_team_permits_them(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    surgeon, psychologist = world["dr_surgery"], world["psychologist"]
    relate(client, authz_headers, kind="referral", practitioner_hpr=surgeon.hpr_number)
    assert _decide(client, authz_headers, surgeon.person_id)["decision"] is True
    relate(client, authz_headers, kind="appointment", team_id="team-pain")
    assert _decide(client, authz_headers, psychologist.person_id)["decision"] is False
    added = client.put(f"/authz/v1/care-teams/team-pain/members/{psychologist.person_id}", headers=authz_headers)
    assert added.status_code == 200
    assert _decide(client, authz_headers, psychologist.person_id)["decision"] is True
    members = client.get("/authz/v1/care-teams/team-pain/members", headers=authz_headers).json()
    assert [m["person_id"] for m in members] == [psychologist.person_id]
    removed = client.delete(f"/authz/v1/care-teams/team-pain/members/{psychologist.person_id}", headers=authz_headers)
    assert removed.status_code == 204
    assert _decide(client, authz_headers, psychologist.person_id)["decision"] is False


def test_a_named_block_denies_and_lifting_it_restores_access(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    dr = world["dr_ward"]
    created = client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "block_person", "hpr_number": dr.hpr_number, "requested_by": "the patient"})
    assert created.status_code == 201
    restriction = created.json()
    assert (restriction["kind"], restriction["person_id"]) == ("block_person", dr.person_id)
    denied = _decide(client, authz_headers, dr.person_id)
    assert (denied["decision"], denied["context"]["reason_code"], denied["context"]["next_steps"]) == (
        False, "named_block", [])
    assert denied["context"]["facts"]["restriction"]["id"] == restriction["id"]
    consent = client.post(f"/authz/v1/restrictions/{restriction['id']}/consents", headers=authz_headers,
                          json={"person_id": dr.person_id, "reference": "doc-1"})
    assert (consent.status_code, consent.json()["error_description"]) == (
        409, "a named block cannot be opened by consent; the patient lifts it instead")
    lifted = client.post(f"/authz/v1/restrictions/{restriction['id']}/lift", headers=authz_headers,
                         json={"reason": "patient changed their mind"})
    assert lifted.status_code == 200
    assert _decide(client, authz_headers, dr.person_id)["decision"] is True
    listed = client.get("/authz/v1/restrictions", headers=authz_headers,
                        params={"patient": PATIENT, "include_lifted": True}).json()
    assert [r["lift_reason"] for r in listed] == ["patient changed their mind"]
    assert client.get("/authz/v1/restrictions", headers=authz_headers, params={"patient": PATIENT}).json() == []


def test_a_unit_restriction_is_opened_only_by_recorded_consent(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    nurse = world["nurse_ward"]
    restriction = client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "restrict_unit", "unit_id": world.units.hospital,
        "requested_by": "the patient"}).json()
    denied = _decide(client, authz_headers, nurse.person_id)
    assert denied["context"]["reason_code"] == "unit_restricted"
    assert denied["context"]["reason_user"]["en"] == (
        "The patient has restricted access for Testvik sykehus. It can only be opened by recorded consent "
        "or emergency access.")
    consent = client.post(f"/authz/v1/restrictions/{restriction['id']}/consents", headers=authz_headers,
                          json={"unit_id": world.units.ward, "reference": "journal-doc-9"})
    assert consent.status_code == 201
    permitted = _decide(client, authz_headers, nurse.person_id)
    assert (permitted["decision"], permitted["context"]["obligations"]) == (True, ["restriction_opened"])
    assert permitted["context"]["facts"]["opened_restrictions"] == [
        {"restriction": restriction["id"], "by": "consent", "consent": consent.json()["id"]}]
    # The log says what decided (domain.md rules 1 and 4: the justification, and that the restriction was opened).
    relationship = permitted["context"]["facts"]["care_relationship"]["id"]
    assert [e.reason_text for e in logged(runtime, patient=PATIENT)] == [
        f"restriction {restriction['id']} (restrict_unit)",
        f"care relationship {relationship} (admission); restriction {restriction['id']} opened by consent "
        f"{consent.json()['id']}"]
    revoked = client.post(f"/authz/v1/restrictions/{restriction['id']}/consents/{consent.json()['id']}/revoke",
                          headers=authz_headers)
    assert revoked.status_code == 200
    assert _decide(client, authz_headers, nurse.person_id)["decision"] is False


def test_a_role_above_a_restricted_department_does_not_reach_it_through_its_relationships(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    """A physician whose role is held at the hospital, the patient admitted to the surgical ward, which the
    patient restricted: the caller need not say the unit for the restriction to hold."""
    doctor = world["dr_ward"]
    with runtime.sessions.begin() as session:
        grant_role(session, person_id=int(doctor.person_id), role="physician", unit_id=world.units.hospital,
                   reason="covers the hospital's wards", actor="tests", bus=runtime.bus)
    relate(client, authz_headers, unit_id=world.units.surgery)
    # The grant reaches the decision engine by change notice.
    assert eventually(lambda: _decide(client, authz_headers, doctor.person_id, unit=world.units.hospital)["decision"])
    client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "restrict_unit", "unit_id": world.units.surgery, "requested_by": "the patient"})
    for unit in (world.units.hospital, None):
        denied = _decide(client, authz_headers, doctor.person_id, **({"unit": unit} if unit else {}))
        assert (denied["decision"], denied["context"]["reason_code"]) == (False, "unit_restricted"), unit
    relate(client, authz_headers, unit_id=world.units.ward)
    assert _decide(client, authz_headers, doctor.person_id, unit=world.units.hospital)["decision"] is True


def test_a_locked_item_stays_closed_while_the_rest_of_the_record_is_open(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "lock_item", "item_id": "note-13", "requested_by": "the patient"})
    dr = world["dr_ward"].person_id
    assert _decide(client, authz_headers, dr, item="note-13")["context"]["reason_code"] == "item_locked"
    assert _decide(client, authz_headers, dr, item="note-14")["decision"] is True


def test_an_objection_to_sharing_keeps_data_within_its_organisation(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    relate(client, authz_headers, kind="gp_list", unit_id=world.units.gp_department)
    client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "object_sharing", "requested_by": "the patient"})
    gp = world["gp"].person_id
    assert _decide(client, authz_headers, gp, legal_entity=world.units.trust)["context"]["reason_code"] == \
        "sharing_objection"
    assert _decide(client, authz_headers, gp, legal_entity=world.units.gp_company)["decision"] is True
    assert _decide(client, authz_headers, world["dr_ward"].person_id, legal_entity=world.units.trust)["decision"]


def test_restriction_shapes_are_checked_per_kind(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    response = client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "lock_item", "unit_id": world.units.ward, "requested_by": "the patient"})
    assert response.status_code == 422
    assert "a lock_item restriction takes no unit_id" in response.json()["error_description"]
    response = client.post("/authz/v1/restrictions", headers=authz_headers, json={
        "patient": PATIENT, "kind": "block_person", "requested_by": "the patient"})
    assert "a block_person restriction needs hpr_number or person_id" in response.json()["error_description"]


def test_a_confidential_address_is_hidden_by_obligation(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    flags = client.put(f"/authz/v1/patients/{PATIENT}/flags", headers=authz_headers,
                       json={"confidential_address": True, "well_known": True})
    assert flags.status_code == 200
    decision = _decide(client, authz_headers, world["secretary"].person_id, section="administrative")
    assert decision["context"]["obligations"] == ["hide_address"]
    assert decision["context"]["facts"]["well_known_patient"] is True
