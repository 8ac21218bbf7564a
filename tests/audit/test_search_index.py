"""The search index behind the appender (audit.indexer): results are complete right after acknowledgement,
identical whether an event is found through the index or in the unindexed tail, and existing logs upgrade."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.orm import Session

from audit.indexer import Indexer, indexed_through
from audit.log import AccessLog
from audit.models import AuditEventRow, SearchKeyRow
from audit.patient import access_report
from audit.query import SearchFilters, events_page, iter_events, patient_events
from audit.retention import apply_retention
from iam.db import make_engine, upgrade
from iam.db.migrate import alembic_config
from iam.runtime import Runtime
from tests.audit.conftest import BASE_TIME, OTHER_PATIENT, PATIENT, full_event, page_seqs, record_series
from tests.conftest import DATABASES, PG_ADMIN_URL

PROXY = "24068812345"


def test_event_is_found_right_after_its_acknowledgement_before_any_indexer_ran(log: AccessLog) -> None:
    event_id = log.record(full_event(), fresh=False)
    proxy_id = log.record(full_event(patient=OTHER_PATIENT, user_national_id=PROXY, proxy_for=OTHER_PATIENT))
    with Session(log.engine) as session:
        assert indexed_through(session.connection()) == 0
        by_patient = events_page(session, SearchFilters(patient=PATIENT), limit=10).events
        by_user = events_page(session, SearchFilters(user="person-17"), limit=10).events
        by_unit = events_page(session, SearchFilters(unit="dept-cardio"), limit=10).events
        own_report = patient_events(session, PATIENT, limit=10).events
        proxy_report = access_report(session, PROXY, limit=10, cursor=None).accesses
    assert ([e.event_id for e in by_patient], [e.event_id for e in by_user], [e.event_id for e in by_unit],
            [e.event_id for e in own_report], [(a.event_id, a.as_proxy) for a in proxy_report]) == (
        [event_id], [proxy_id, event_id], [proxy_id, event_id], [event_id], [(proxy_id, True)])


def test_pages_are_the_same_through_the_index_the_tail_and_both(log: AccessLog) -> None:
    # Occurrence times out of append order, so the merge of index and tail is what puts them in order.
    minutes = [7, 2, 9, 4, 0, 8, 3, 6, 1, 5]
    events = [full_event(occurred_at=BASE_TIME + timedelta(minutes=m), request_id=f"req-{m}") for m in minutes]
    log.record_many(events[:4])
    log.record_many(events[4:])
    filters = [SearchFilters(patient=PATIENT), SearchFilters(user="person-17", outcome="permit"),
               SearchFilters(unit="dept-cardio", start=BASE_TIME + timedelta(minutes=2))]
    expected_order = [seq for _, seq in sorted(((m, seq) for seq, m in enumerate(minutes, start=1)), reverse=True)]
    before = [page_seqs(log.engine, f, limit=3) for f in filters]
    log.indexer.index_once()  # one chunk (1,024 events on SQLite): everything indexed
    after = [page_seqs(log.engine, f, limit=3) for f in filters]
    assert (before, after) == ([expected_order, expected_order, expected_order[:-2]],) * 2


def test_a_query_merges_the_indexed_part_with_the_tail_without_duplicates(log: AccessLog) -> None:
    record_series_ids = log.record_many([full_event(occurred_at=BASE_TIME + timedelta(minutes=i)) for i in range(6)])
    Indexer(log.engine, interval=0, chunk=4).index_once()  # seq 1-4 indexed, 5-6 in the tail
    later = log.record(full_event(occurred_at=BASE_TIME - timedelta(days=1)))  # oldest, but appended last
    with Session(log.engine) as session:
        mark = indexed_through(session.connection())
        newest_first = [e.event_id for e in iter_events(session, SearchFilters(patient=PATIENT), chunk=2)]
        oldest_first = [e.event_id for e in iter_events(session, SearchFilters(patient=PATIENT), chunk=2,
                                                        oldest_first=True)]
    assert (mark, newest_first, oldest_first) == (
        4, [*reversed(record_series_ids), later], [later, *record_series_ids])


def test_conditions_the_index_does_not_know_are_met_by_reading_further_entries(log: AccessLog) -> None:
    outcomes = ["deny", "deny", *["permit"] * 8]  # the two denials are the oldest of ten accesses
    ids = log.record_many([full_event(occurred_at=BASE_TIME + timedelta(minutes=i), outcome=outcome)
                           for i, outcome in enumerate(outcomes)])
    log.indexer.catch_up()
    denials = page_seqs(log.engine, SearchFilters(patient=PATIENT, outcome="deny"), limit=1)
    assert denials == [2, 1] and len(ids) == 10


def test_indexer_works_in_chunks_and_two_indexers_never_index_an_event_twice(log: AccessLog) -> None:
    log.record_many([full_event(request_id=f"req-{i}") for i in range(7)])
    log.record(full_event(patient=OTHER_PATIENT, user_national_id=PROXY, proxy_for=OTHER_PATIENT))
    first, second = Indexer(log.engine, interval=0, chunk=3), Indexer(log.engine, interval=0, chunk=3)
    counts = [first.index_once(), second.index_once(), first.catch_up(), second.catch_up()]
    first.close()
    second.close()
    with Session(log.engine) as session:
        keys = session.execute(select(SearchKeyRow.dim, func.count()).group_by(SearchKeyRow.dim)
                               .order_by(SearchKeyRow.dim)).all()
        mark = indexed_through(session.connection())
    # Every event has a patient, a user and a unit key; the proxy access has a proxy-actor key too.
    assert (counts, mark, [tuple(row) for row in keys]) == (
        [3, 3, 2, 0], 8, [("d", 8), ("p", 8), ("u", 8), ("x", 1)])


def test_sqlite_indexer_lets_appenders_in_every_1024_events(log: AccessLog) -> None:
    # On SQLite the indexer's copy holds the file's one write lock, which appenders wait for; PostgreSQL's
    # blocks no appender and takes up to 32,768 events a transaction.
    log.record_many([full_event(request_id=f"req-{i}") for i in range(2_500)], fresh=False)
    indexer = Indexer(log.engine, interval=0)
    done = indexer.catch_up()
    indexer.close()
    with Session(log.engine) as session:
        mark = indexed_through(session.connection())
    expected_runs = {"sqlite": 3, "postgresql": 1}[log.engine.dialect.name]
    assert (done, mark, indexer.stats["runs"]) == (2_500, 2_500, expected_runs)


def test_retention_removes_the_search_keys_of_deleted_events(runtime: Runtime) -> None:
    record_series(runtime, 300)
    runtime.audit.indexer.catch_up()
    with Session(runtime.engine) as session:
        appended = session.scalar(select(func.max(AuditEventRow.recorded_at)))
    assert appended is not None
    young = record_series(runtime, 3, department="dept-young")
    result = apply_retention(runtime.audit, runtime.keys, before=appended + timedelta(microseconds=1), actor="test")
    runtime.audit.indexer.catch_up()
    with Session(runtime.engine) as session:
        oldest_key = session.scalar(select(func.min(SearchKeyRow.seq)))
        by_unit = events_page(session, SearchFilters(unit="dept-young"), limit=10).events
    assert (result is not None and result.cut_seq, oldest_key, [e.event_id for e in by_unit]) == (
        256, 257, list(reversed(young)))


@pytest.fixture(params=DATABASES)
def blank_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no migrations applied) of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"iam_upgrade_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_log_from_before_the_search_index_upgrades_with_its_events_indexed(blank_url: str) -> None:
    engine = make_engine(blank_url)
    command.upgrade(alembic_config(engine), "audit_0001")
    old_log = AccessLog(engine, index_interval=0)
    old_log.start()
    ids = old_log.record_many([full_event(occurred_at=BASE_TIME + timedelta(minutes=i)) for i in range(3)])
    old_log.close()
    upgrade(engine)
    with Session(engine) as session:
        mark = indexed_through(session.connection())
        keys = session.scalar(select(func.count()).select_from(SearchKeyRow))
        found = [e.event_id for e in events_page(session, SearchFilters(patient=PATIENT), limit=10).events]
    indexes = {index["name"] for index in inspect(engine).get_indexes("audit_events")}
    engine.dispose()
    assert (mark, keys, found, sorted(indexes)) == (
        3, 9, list(reversed(ids)), ["ix_audit_events_event_id", "ix_audit_events_time"])
