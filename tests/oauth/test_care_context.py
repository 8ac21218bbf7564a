"""Patient-bound token exchange: the decision engine is asked first, the exchange is written to the access
log (permit and deny), and the token carries the trust framework's care context (RFC 9396)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from audit.query import SearchFilters, events_page
from iam.authz.schemas import CareRelationshipCreate
from iam.authz.service import Actor
from iam.runtime import Runtime
from tests.oauth.conftest import ACCESS_TOKEN_TYPE, EXCHANGE, JOURNAL, Upstream
from tests.oauth.staff import Hospital, Staff, national_id

PATIENT = national_id(40)
StaffFactory = Callable[..., Staff]
ClientFactory = Callable[..., tuple[str, str]]


def _admit(runtime: Runtime, unit: str) -> None:
    runtime.authz.facts.register_relationship(
        CareRelationshipCreate(patient=PATIENT, kind="admission", unit_id=unit), actor=Actor(actor="tests"))


def _details(**care: Any) -> str:
    return json.dumps([{"type": "nhn:tillitsrammeverk:parameters",
                        "care_relationship": {"purpose_of_use": {"code": "TREAT"}, **care},
                        "patients": [{"identifier": {"value": PATIENT}}]}])


def _exchange(client: TestClient, app: tuple[str, str], token: str, **extra: str) -> Any:
    return client.post("/oauth2/token", auth=app, data={
        "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS_TOKEN_TYPE,
        "audience": JOURNAL, **extra})


def _logged(runtime: Runtime) -> list[Any]:
    runtime.audit.flush()
    with runtime.sessions() as session:
        return [event for event in events_page(session, SearchFilters(patient=PATIENT), limit=50).events
                if event.action == "token-exchange"]


def test_permitted_patient_token_carries_the_care_context_and_is_logged(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: StaffFactory, hospital: Hospital,
    exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    _admit(runtime, hospital.department)
    app = exchange_client()
    response = _exchange(client, app, upstream.login(person.national_id), authorization_details=_details(
        decision_ref={"id": "journal-123", "user_selected": True}))
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["patient"] == PATIENT
    assert claims["purpose_of_use"] == "TREAT"
    details = claims["authorization_details"][0]
    assert details["patients"] == [{
        "identifier": {"value": PATIENT, "system": "urn:oid:2.16.578.1.12.4.1.4.1"},
        "point_of_care": {"id": hospital.point_of_care, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
        "department": {"id": hospital.department, "system": "urn:oid:2.16.578.1.12.4.1.4.101"}}]
    care = details["care_relationship"]
    assert care["purpose_of_use"] == {"code": "TREAT", "system": "urn:oid:2.16.840.1.113883.1.11.20448"}
    assert care["decision_ref"] == {"id": "journal-123", "user_selected": True}
    assert care["basis"]["decision_id"] == claims["decision_id"]
    assert care["basis"]["rule"] == "treat-physician"
    [event] = _logged(runtime)
    assert (event.outcome, event.user_id, event.user_hpr_number, event.client_id) == (
        "permit", str(person.person_id), person.hpr_number, app[0])
    assert (event.department, event.purpose_of_use, event.decision_id, event.token_jti) == (
        hospital.department, "TREAT", claims["decision_id"], claims["jti"])


def test_plain_parameters_ask_for_the_same_care_context(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: StaffFactory, hospital: Hospital,
    exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    _admit(runtime, hospital.department)
    response = _exchange(client, exchange_client(), upstream.login(person.national_id), patient=PATIENT,
                         purpose_of_use="TREAT", unit=hospital.department)
    assert response.status_code == 200, response.text
    assert jwt.decode(response.json()["access_token"], options={"verify_signature": False})["patient"] == PATIENT


def test_patient_access_denied_by_policy_is_refused_and_logged(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: StaffFactory, hospital: Hospital,
    exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    _admit(runtime, hospital.other_department)  # the patient lies in another ward
    response = _exchange(client, exchange_client(), upstream.login(person.national_id),
                         authorization_details=_details())
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"
    [event] = _logged(runtime)
    assert (event.outcome, event.user_id, event.token_jti) == ("deny", str(person.person_id), None)
    reason = event.reason_text.removeprefix("decision engine: ")
    assert response.json()["error_description"] == (
        f"access to patient {PATIENT} for purpose TREAT is denied by policy (reason '{reason}', "
        f"rule '{event.policy_rule}', decision {event.decision_id})")


# A level above 4 is no level HelseID knows: it counts as none, not as more than enough.
@pytest.mark.parametrize(("level", "shown"), [("3", "3"), ("99", "none")])
def test_record_access_needs_security_level_four(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: StaffFactory, hospital: Hospital,
    exchange_client: ClientFactory, level: str, shown: str,
) -> None:
    person = staff(1, security_level=level)
    _admit(runtime, hospital.department)
    response = _exchange(client, exchange_client(), upstream.login(person.national_id),
                         authorization_details=_details())
    assert (response.status_code, response.json()["error"], response.json()["error_description"]) == (
        400, "invalid_request", f"subject_token refused: record access needs security level 4; the login has {shown}")


def test_unit_where_the_user_has_no_role_is_refused(
    client: TestClient, upstream: Upstream, staff: StaffFactory, hospital: Hospital,
    exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    details = json.dumps([{"type": "nhn:tillitsrammeverk:parameters",
                           "practitioner": {"department": {"id": "999999999"}}}])
    response = _exchange(client, exchange_client(), upstream.login(person.national_id),
                         authorization_details=details)
    assert (response.status_code, response.json()["error"], response.json()["error_description"]) == (
        400, "invalid_authorization_details", "the user holds no role in unit '999999999'")


def test_invalid_patient_id_is_refused(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    response = _exchange(client, exchange_client(), upstream.login(person.national_id), patient="12345678901",
                         purpose_of_use="TREAT")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_authorization_details")
    assert response.json()["error_description"].startswith("patient '12345678901' is not a valid national id")
