"""Compaction of the search index (audit.compaction): sealed buckets move into archives without a query ever
missing or repeating an event, also when a compaction is interrupted, and retention still removes their keys.

A group is one bucket here (``group_buckets = 1``, set before the first event), so two groups fill with
65,536 events instead of the two million of the default 32 buckets.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from audit.compaction import BUCKET_EVENTS, DIMENSIONS, move_range, plan_range, read_state, search_state
from audit.indexer import Indexer
from audit.log import AccessLog
from audit.models import AuditEventRow, SearchKeyRow
from audit.query import SearchFilters, events_page, patient_events
from audit.retention import apply_retention
from iam.db import make_engine
from iam.runtime import Runtime
from tests.audit.conftest import BASE_TIME, full_event, page_seqs

EVENTS = 2 * BUCKET_EVENTS + 1_000  # two sealed groups of one bucket, and 1,000 events of the third
PROXY = "24068812345"


def _patient(i: int) -> str:
    return f"{1_000_000_000 + i % 40:011d}"


def _record(log: AccessLog, count: int = EVENTS) -> None:
    with log.engine.begin() as connection:
        connection.execute(text("INSERT INTO audit_search_state (id, indexed_seq, group_buckets) VALUES (1, 0, 1) "
                                "ON CONFLICT (id) DO UPDATE SET group_buckets = 1"))
    for start in range(0, count, 8_192):
        log.record_many([
            full_event(occurred_at=BASE_TIME + timedelta(seconds=(i * 7919) % count), patient=_patient(i),
                       user_id=f"person-{i % 25}", department=f"dept-{i % 6}", request_id=f"req-{i}",
                       **({"user_national_id": PROXY, "proxy_for": _patient(i)} if i % 1_000 == 0 else {}))
            for i in range(start, min(start + 8_192, count))], fresh=False)


FILTERS = [SearchFilters(patient=_patient(3)), SearchFilters(user="person-7", outcome="permit"),
           SearchFilters(unit="dept-2", start=BASE_TIME + timedelta(hours=10))]


def _answers(engine: Engine) -> list[list[int]]:
    with Session(engine) as session:
        report = [e.seq for e in patient_events(session, PROXY, limit=1_000).events]
    return [*(page_seqs(engine, f, limit=400) for f in FILTERS), report]


def _keys_by_bucket(engine: Engine) -> dict[int, int]:
    with Session(engine) as session:
        rows = session.execute(select(SearchKeyRow.bucket, func.count()).group_by(SearchKeyRow.bucket)).all()
    return {int(bucket): int(count) for bucket, count in rows}


def test_sealed_groups_move_into_archives_and_every_query_answers_the_same(log: AccessLog) -> None:
    _record(log)
    log.indexer.catch_up()
    before, keys_before = _answers(log.engine), _keys_by_bucket(log.engine)
    moved = log.indexer.compact()
    after, keys_after = _answers(log.engine), _keys_by_bucket(log.engine)
    with Session(log.engine) as session:
        state = search_state(session.connection())
    # Every event has a patient, a user and a unit key; every thousandth a proxy-actor key too.
    assert (sorted(keys_before), sorted(keys_after), moved) == ([0, 1, 2], [-2, -1, 2], keys_before[0] + keys_before[1])
    assert (keys_after[-1], keys_after[-2], keys_after[2]) == (keys_before[0], keys_before[1], keys_before[2])
    assert (state.compacted_groups, state.probe_buckets()) == (2, [-1, -2, -3, 2])
    assert after == before and [len(answer) > 0 for answer in after] == [True] * 4
    assert log.indexer.compact() == 0  # the third group is not sealed yet


def test_an_interrupted_compaction_loses_and_repeats_nothing(log: AccessLog) -> None:
    _record(log)
    log.indexer.catch_up()
    before, keys_before = _answers(log.engine), _keys_by_bucket(log.engine)
    first = Indexer(log.engine, interval=0, compact_rows=10_000)
    partial = [first.compact_once() for _ in range(3)]  # three ranges of the first group, then "a crash"
    first.close()
    with Session(log.engine) as session:
        midway = search_state(session.connection())
    during = _answers(log.engine)
    with Session(log.engine) as session:
        page = events_page(session, FILTERS[0], limit=50)
    second = Indexer(log.engine, interval=0)  # knows nothing of the ranges already moved
    second.compact()
    second.close()
    rest = page_seqs(log.engine, FILTERS[0], limit=400, cursor=page.next_cursor)
    keys_after = _keys_by_bucket(log.engine)
    assert midway.compacted_groups == 0 and all(count is not None and count > 0 for count in partial)
    assert during == before and [e.seq for e in page.events] + rest == before[0]
    assert sum(keys_after.values()) == sum(keys_before.values()) and sorted(keys_after) == [-2, -1, 2]


def test_retention_removes_archived_keys_of_deleted_events(runtime: Runtime) -> None:
    _record(runtime.audit)
    runtime.audit.indexer.catch_up()
    runtime.audit.indexer.compact()
    with Session(runtime.engine) as session:
        cut_time = session.scalars(select(AuditEventRow.recorded_at)
                                   .where(AuditEventRow.seq == BUCKET_EVENTS + 5_000)).one()
    result = apply_retention(runtime.audit, runtime.keys, before=cut_time, actor="test")
    assert result is not None
    with Session(runtime.engine) as session:
        oldest = session.execute(select(SearchKeyRow.bucket, func.min(SearchKeyRow.seq))
                                 .group_by(SearchKeyRow.bucket).order_by(SearchKeyRow.bucket)).all()
        remaining = events_page(session, SearchFilters(patient=_patient(3)), limit=10_000).events
    # Archive -1 (seq 1 to 32,767) is emptied, archive -2 keeps the keys after the cut.
    assert [(bucket, seq > result.cut_seq) for bucket, seq in oldest] == [(-2, True), (2, True)]
    assert remaining and min(e.seq for e in remaining) > result.cut_seq


# Groups of four buckets, filled with search keys directly: the compaction of many buckets per group and of
# one busy key, without writing the 262,144 events behind them.
SYNTHETIC_GROUP = 4


def _synthetic_index(engine: Engine) -> set[tuple[int, str, str, int]]:
    """Keys in buckets 0-7 (two sealed groups) and 8: per bucket 400 patients, 60 users and one busy unit
    with 3,000 entries; ``indexed_seq`` just past bucket 7. Returns ``(group, dim, value, seq)`` of each."""
    keys: list[tuple[int, str, str, int]] = []
    for bucket in range(9):
        seqs = iter(range(bucket * BUCKET_EVENTS, (bucket + 1) * BUCKET_EVENTS))
        keys += [(bucket, dim, value, next(seqs)) for dim, value in
                 [("p", f"{i:011d}") for i in range(400)] + [("u", f"person-{i}") for i in range(60)]
                 + [("d", "dept-busy")] * 3_000]
    with engine.begin() as connection:
        connection.execute(SearchKeyRow.__table__.insert(), [
            {"bucket": bucket, "dim": dim, "value": value, "occurred_at": BASE_TIME + timedelta(seconds=seq),
             "seq": seq} for bucket, dim, value, seq in keys])
        connection.execute(text("INSERT INTO audit_search_state (id, indexed_seq, group_buckets) "
                                "VALUES (1, :seq, :group) ON CONFLICT (id) DO UPDATE SET "
                                "indexed_seq = excluded.indexed_seq, group_buckets = excluded.group_buckets"),
                           {"seq": 8 * BUCKET_EVENTS + 100, "group": SYNTHETIC_GROUP})
    return {(bucket // SYNTHETIC_GROUP, dim, value, seq) for bucket, dim, value, seq in keys if bucket < 8}


def _archived(engine: Engine) -> set[tuple[int, str, str, int]]:
    with Session(engine) as session:
        rows = session.execute(select(SearchKeyRow.bucket, SearchKeyRow.dim, SearchKeyRow.value, SearchKeyRow.seq)
                               .where(SearchKeyRow.bucket < 0)).all()
    return {(-bucket - 1, dim, value, seq) for bucket, dim, value, seq in rows}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_groups_of_several_buckets_move_in_bounded_steps_even_for_one_busy_key(engine: Engine) -> None:
    expected = _synthetic_index(engine)
    indexer = Indexer(engine, interval=0, compact_rows=1_024)
    steps = []
    while (moved := indexer.compact_once()) is not None:
        steps.append(moved)
    indexer.close()
    with Session(engine) as session:
        state = search_state(session.connection())
    assert (state.compacted_groups, state.probe_buckets()) == (2, [-1, -2, -3, 8])
    assert _archived(engine) == expected and _keys_by_bucket(engine) == {-1: 13_840, -2: 13_840, 8: 3_460}
    # Never more than compact_rows a transaction, and hardly more transactions than that takes (27.03).
    assert max(steps) <= 1_024 and sum(steps) == len(expected) and len(steps) <= 40


def test_a_group_is_not_closed_while_entries_the_compactor_thought_moved_are_left(engine: Engine) -> None:
    expected = _synthetic_index(engine)
    indexer = Indexer(engine, interval=0, compact_rows=1_024)
    for _ in range(3):
        indexer.compact_once()
    # As if the database lost those three unsynced commits in a crash while this process kept running.
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_search SET bucket = seq / :size WHERE bucket = -1"),
                           {"size": BUCKET_EVENTS})
    while indexer.compact_once() is not None:
        pass
    indexer.close()
    with Session(engine) as session:
        state = search_state(session.connection())
    assert state.compacted_groups == 2 and _archived(engine) == expected
    assert sorted(_keys_by_bucket(engine)) == [-2, -1, 8]


def test_on_sqlite_a_range_is_planned_while_an_appender_holds_the_write_lock(sqlite_template: Path,
                                                                          tmp_path: Path) -> None:
    """Choosing a range reads 32 buckets' heads: that read must not take the write lock that every appender of
    the file waits for. Only the move does, and it moves exactly the entries planned."""
    target = tmp_path / "iam.db"
    shutil.copyfile(sqlite_template, target)
    engine = make_engine(f"sqlite:///{target}")
    expected = _synthetic_index(engine)
    appender = sqlite3.connect(target, isolation_level=None)
    compactor = sqlite3.connect(target, isolation_level=None, timeout=0)  # a wait for a lock fails at once
    try:
        appender.execute("BEGIN IMMEDIATE")  # an append in progress
        cursor = compactor.cursor()
        cursor.execute("BEGIN")
        state = read_state(cursor)
        planned = plan_range(cursor, False, state, 0, after=(0, None), step=64, rows=256)
        cursor.execute("COMMIT")
        appender.execute("ROLLBACK")
        cursor.execute("BEGIN IMMEDIATE")
        moved, after = move_range(cursor, False, state, planned)
        cursor.execute("COMMIT")
    finally:
        appender.close()
        compactor.close()
    assert planned.end is not None and after == (0, planned.end) and 0 < moved <= 256
    end = (planned.end[0], planned.end[2])
    assert _archived(engine) == {key for key in expected
                                 if key[0] == 0 and key[1] == DIMENSIONS[0] and (key[2], key[3]) <= end}
    engine.dispose()
