"""Ingestion API: clinical applications report accesses; durable, idempotent, strict about input."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from audit.verify import verify_log
from iam.runtime import Runtime
from tests.audit.conftest import PATIENT

Bearer = Callable[..., dict[str, str]]
EVENT_ID = "5a3c1f4e-8d2b-4c6a-9e7f-1b2c3d4e5f60"


def body(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "event_id": EVENT_ID, "occurred_at": "2024-05-01T08:00:00Z", "action": "read", "outcome": "permit",
        "user_id": "person-17", "user_hpr_number": "1234567", "user_name": "Kari Nordmann", "role": "LE",
        "legal_entity": "983974899", "point_of_care": "974749025", "department": "dept-cardio",
        "patient": PATIENT, "data_item": "notes/123", "purpose_of_use": "TREAT", "token_jti": "jti-9",
        "source_address": "10.1.2.3", "request_id": "req-9",
    }
    values.update(overrides)
    return values


def stored(api: TestClient, bearer: Bearer) -> list[dict[str, object]]:
    events: list[dict[str, object]] = api.get("/audit/v1/events", headers=bearer("audit:read")).json()["events"]
    return events


def test_reported_access_is_stored_with_every_field(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    headers = bearer("audit:write")
    response = api.post("/audit/v1/events", json=body(), headers=headers)
    assert (response.status_code, response.json()) == (201, {"event_id": EVENT_ID})
    [event] = stored(api, bearer)
    expected = body()
    assert {key: event[key] for key in expected} == expected
    assert (event["kind"], event["changed"], event["emergency"], event["seq"]) == ("access", False, False, 1)
    reporter = runtime.tokens.verify(headers["Authorization"].removeprefix("Bearer ")).client_id
    assert event["client_id"] == reporter


def test_same_event_twice_is_stored_once(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    headers = bearer("audit:write")
    first = api.post("/audit/v1/events", json=body(client_id="journal"), headers=headers)
    second = api.post("/audit/v1/events", json=body(client_id="journal"), headers=headers)
    assert (first.status_code, second.status_code, first.json() == second.json()) == (201, 201, True)
    assert len(stored(api, bearer)) == 1
    assert verify_log(runtime.engine).ok


def test_reused_event_id_with_other_content_is_a_conflict(api: TestClient, bearer: Bearer) -> None:
    headers = bearer("audit:write")
    api.post("/audit/v1/events", json=body(client_id="journal"), headers=headers)
    response = api.post("/audit/v1/events", json=body(client_id="journal", data_item="lab"), headers=headers)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert response.json()["error_description"] == (
        f"event_id '{EVENT_ID}' was already recorded with different content; "
        "an event id may be reused only for the identical event")
    assert [event["data_item"] for event in stored(api, bearer)] == ["notes/123"]


def test_batch_is_stored_all_or_none(api: TestClient, bearer: Bearer) -> None:
    headers = bearer("audit:write")
    api.post("/audit/v1/events", json=body(client_id="journal"), headers=headers)
    batch = {"events": [body(event_id=None, data_item="lab"), body(client_id="journal", data_item="changed")]}
    refused = api.post("/audit/v1/events:batch", json=batch, headers=headers)
    accepted = api.post("/audit/v1/events:batch", json={"events": [body(event_id=None, data_item=f"s{i}")
                                                                    for i in range(3)]}, headers=headers)
    assert (refused.status_code, accepted.status_code, len(accepted.json()["event_ids"])) == (409, 201, 3)
    assert sorted(str(event["data_item"]) for event in stored(api, bearer)) == ["notes/123", "s0", "s1", "s2"]


def test_write_scope_is_required(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events", json=body(), headers=bearer("audit:read"))
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")
    assert api.post("/audit/v1/events", json=body()).status_code == 401


def test_malformed_json_is_refused_and_nothing_stored(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events", content=b'{"action": "read",', headers={
        **bearer("audit:write"), "Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]) == (422, "invalid_request")
    assert response.json()["error_description"] == "body: not valid JSON (Expecting property name enclosed in double " \
                                                   "quotes at character 18)"
    assert stored(api, bearer) == []


def test_unknown_field_is_refused(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events", json=body(colour="blue"), headers=bearer("audit:write"))
    assert (response.status_code, response.json()["error_description"]) == (
        422, "body.colour: Extra inputs are not permitted")
    assert stored(api, bearer) == []


def test_time_without_zone_is_refused(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events", json=body(occurred_at="2024-05-01T08:00:00"),
                        headers=bearer("audit:write"))
    assert (response.status_code, response.json()["error_description"]) == (
        422, "body.occurred_at: Value error, time 2024-05-01T08:00:00 has no time zone; "
             "send UTC, e.g. 2024-05-01T12:00:00Z")


def test_impossible_date_and_bad_outcome_are_refused(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events", json=body(occurred_at="2024-02-30T08:00:00Z", outcome="maybe"),
                        headers=bearer("audit:write"))
    assert response.status_code == 422
    assert response.json()["error_description"] == (
        "body.occurred_at: Input should be a valid datetime or date, day value is outside expected range; "
        "body.outcome: Input should be 'permit', 'deny' or 'error'")


def test_event_id_must_be_a_uuid(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events", json=body(event_id="42"), headers=bearer("audit:write"))
    assert (response.status_code, response.json()["error_description"]) == (
        422, "body.event_id: Value error, event_id '42' is not a UUID")


def test_oversized_batch_is_refused(api: TestClient, bearer: Bearer) -> None:
    response = api.post("/audit/v1/events:batch", json={"events": [body(event_id=None)] * 1001},
                        headers=bearer("audit:write"))
    assert (response.status_code, response.json()["error_description"]) == (
        422, "body.events: List should have at most 1000 items after validation, not 1001")
