"""Privacy officers' queries: filters, newest first, cursors, CSV/JSON export, SIEM export, CLI search."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from iam.runtime import Runtime
from tests.audit.conftest import BASE_TIME, OTHER_PATIENT, PATIENT, full_event, record_series
from tests.cli_helpers import run_iam

Bearer = Callable[..., dict[str, str]]


def seed(runtime: Runtime) -> None:
    record_series(runtime, 5)
    runtime.audit.record_many([
        full_event(patient=OTHER_PATIENT, occurred_at=BASE_TIME + timedelta(hours=2), outcome="deny"),
        full_event(user_id="person-99", department="dept-lab", occurred_at=BASE_TIME + timedelta(hours=3),
                   emergency=True, purpose_of_use="BTG"),
    ])


def test_search_by_patient_is_newest_first_with_a_cursor(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    seed(runtime)
    headers = bearer("audit:read")
    first = api.get("/audit/v1/events", params={"patient": PATIENT, "limit": 2}, headers=headers).json()
    second = api.get("/audit/v1/events", params={"patient": PATIENT, "limit": 2, "cursor": first["next_cursor"]},
                     headers=headers).json()
    times = [e["occurred_at"] for e in first["events"] + second["events"]]
    assert times == ["2024-05-01T11:00:00Z", "2024-05-01T08:04:00Z", "2024-05-01T08:03:00Z",
                     "2024-05-01T08:02:00Z"]


def test_filters_by_user_unit_time_flags_and_outcome(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    seed(runtime)
    headers = bearer("audit:read")

    def count(**params: object) -> int:
        response = api.get("/audit/v1/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return len(response.json()["events"])

    assert (count(user="person-99"), count(unit="dept-lab"), count(emergency="true"), count(outcome="deny"),
            count(**{"from": "2024-05-01T08:02:00Z", "to": "2024-05-01T08:03:00Z"}), count(kind="admin")) == (
        1, 1, 1, 1, 2, 0)


def test_bad_cursor_and_naive_time_are_refused(api: TestClient, bearer: Bearer) -> None:
    headers = bearer("audit:read")
    cursor = api.get("/audit/v1/events", params={"cursor": "not-a-cursor"}, headers=headers)
    naive = api.get("/audit/v1/events", params={"from": "2024-05-01T08:00:00"}, headers=headers)
    assert (cursor.status_code, cursor.json()["error_description"]) == (
        400, "cursor 'not-a-cursor' is not a cursor this service issued; pass the next_cursor of a previous "
             "page unchanged")
    assert (naive.status_code, naive.json()["error_description"]) == (
        422, "query.from: Input should have timezone info")


def test_read_scope_is_required(api: TestClient, bearer: Bearer) -> None:
    response = api.get("/audit/v1/events", headers=bearer("audit:write"))
    assert (response.status_code, response.json()["error"]) == (403, "insufficient_scope")


def test_csv_and_jsonl_exports_hold_every_matching_event(api: TestClient, bearer: Bearer, runtime: Runtime) -> None:
    seed(runtime)
    headers = bearer("audit:read")
    as_csv = api.get("/audit/v1/events/export", params={"format": "csv", "patient": PATIENT}, headers=headers)
    as_jsonl = api.get("/audit/v1/events/export", params={"format": "jsonl"}, headers=headers)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert (as_csv.headers["content-type"], len(rows), rows[0]["occurred_at"], rows[0]["emergency"]) == (
        "text/csv; charset=utf-8", 6, "2024-05-01T11:00:00Z", "true")
    assert (as_jsonl.headers["content-type"], len(lines), lines[-1]["seq"]) == ("application/x-ndjson", 7, 1)


def test_cli_search_and_siem_export(runtime: Runtime, database_url: str, tmp_path: object) -> None:
    seed(runtime)
    env = {"IAM_DATABASE_URL": database_url, "IAM_MIGRATE_ON_START": "false"}
    found = run_iam("audit", "search", "--patient", OTHER_PATIENT, env=env)
    jsonl = run_iam("audit", "export", "--format", "jsonl", "--since", "2024-05-01T09:30:00Z", env=env)
    syslog = run_iam("audit", "export", "--format", "syslog", "--hostname", "iam-1", "--until",
                     "2024-05-01T08:00:00Z", env=env)
    assert (found.returncode, [json.loads(line)["outcome"] for line in found.stdout.splitlines()]) == (0, ["deny"])
    assert [json.loads(line)["occurred_at"] for line in jsonl.stdout.splitlines()] == [
        "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z"]
    [line] = syslog.stdout.splitlines()
    assert line.startswith("<110>1 2024-05-01T08:00:00.000000Z iam-1 iam-audit - access [iamAudit@32473 seq=\"1\" ")
    assert 'reason_text="innlagt på avdelingen samtale med pårørende"' in line
    assert line.endswith("] \ufeffKari Nordmann read patient 01017012345: permit")
    assert syslog.stderr == "exported 1 events\n"
