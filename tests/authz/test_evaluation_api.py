"""AuthZEN single evaluation (§6) over HTTP: decisions, reasons, logging, and malformed requests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from iam.runtime import Runtime
from tests.authz.conftest import PATIENT, evaluation, logged, relate
from tests.authz.world import World


def test_care_relationship_with_the_users_department_permits_and_says_why(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    response = client.post("/access/v1/evaluation", headers={**authz_headers, "X-Request-ID": "req-1"},
                           json=evaluation(world["dr_ward"].person_id))
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-1"
    body = response.json()
    assert body["decision"] is True
    context = body["context"]
    assert context["policy_rule"] == "treat-physician"
    assert context["reason_code"] == "care_relationship"
    assert context["reason_user"] == {
        "nb": "Tilgang gitt: pasienten har et aktivt behandlingsforhold (admission) med Medisinsk sengepost.",
        "en": "Access granted: the patient has an active care relationship (admission) with Medisinsk sengepost."}
    assert context["facts"]["care_relationship"]["kind"] == "admission"
    assert context["facts"]["acting_unit"] == world.units.ward
    assert context["facts"]["role"] == "physician"
    assert context["next_steps"] == []
    assert context["obligations"] == []


def test_without_care_relationship_the_deny_is_200_and_offers_breaking_the_glass(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    response = client.post("/access/v1/evaluation", headers=authz_headers,
                           json=evaluation(world["dr_ward"].person_id))
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] is False
    assert body["context"]["reason_code"] == "no_care_relationship"
    assert body["context"]["policy_rule"] == "default-deny"
    assert body["context"]["reason_user"]["en"] == ("The patient has no active care relationship with you or "
                                                    "Medisinsk sengepost.")
    steps = body["context"]["next_steps"]
    assert [step["code"] for step in steps] == ["register_care_relationship", "declare_emergency"]
    assert steps[1]["endpoint"] == "/access/v1/emergency"


def test_the_user_can_be_named_by_hpr_number_or_national_id(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    person = world["nurse_ward"]
    for user in (f"hpr:{person.hpr_number}", f"pid:{person.national_id}"):
        response = client.post("/access/v1/evaluation", headers=authz_headers, json=evaluation(user))
        assert response.json()["decision"] is True
        assert response.json()["context"]["policy_rule"] == "treat-nurse"


def test_an_unknown_user_is_denied(client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    response = client.post("/access/v1/evaluation", headers=authz_headers, json=evaluation("hpr:9999999"))
    assert response.status_code == 200
    assert response.json()["decision"] is False
    assert response.json()["context"]["reason_code"] == "unknown_subject"


def test_every_decision_is_logged_with_the_fields_of_rule_6(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    permit = client.post("/access/v1/evaluation", headers={**authz_headers, "X-Request-ID": "permit-1"},
                         json=evaluation(world["dr_ward"].person_id, item="note-7")).json()
    deny = client.post("/access/v1/evaluation", headers=authz_headers,
                       json=evaluation(world["secretary"].person_id)).json()
    events = logged(runtime, patient=PATIENT)
    assert [(e.decision_id, e.outcome) for e in events] == [
        (permit["context"]["decision_id"], "permit"), (deny["context"]["decision_id"], "deny")]
    first = events[0]
    dr = world["dr_ward"]
    assert (first.event_id, first.action, first.user_id, first.user_national_id, first.user_hpr_number,
            first.user_name, first.role) == (first.decision_id, "read", dr.person_id, dr.national_id,
                                            dr.hpr_number, dr.name, "physician")
    assert (first.legal_entity, first.point_of_care, first.department) == (
        world.units.trust, world.units.hospital, world.units.ward)
    assert (first.patient, first.data_item, first.purpose_of_use, first.emergency, first.self_granted) == (
        PATIENT, "notes/note-7", "TREAT", False, False)
    assert first.policy_rule.startswith("treat-physician@")
    assert (first.request_id, first.source_address, first.changed) == ("permit-1", "testclient", False)
    assert first.client_id is not None and first.token_jti is not None
    assert events[1].role == "health_secretary"
    assert events[1].policy_rule.startswith("default-deny@")


def test_when_the_access_log_cannot_be_written_access_is_denied_and_the_reason_given(
        client: TestClient, runtime: Runtime, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    runtime.audit.close()
    response = client.post("/access/v1/evaluation", headers=authz_headers, json=evaluation(world["dr_ward"].person_id))
    assert response.status_code == 200
    context = response.json()["context"]
    assert response.json()["decision"] is False
    assert (context["reason_code"], context["policy_rule"]) == ("audit_unavailable", "audit-unavailable")
    assert context["reason_user"]["en"] == ("The access log cannot be written right now, so access cannot be "
                                            "granted. Try again shortly.")
    assert [s["code"] for s in context["next_steps"]] == ["retry_later"]


def test_acting_for_a_unit_where_the_user_has_no_role_is_denied(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.surgery)
    response = client.post("/access/v1/evaluation", headers=authz_headers,
                           json=evaluation(world["dr_ward"].person_id, unit=world.units.surgery))
    assert response.json()["context"]["reason_code"] == "not_in_unit"
    assert response.json()["context"]["reason_user"]["en"] == (
        "You hold no role at Kirurgisk sengepost, the unit you are acting for.")


def test_the_trust_framework_attestation_carries_purpose_and_unit(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    relate(client, authz_headers, unit_id=world.units.ward)
    body = evaluation(world["dr_ward"].person_id)
    purpose = {"code": "TREAT", "system": "urn:oid:2.16.840.1.113883.5.8"}
    body["context"] = {"care_relationship": {"purpose_of_use": purpose},
                       "practitioner": {"legal_entity": {"id": world.units.trust},
                                        "point_of_care": {"id": world.units.hospital},
                                        "department": {"id": world.units.ward}}}
    response = client.post("/access/v1/evaluation", headers=authz_headers, json=body)
    assert response.json()["decision"] is True
    assert response.json()["context"]["facts"]["acting_unit"] == world.units.ward


MALFORMED: list[tuple[Callable[[dict[str, Any]], object], str]] = [
    (lambda b: b.pop("subject"), "subject: Field required"),
    (lambda b: b["subject"].update(type="group"), "subject.type 'group' is not supported; expected 'user'"),
    (lambda b: b["subject"].update(id="alice"),
     "subject.id 'alice' is not a person id, 'hpr:<HPR number>' or 'pid:<national id>'"),
    (lambda b: b["resource"].update(id="12345678901"),
     "resource.id is not a patient's national id: month 34 is not a month (01-12, +40 for H-numbers, +80 for "
     "synthetic ids)"),
    (lambda b: b["resource"].update(type="document"),
     "resource.type 'document' is not supported; expected 'patient_record'"),
    (lambda b: b["resource"]["properties"].pop("section"),
     "resource.properties.section is required: the record section (e.g. 'notes')"),
    (lambda b: b["resource"]["properties"].update(section=5),
     "resource.properties.section must be a string: a record section such as 'notes', not 5"),
    (lambda b: b["resource"]["properties"].update(section="diary"),
     "record section 'diary' is unknown; expected one of administrative, critical_info, notes, medication, "
     "lab_results, care_plan, mental_health_notes"),
    (lambda b: b["action"].update(name="delete"), "action 'delete' is unknown; expected one of read, write"),
    (lambda b: b.pop("context"), "context.purpose_of_use is required (a purpose code such as 'TREAT')"),
    (lambda b: b["context"].update(purpose_of_use="HRESCH"),
     "purpose of use 'HRESCH' is unknown; expected one of TREAT, ETREAT, COC, BTG"),
    (lambda b: b.update(context={"purpose_of_use": "TREAT", "practitioner": {"department": "ward 7"}}),
     "context.practitioner.department 'ward 7' is not a 9-digit organisation number"),
]


def test_a_malformed_request_is_400_naming_the_field(client: TestClient, authz_headers: dict[str, str]) -> None:
    answers = []
    for change, _ in MALFORMED:
        body = evaluation("1")
        change(body)
        response = client.post("/access/v1/evaluation", headers=authz_headers, json=body)
        answers.append((response.status_code, response.json()["error"], response.json()["error_description"]))
    assert answers == [(400, "invalid_request", message) for _, message in MALFORMED]


def test_a_body_that_is_not_json_is_400(client: TestClient, authz_headers: dict[str, str]) -> None:
    response = client.post("/access/v1/evaluation", headers={**authz_headers, "Content-Type": "application/json"},
                           content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error_description"].startswith("body: not valid JSON")


def test_unknown_fields_are_ignored_as_authzen_requires(
        client: TestClient, world: World, authz_headers: dict[str, str]) -> None:
    body = evaluation(world["dr_ward"].person_id)
    body["future_extension"] = {"x": 1}
    body["subject"]["properties"] = {"department": "ignored"}
    response = client.post("/access/v1/evaluation", headers=authz_headers, json=body)
    assert response.status_code == 200


def test_without_a_token_401_and_without_the_authz_scope_403(
        client: TestClient, world: World, access_token: object) -> None:
    body = evaluation(world["dr_ward"].person_id)
    assert client.post("/access/v1/evaluation", json=body).status_code == 401
    token = access_token("audit:read")  # type: ignore[operator]
    response = client.post("/access/v1/evaluation", headers={"Authorization": f"Bearer {token}"}, json=body)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_pdp_metadata_lists_every_endpoint(client: TestClient) -> None:
    response = client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.json() == {
        "policy_decision_point": "http://testserver",
        "access_evaluation_endpoint": "http://testserver/access/v1/evaluation",
        "access_evaluations_endpoint": "http://testserver/access/v1/evaluations",
        "search_subject_endpoint": "http://testserver/access/v1/search/subject",
        "search_resource_endpoint": "http://testserver/access/v1/search/resource",
        "search_action_endpoint": "http://testserver/access/v1/search/action",
    }
