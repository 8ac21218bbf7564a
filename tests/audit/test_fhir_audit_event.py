"""FHIR R4 AuditEvent search (IHE BALP), validated with the fhir.resources R4B models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from iam.runtime import Runtime
from tests.audit.conftest import BASE_TIME, PATIENT, full_event, record_series

Bearer = Callable[..., dict[str, str]]


def test_searchset_validates_and_follows_balp(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    runtime.audit.record_many([full_event(), full_event(action="write", outcome="deny", emergency=True,
                                                        purpose_of_use="BTG", occurred_at=BASE_TIME + timedelta(1))])
    response = api.get("/fhir/AuditEvent", params={"patient": PATIENT}, headers=bearer("audit:read"))
    assert (response.status_code, response.headers["content-type"]) == (200, "application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    assert (bundle.type, len(bundle.entry or [])) == ("searchset", 2)
    update, read = (AuditEvent.model_validate(entry.resource.model_dump()) for entry in bundle.entry or [])
    assert (read.action, read.outcome, update.action, update.outcome) == ("R", "0", "U", "4")
    assert read.meta.profile == ["https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"]
    client, server, user = read.agent
    assert (client.type.coding[0].code, client.network.address, server.type.coding[0].code) == (
        "110153", "10.1.2.3", "110152")
    assert (user.requestor, user.who.identifier.system, user.who.identifier.value, user.policy, user.altId) == (
        True, "urn:oid:2.16.578.1.12.4.1.4.4", "1234567", ["jti-abc"], "person-17")
    assert [(c.system, c.code) for c in read.purposeOfEvent[0].coding] == [
        ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "TREAT")]
    patient = read.entity[0]
    assert (patient.what.identifier.system, patient.what.identifier.value, patient.role.code) == (
        "urn:oid:2.16.578.1.12.4.1.4.1", PATIENT, "1")
    extensions = {ext.url.rsplit("/", 1)[1]: ext for ext in read.extension or []}
    assert (extensions["legal-entity"].valueIdentifier.value, extensions["department"].valueIdentifier.value,
            extensions["emergency-access"].valueBoolean, extensions["policy-rule"].valueString) == (
        "983974899", "dept-cardio", False, "treat.care_relationship")
    assert "innlagt" not in response.text  # the free-text reason stays internal


def test_agent_date_and_count_narrow_the_search(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    record_series(runtime, 5)
    runtime.audit.record(full_event(user_id="person-2"))
    headers = bearer("audit:read")
    page = api.get("/fhir/AuditEvent", params=[("agent", "Practitioner/person-17"), ("date", "ge2024-05-01T08:01:00Z"),
                                               ("date", "le2024-05-01T08:03:00Z"), ("_count", "2")],
                   headers=headers).json()
    following = api.get(page["link"][1]["url"].removeprefix("http://testserver"), headers=headers).json()
    times = [e["resource"]["period"]["start"] for e in page["entry"] + following["entry"]]
    assert times == ["2024-05-01T08:03:00.000Z", "2024-05-01T08:02:00.000Z", "2024-05-01T08:01:00.000Z"]
    assert [link["relation"] for link in following["link"]] == ["self"]


def test_unusable_parameters_give_an_operation_outcome(api: TestClient, bearer: Bearer) -> None:
    headers = bearer("audit:read")
    bad_date = api.get("/fhir/AuditEvent", params={"date": "ge2024-13-45"}, headers=headers)
    unknown = api.get("/fhir/AuditEvent", params={"subtype": "read"}, headers=headers)
    assert (bad_date.status_code, bad_date.json()["issue"][0]["diagnostics"]) == (
        400, "date='ge2024-13-45': 2024-13-45 is not a calendar date")
    assert (unknown.status_code, unknown.json()["resourceType"], unknown.json()["issue"][0]["diagnostics"]) == (
        400, "OperationOutcome", "search parameter 'subtype' is not supported; use patient, agent, date, _count")
