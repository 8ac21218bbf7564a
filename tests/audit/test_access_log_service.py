"""The AccessLog service: durable acknowledgements, all-or-none units, admin events, failure says why."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing import get_context

import pytest
from sqlalchemy import create_engine, text

from audit.admin import record_admin_event
from audit.errors import AuditUnavailable, EventConflict
from audit.events import AccessEvent, AdminEvent, new_event_id
from audit.log import AccessLog
from audit.query import SearchFilters, events_page
from audit.verify import verify_log
from iam.db import make_engine
from iam.runtime import Runtime
from tests.audit.conftest import full_event
from tests.cli_helpers import poll

EVENT_ID = "0b7c4f1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"


def all_events(runtime: Runtime, **filters: object) -> list[dict[str, object]]:
    with runtime.sessions() as session:
        page = events_page(session, SearchFilters(**filters), limit=1000)  # type: ignore[arg-type]
    return [event.model_dump() for event in page.events]


def test_acknowledged_event_is_visible_to_a_new_connection(runtime: Runtime, database_url: str) -> None:
    event_id = runtime.audit.record(full_event())
    engine = create_engine(database_url)
    with engine.connect() as connection:
        found = connection.execute(text("SELECT seq, patient FROM audit_events WHERE event_id = :id"),
                                   {"id": event_id}).all()
    engine.dispose()
    assert [tuple(row) for row in found] == [(1, "01017012345")]


def test_decision_engine_event_keeps_every_field(runtime: Runtime) -> None:
    event = full_event(outcome="deny", emergency=True, self_granted=True, purpose_of_use="BTG",
                       proxy_for="03038012345", action="write")
    runtime.audit.record(event)
    [stored] = all_events(runtime)
    expected = event.model_dump(exclude={"event_id"})
    assert {key: stored[key] for key in expected} == expected
    assert (stored["changed"], stored["kind"]) == (True, "access")


def test_denials_are_logged_and_found_by_outcome(runtime: Runtime) -> None:
    runtime.audit.record_many([full_event(outcome="deny"), full_event(), full_event(outcome="deny")])
    assert [event["outcome"] for event in all_events(runtime, outcome="deny")] == ["deny", "deny"]


def test_many_concurrent_callers_share_commits_and_the_chain_holds(runtime: Runtime) -> None:
    ids: list[str] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(25):
            event_id = runtime.audit.record(full_event())
            with lock:
                ids.append(event_id)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = verify_log(runtime.engine)
    assert (len(set(ids)), report.events, report.ok) == (400, 400, True)


def _append_from_another_process(url: str, callers: int, each: int) -> list[str]:
    """One server process's writer: its own engine, AccessLog and writer thread, with concurrent callers."""
    engine = make_engine(url)
    log = AccessLog(engine, checkpoint_interval=0)
    log.start()
    ids: list[str] = []

    def caller(index: int) -> None:
        for number in range(each):
            ids.append(log.record(full_event(request_id=f"req-{index}-{number}")))

    threads = [threading.Thread(target=caller, args=(index,)) for index in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    engine.dispose()
    return ids


def test_two_processes_append_concurrently_to_one_chain(database_url: str) -> None:
    # Like uvicorn's workers: each process has its own writer; they share the chain through the append lock.
    with ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn")) as pool:
        runs = [pool.submit(_append_from_another_process, database_url, 4, 50) for _ in range(2)]
        ids = [event_id for run in runs for event_id in run.result()]
    engine = make_engine(database_url)
    report = verify_log(engine)
    engine.dispose()
    assert (len(set(ids)), report.events, report.ok) == (400, 400, True)


def test_fresh_event_ids_are_stored_and_callers_ids_stay_idempotent(runtime: Runtime) -> None:
    fresh = new_event_id()
    stored = runtime.audit.record_many([full_event(event_id=fresh), full_event(event_id=new_event_id())],
                                       fresh=True)
    repeated = runtime.audit.record(full_event(event_id=fresh))
    with pytest.raises(EventConflict):
        runtime.audit.record(full_event(event_id=fresh, data_item="lab"))
    assert (stored[0], repeated, len(all_events(runtime)), verify_log(runtime.engine).ok) == (fresh, fresh, 2, True)


def test_event_ids_are_uuids_led_by_their_creation_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    event_id = new_event_id()
    after = time.time_ns() // 1_000_000
    parsed = uuid.UUID(event_id)
    assert (parsed.version, parsed.variant, str(parsed)) == (7, uuid.RFC_4122, event_id)
    assert before <= parsed.int >> 80 <= after


def test_admin_events_are_sealed_within_the_interval_while_accesses_stream(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        kept = record_admin_event(session, AdminEvent(actor="client-hr", action="grant.create", target_id="g-1"))

    def sealed_ids() -> list[object]:
        runtime.audit.record(full_event())
        return [event["event_id"] for event in all_events(runtime, kind="admin")]

    assert poll(sealed_ids, until=lambda ids: ids == [kept]) == [kept]
    assert verify_log(runtime.engine).ok


def test_unvalidated_event_with_another_time_zone_is_stored_in_utc_and_verifies(runtime: Runtime) -> None:
    # The decision engine builds its events without validation (AccessEvent.trusted); times may carry any zone.
    oslo = full_event().model_dump() | {"occurred_at": datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))}
    runtime.audit.record(AccessEvent.trusted(**oslo))
    [stored] = all_events(runtime)
    assert (stored["occurred_at"], verify_log(runtime.engine).ok) == (datetime(2024, 5, 1, 8, 0, tzinfo=UTC), True)


def test_trusted_event_is_the_validated_event_with_the_same_values() -> None:
    validated = full_event()
    trusted = AccessEvent.trusted(**validated.model_dump())
    constructed = AccessEvent.model_construct(**validated.model_dump())
    assert (trusted, trusted.model_dump(), trusted.__getstate__()) == (
        validated, validated.model_dump(), constructed.__getstate__())


def test_trusted_event_refuses_a_missing_or_unknown_field() -> None:
    fields = full_event().model_dump()
    del fields["patient"]
    with pytest.raises(TypeError, match="wrong: colour, patient"):
        AccessEvent.trusted(**fields, colour="blue")


def test_async_callers_are_answered_once_durable(runtime: Runtime) -> None:
    async def many() -> list[str]:
        return await asyncio.gather(*(runtime.audit.record_async(full_event()) for _ in range(50)))

    ids = asyncio.run(many())
    assert (len(set(ids)), verify_log(runtime.engine).events) == (50, 50)


def test_unit_with_a_conflicting_id_stores_nothing(runtime: Runtime) -> None:
    runtime.audit.record(full_event(event_id=EVENT_ID))
    with pytest.raises(EventConflict):
        runtime.audit.record_many([full_event(data_item="lab"), full_event(event_id=EVENT_ID, data_item="x")])
    assert [event["data_item"] for event in all_events(runtime)] == ["notes"]


def test_admin_event_commits_with_the_callers_transaction(runtime: Runtime) -> None:
    with runtime.sessions.begin() as session:
        kept = record_admin_event(session, AdminEvent(actor="client-hr", action="grant.create", target_type="grant",
                                                      target_id="g-1", details={"role": "LE", "unit": "d1"},
                                                      request_id="req-7", client_id="client-hr"))
    with pytest.raises(RuntimeError), runtime.sessions.begin() as session:
        record_admin_event(session, AdminEvent(actor="client-hr", action="grant.revoke", target_id="g-2"))
        raise RuntimeError("the change failed")
    runtime.audit.flush()
    [event] = all_events(runtime, kind="admin")
    assert {key: event[key] for key in ("event_id", "user_id", "action", "target_type", "target_id", "details",
                                        "request_id", "client_id", "outcome")} == {
        "event_id": kept, "user_id": "client-hr", "action": "grant.create", "target_type": "grant",
        "target_id": "g-1", "details": {"role": "LE", "unit": "d1"}, "request_id": "req-7",
        "client_id": "client-hr", "outcome": None}
    assert verify_log(runtime.engine).ok


def test_unwritable_log_raises_audit_unavailable_and_recovers(runtime: Runtime, database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_events RENAME TO audit_events_away"))
    with pytest.raises(AuditUnavailable) as raised:
        runtime.audit.record(full_event())
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_events_away RENAME TO audit_events"))
    engine.dispose()
    assert (raised.value.status, raised.value.code, raised.value.message) == (
        503, "audit_unavailable",
        "the access log cannot be written (database unavailable); the access may not have been recorded")
    runtime.audit.record(full_event())
    assert verify_log(runtime.engine).events == 1


def test_closed_log_refuses_to_acknowledge(runtime: Runtime) -> None:
    runtime.audit.close()
    with pytest.raises(AuditUnavailable, match="the access log is not running"):
        runtime.audit.record(full_event())


def test_control_characters_are_refused() -> None:
    with pytest.raises(ValueError, match="user_name"):
        AccessEvent(action="read", outcome="permit", user_name="Kari\x1fNordmann")
