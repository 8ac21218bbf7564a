"""Tamper evidence: append-only tables, and ``verify_log`` naming each kind of tampering on both databases.

The attacker's SQL is assembled from constants in this file (``noqa: S608``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError

from audit.store import leaf_sql
from audit.verify import verify_log
from iam.runtime import Runtime
from tests.audit.conftest import record_series

Tamper = Callable[..., None]


@pytest.fixture
def logged(runtime: Runtime) -> Runtime:
    """20 events, a signed checkpoint over them, then 5 more after it."""
    record_series(runtime, 20)
    assert runtime.audit.checkpointer is not None
    runtime.audit.checkpointer.create()
    record_series(runtime, 5, department="dept-late")
    return runtime


def first_problem(runtime: Runtime) -> tuple[str, int | None, str]:
    report = verify_log(runtime.engine)
    problem = report.problems[0]
    return problem.kind, problem.seq, problem.message


def test_untouched_log_verifies(logged: Runtime) -> None:
    report = verify_log(logged.engine)
    assert (report.ok, report.events, report.first_seq, report.last_seq, report.checkpoints) == (True, 25, 1, 25, 1)


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET patient = '99999999999' WHERE seq = 3",
                                       "DELETE FROM audit_events WHERE seq = 3",
                                       "UPDATE audit_checkpoints SET tree_size = 1",
                                       "DELETE FROM audit_checkpoints"])
def test_database_refuses_updates_and_deletes(logged: Runtime, database_url: str, statement: str) -> None:
    engine = create_engine(database_url)
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()
    assert verify_log(logged.engine).ok


def test_altered_event_is_pinpointed(logged: Runtime, tamper: Tamper) -> None:
    tamper("UPDATE audit_events SET patient = '99999999999' WHERE seq = 5")
    assert first_problem(logged) == ("altered", 5, "event seq 5 was altered: its content no longer matches its hash")


def test_deleted_event_is_pinpointed(logged: Runtime, tamper: Tamper) -> None:
    tamper("DELETE FROM audit_events WHERE seq = 7")
    assert first_problem(logged) == ("deleted", 7, "events are missing: seq 7 (deleted)")


def test_deleted_and_renumbered_event_is_pinpointed(logged: Runtime, tamper: Tamper) -> None:
    tamper("DELETE FROM audit_events WHERE seq = 7",
           "UPDATE audit_events SET seq = -seq WHERE seq > 7",
           "UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0")
    assert first_problem(logged) == ("deleted", 7, "one or more events before seq 7 are missing (deleted, and "
                                                   "the following events renumbered)")


def test_inserted_event_is_pinpointed(logged: Runtime, tamper: Tamper) -> None:
    columns = ("recorded_at, event_id, kind, occurred_at, action, outcome, user_id, user_national_id, "
               "user_hpr_number, user_name, role, legal_entity, point_of_care, department, patient, data_item, "
               "purpose_of_use, decision_id, policy_rule, emergency, self_granted, reason_text, client_id, "
               "token_jti, source_address, request_id, proxy_for, changed, target_type, target_id, details, "
               "prev_hash, hash")
    forged = columns.replace("event_id", "'00000000-0000-4000-8000-000000000000'")
    tamper("UPDATE audit_events SET seq = -seq WHERE seq >= 10",
           "UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0",
           f"INSERT INTO audit_events (seq, {columns}) SELECT 10, {forged} FROM audit_events WHERE seq = 9")  # noqa: S608
    assert first_problem(logged) == ("inserted", 10, "event seq 10 does not belong to the chain: the next event "
                                                     "links to seq 9 (an event was inserted)")


def test_reordered_events_are_pinpointed(logged: Runtime, tamper: Tamper) -> None:
    tamper("UPDATE audit_events SET seq = -1 WHERE seq = 12",
           "UPDATE audit_events SET seq = 12 WHERE seq = 13",
           "UPDATE audit_events SET seq = 13 WHERE seq = -1")
    assert first_problem(logged) == ("reordered", 12, "event seq 12 is out of order: it was appended after the "
                                                      "event now at seq 13")


def test_truncated_tail_is_detected_by_the_checkpoint(logged: Runtime, tamper: Tamper) -> None:
    tamper("DELETE FROM audit_events WHERE seq > 15")
    assert first_problem(logged) == ("truncated", 16, "the log ends at seq 15 but checkpoint #1 signs 20 events: "
                                                      "events from seq 16 were removed")


def test_truncate_of_the_whole_table_is_detected(logged: Runtime, tamper: Tamper, database_url: str) -> None:
    tamper("TRUNCATE audit_events" if database_url.startswith("postgresql") else "DELETE FROM audit_events")
    assert first_problem(logged) == ("truncated", 1, "the log ends at seq 0 but checkpoint #1 signs 20 events: "
                                                     "events from seq 1 were removed")


def test_rehashed_chain_is_caught_by_the_signed_checkpoint(logged: Runtime, tamper: Tamper, database_url: str) -> None:
    """An attacker who alters event 5 and recomputes every later hash keeps the chain consistent."""
    tamper("UPDATE audit_events SET patient = '99999999999' WHERE seq = 5")
    engine = create_engine(database_url)
    postgres = database_url.startswith("postgresql")
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT seq, {leaf_sql(postgres)} FROM audit_events ORDER BY seq")).all()  # noqa: S608
    engine.dispose()
    prev = bytes(32)
    statements = []
    params = {}
    for seq, leaf in rows:
        digest = hashlib.sha256(prev + hashlib.sha256(b"\x00" + leaf.encode()).digest()).digest()
        statements.append(f"UPDATE audit_events SET prev_hash = :p{seq}, hash = :h{seq} WHERE seq = {seq}")  # noqa: S608
        params |= {f"p{seq}": prev, f"h{seq}": digest}
        prev = digest
    tamper(*statements, **params)
    assert first_problem(logged) == ("rewritten", 20, "checkpoint #1 (tree size 20) does not match the log: events "
                                     "after seq 0 up to 20 were altered, replaced or removed and the hash chain "
                                     "was recomputed to hide it")


def test_forged_checkpoint_signature_is_reported(logged: Runtime, tamper: Tamper) -> None:
    # One character of the signature's bytes changed, to one it is not (a fixed 'AA' was a no-op 1 run in 256).
    tamper("UPDATE audit_checkpoints SET signature = substr(signature, 1, length(signature) - 2) || "
           "CASE WHEN substr(signature, length(signature) - 1, 1) = 'A' THEN 'B' ELSE 'A' END || "
           "substr(signature, length(signature), 1)")
    assert first_problem(logged) == ("checkpoint", None, "checkpoint #1: the signature does not verify")


def test_parallel_verification_reports_the_same(logged: Runtime, tamper: Tamper) -> None:
    record_series(logged, 600)
    logged.audit.checkpointer.create()  # type: ignore[union-attr]
    intact = verify_log(logged.engine, workers=2)
    tamper("UPDATE audit_events SET patient = '99999999999' WHERE seq = 300")
    broken = verify_log(logged.engine, workers=2)
    assert (intact.ok, intact.events, intact.first_seq, intact.last_seq) == (True, 625, 1, 625)
    assert [(p.kind, p.seq) for p in broken.problems] == [("altered", 300)]
