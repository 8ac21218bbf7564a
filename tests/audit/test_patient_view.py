"""The patient's access report: what it shows, what it never shows, proxies, questions that open cases."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from iam.runtime import Runtime
from tests.audit.conftest import OTHER_PATIENT, PATIENT, full_event

Headers = Callable[..., dict[str, str]]
CHILD = "05051512345"


def test_report_shows_who_where_when_why_and_never_staff_ids_or_free_text(
        api: TestClient, patient_headers: Headers, runtime: Runtime) -> None:
    runtime.audit.record_many([full_event(), full_event(action="write"), full_event(patient=OTHER_PATIENT)])
    response = api.get(f"/audit/v1/patients/{PATIENT}/accesses", headers=patient_headers(PATIENT))
    assert response.status_code == 200
    report = response.json()
    assert [line["changed"] for line in report["accesses"]] == [True, False]
    assert {key: report["accesses"][1][key] for key in ("staff_name", "role", "organisation", "point_of_care",
                                                        "unit", "data_item", "purpose_of_use", "purpose",
                                                        "outcome", "emergency", "time")} == {
        "staff_name": "Kari Nordmann", "role": "LE", "organisation": "983974899", "point_of_care": "974749025",
        "unit": "dept-cardio", "data_item": "notes", "purpose_of_use": "TREAT", "purpose": "Behandling",
        "outcome": "permit", "emergency": False, "time": "2024-05-01T08:00:00Z"}
    for hidden in ("13057512345", "1234567", "person-17", "innlagt", "jti-abc", "10.1.2.3", "journal"):
        assert hidden not in response.text


def test_proxy_access_appears_under_both_identities(api: TestClient, patient_headers: Headers,
                                                    runtime: Runtime) -> None:
    runtime.audit.record(full_event(patient=CHILD, proxy_for=CHILD, user_national_id=PATIENT, user_name="Ola Forelder",
                                    role=None, legal_entity=None, point_of_care=None, department=None,
                                    client_id="portal"))
    child = api.get(f"/audit/v1/patients/{CHILD}/accesses", headers=patient_headers(CHILD)).json()["accesses"]
    parent = api.get(f"/audit/v1/patients/{PATIENT}/accesses", headers=patient_headers(PATIENT)).json()["accesses"]
    assert [(line["staff_name"], line["acted_for"], line["as_proxy"]) for line in child] == [
        ("Ola Forelder", CHILD, False)]
    assert [(line["staff_name"], line["acted_for"], line["as_proxy"]) for line in parent] == [
        ("Ola Forelder", CHILD, True)]


def test_a_patient_token_reads_only_its_own_report(api: TestClient, patient_headers: Headers) -> None:
    other = api.get(f"/audit/v1/patients/{PATIENT}/accesses", headers=patient_headers(OTHER_PATIENT))
    bound = api.get(f"/audit/v1/patients/{PATIENT}/accesses", headers=patient_headers("portal-user-1",
                                                                                     patient=PATIENT))
    assert (other.status_code, other.json()["error"], other.json()["error_description"]) == (
        403, "forbidden", "this token may read the access report of its own patient only")
    assert bound.status_code == 200


def test_question_opens_a_case_for_the_privacy_officer(api: TestClient, patient_headers: Headers,
                                                       bearer: Callable[..., dict[str, str]],
                                                       runtime: Runtime) -> None:
    event_id = runtime.audit.record(full_event())
    foreign = runtime.audit.record(full_event(patient=OTHER_PATIENT))
    asked = api.post(f"/audit/v1/patients/{PATIENT}/accesses/{event_id}/question",
                     json={"question": "Hvorfor leste du journalen min?"}, headers=patient_headers(PATIENT))
    not_mine = api.post(f"/audit/v1/patients/{PATIENT}/accesses/{foreign}/question",
                        json={"question": "?"}, headers=patient_headers(PATIENT))
    officer = bearer("audit:review")
    cases = api.get("/audit/v1/cases", headers=officer).json()["cases"]
    answered = api.post(f"/audit/v1/cases/{asked.json()['id']}/answer",
                        json={"answer": "Du var innlagt på avdelingen."}, headers=officer)
    assert (asked.status_code, not_mine.status_code, not_mine.json()["error_description"]) == (
        201, 404, f"access '{foreign}' is not in the access report of this patient")
    assert [(case["event_id"], case["patient"], case["status"]) for case in cases] == [(event_id, PATIENT, "open")]
    assert (answered.status_code, answered.json()["status"]) == (200, "answered")
    assert api.get("/audit/v1/cases", headers=patient_headers(PATIENT)).status_code == 403
