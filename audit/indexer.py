"""The search index of the log (``audit_search``), maintained behind the appender in large batches.

The appender keeps only indexes that grow at their right edge, so an acknowledged event costs a few
pages, not one page per random key. The search keys of each event (patient ``p``, user ``u``, unit
``d``, proxy actor ``x``; see :class:`audit.models.SearchKeyRow`) are added here, by one indexer at a
time, from ``seq > indexed_seq`` in sorted chunks, with ``indexed_seq`` advanced in the same
transaction. Queries (:mod:`audit.query`) read the index up to ``indexed_seq`` and scan the events after it,
so an event is found the moment it is acknowledged, whether or not the indexer has run.

Why the bucket (``seq // BUCKET_EVENTS``) leads the key: a batch of keys inserted at random places of a
B-tree of millions of entries dirties about one page per key however large the batch (measured on SQLite
at 2 million events: 110 µs an event for 20,000-event batches). Inside the newest bucket a batch dirties at
most that bucket's few thousand pages (about 15 µs an event in all). Queries pay one index probe per bucket
(305 buckets at 10 million events).

On SQLite the indexer's write transaction holds the database's one write lock, which the appender then waits
for. So the keys are read and sorted into a temporary table first (under a read transaction, which does not
block the appender), and only the B-tree insert and its commit (about 7 µs an event) hold the lock. On
PostgreSQL one ``INSERT ... SELECT`` does it all: appends never wait for it.

Sealed buckets are merged by the same thread, between its runs (see :mod:`audit.compaction`).

Indexer transactions are not synced (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL
``synchronous_commit=off``): the index is derived data, and a crash can only lose whole indexer
transactions, with the ``indexed_seq`` they advanced, which the next run redoes.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from audit.compaction import (
    BUCKET_EVENTS,
    DIMENSIONS,
    KeyRange,
    Position,
    SearchState,
    move_range,
    plan_range,
    read_state,
    search_state,
)
from audit.connection import DedicatedConnection

__all__ = ["BUCKET_EVENTS", "Indexer", "index_range", "index_sql", "indexed_through"]

_log = logging.getLogger("iam.audit")
_T = TypeVar("_T")

INDEX_LOCK_ID = 0x1A0D18
_DIMENSIONS = (
    ("p", "patient", "patient IS NOT NULL"),
    ("u", "user_id", "user_id IS NOT NULL"),
    ("d", "department", "department IS NOT NULL"),
    # The patient view shows a proxy's own accesses under the proxy's identity too (domain rule 10).
    ("x", "user_national_id", "proxy_for IS NOT NULL AND user_national_id IS NOT NULL"),
)
if {dim for dim, _, _ in _DIMENSIONS} != set(DIMENSIONS):  # compaction walks the index dimension by dimension
    raise RuntimeError("audit.compaction.DIMENSIONS must list every dimension of the search index")
# SQLite: the indexer copies the WAL back into the database at the end of a catch-up and at least this
# often within a long one (a backlog after a restart), so the WAL never waits for the appender to do it.
_CHECKPOINT_EVENTS = 32_768
# About what one node appends at full ingest (events/s); compaction yields in proportion as the rate nears it.
_FULL_INGEST_PER_S = 20_000
_SAVE_SQL = ("INSERT INTO audit_search_state (id, indexed_seq) VALUES (1, {m}) "
             "ON CONFLICT (id) DO UPDATE SET indexed_seq = excluded.indexed_seq")


_STAGED = "audit_search_staged"
_COLUMNS = "bucket, dim, value, occurred_at, seq"


def index_sql(postgres: bool, *, table: str = "audit_search") -> str:
    """The statement adding the keys of the events ``lo < seq <= hi`` (named parameters ``lo`` and ``hi``)
    to ``table``, sorted in key order so that the B-tree is filled from left to right."""
    lo, hi = ("%(lo)s", "%(hi)s") if postgres else (":lo", ":hi")
    keys = " UNION ALL ".join(
        f"SELECT seq / {BUCKET_EVENTS}, '{dim}', {column}, occurred_at, seq FROM audit_events "  # noqa: S608
        f"WHERE seq > {lo} AND seq <= {hi} AND {condition}" for dim, column, condition in _DIMENSIONS)
    return f"INSERT INTO {table} ({_COLUMNS}) SELECT * FROM ({keys}) AS keys ORDER BY 1, 2, 3, 4, 5"  # noqa: S608


def index_range(cursor: Any, postgres: bool, *, after: int, through: int) -> None:
    """Add the keys of events ``after < seq <= through`` with a DB-API cursor; the caller owns the
    transaction (and makes sure no other indexer covers the same range)."""
    if through > after:
        cursor.execute(index_sql(postgres), {"lo": after, "hi": through})


def indexed_through(connection: Connection) -> int:
    """``indexed_seq``: every event up to it has its keys in ``audit_search`` (0 before the first run)."""
    return search_state(connection).indexed_seq


class Indexer:
    """Keeps ``audit_search`` caught up: a thread that, every ``interval`` seconds, indexes what was appended
    since, in transactions of at most ``chunk`` events, then compacts sealed groups for a share of the
    interval (a quarter on SQLite, half on PostgreSQL; a transaction begun runs to its end). Any number of
    processes may run one: PostgreSQL lets one at a time through an advisory lock, SQLite through its write
    lock (taken after the writers' file lock, so a waiting appender is never left in SQLite's sleeping busy
    handler)."""

    def __init__(self, engine: Engine, *, interval: float = 0.5, chunk: int | None = None,
                 compact_rows: int | None = None) -> None:
        """``chunk``: the most events a transaction indexes; by default 32,768 on PostgreSQL and 1,024 on
        SQLite, where the copy into ``audit_search`` holds the database's one write lock (about 7 µs an
        event) and every appender of the file waits for it: half a second of a busy node's decisions (2,400
        events) held it 17 ms, twice a second, as long as a decision's whole latency budget. Small
        transactions let the appenders in between. PostgreSQL's indexer blocks no appender.
        ``compact_rows``: about how many search keys a compaction transaction moves: 1,024 on SQLite, for the
        same reason, and 4,096 on PostgreSQL, where a transaction of 32,768 took 0.45 s of the server's CPU
        and ran whole however short the compaction's share of a round (see :meth:`compact`)."""
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._interval = interval
        self._chunk = chunk if chunk is not None else (32_768 if self._postgres else 1_024)
        self._compact_rows = compact_rows if compact_rows is not None else (4_096 if self._postgres else 1_024)
        # The share of each interval spent compacting: on SQLite appenders wait for each of its transactions;
        # on PostgreSQL they do not, and a quarter moved fewer keys than a busy node appends.
        self._compact_share = 0.5 if self._postgres else 0.25
        self._compact_after: tuple[int, Position] | None = None  # (group, where its last range ended)
        self._compact_step_size = 0  # entries per bucket a range takes (0: ``compact_rows / group_buckets``)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The indexer thread's own connection; on SQLite with the writers' and the indexers' lock files.
        self._connection = DedicatedConnection(engine, locks=("writer", "indexer"), configure=self._configure)
        self._guard = threading.Lock()  # catch_up() from another thread and the indexer thread
        #: Counters for benchmarks and metrics.
        self.stats = {"runs": 0, "events": 0, "compacted_keys": 0}

    def start(self) -> None:
        if self._thread is None and self._interval > 0:
            self._thread = threading.Thread(target=self._run, name="iam-audit-indexer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        with self._guard:
            self._connection.close()

    def catch_up(self) -> int:
        """Index every event appended so far (by this or another process); return how many this call did."""
        done = unsaved = 0
        while True:
            count = self.index_once()
            done += count
            unsaved += count
            last = count < self._chunk or self._stop.is_set()
            if unsaved and not self._postgres and (last or unsaved >= _CHECKPOINT_EVENTS):
                self._checkpoint()
                unsaved = 0
            if last:
                return done

    def index_once(self) -> int:
        """One transaction: index up to ``chunk`` pending events; return how many (0: nothing pending, or
        another process's indexer is at work)."""
        return self._locked(self._index_once)

    def compact(self, seconds: float | None = None) -> int:
        """Move the keys of sealed groups into their archives (:mod:`audit.compaction`) for about ``seconds``
        (``None``: until no sealed group is left); return how many keys moved."""
        deadline = None if seconds is None else time.monotonic() + seconds
        moved = 0
        while not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            step = self.compact_once()
            if step is None:
                break
            moved += step
        return moved

    def compact_once(self) -> int | None:
        """One transaction: move one key range of the next sealed group; return how many keys moved (``None``:
        no group is sealed, or another process's indexer is at work)."""
        return self._locked(self._compact_once)

    def _locked(self, work: Callable[[Any], _T]) -> _T:
        """``work(cursor)`` on the indexer's connection, dropped after a failure."""
        with self._guard:
            try:
                cursor = self._connection.connect().cursor()
                try:
                    return work(cursor)
                finally:
                    cursor.close()
            except Exception:
                self._connection.close(rollback=True)
                raise

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                indexed = self.catch_up()
                # Bounded, so that the next catch-up comes on time and the unindexed tail stays short, and
                # yielding to the appenders as their rate nears what one node takes (at full ingest it cost
                # SQLite its 20,000 events/s); queries meanwhile probe the buckets of groups not compacted.
                busy = indexed / (self._interval * _FULL_INGEST_PER_S)
                if busy < 1:
                    self.compact(self._interval * self._compact_share * (1 - busy))
            except Exception:
                _log.exception("access log indexer failed; queries scan the unindexed tail meanwhile")

    def _index_once(self, cursor: Any) -> int:
        if self._postgres:
            done = self._postgres_transaction(cursor, self._index_postgres) or 0
        else:
            with self._sqlite_lock("indexer", wait=False) as mine:  # one indexer at a time per database file
                done = self._index_sqlite(cursor) if mine else 0
        self.stats["runs"] += 1
        self.stats["events"] += done
        return done

    def _compact_once(self, cursor: Any) -> int | None:
        if self._postgres:
            step = self._postgres_transaction(cursor, self._compact_step)
        else:
            with self._sqlite_lock("indexer", wait=False) as mine:  # no other indexer writes until the move
                step = self._compact_sqlite(cursor) if mine else None
        if step is None:
            return None
        # Only after the commit: a range rolled back must be moved again.
        moved, group, end, widest = step
        self._compact_after = (group, end) if end is not None else None
        # The next range's step (entries read per bucket): grown in proportion while a range falls short of
        # ``compact_rows`` (entries spread over the buckets move about ``step`` each, a busy key's only ``step``
        # in all, as its entries in one bucket all come before those in the next); once ``compact_rows`` moved,
        # twice what the most giving bucket gave, so that no more is read than moved.
        rows = self._compact_rows
        wanted = 2 * widest if moved >= rows else self._compact_step_size * rows // max(moved, 1)
        self._compact_step_size = max(1, min(rows, wanted))
        self.stats["compacted_keys"] += moved
        return moved

    def _compact_step(self, cursor: Any) -> tuple[int, int, Position | None, int] | None:
        planned = self._plan_range(cursor)
        return self._move_range(cursor, *planned) if planned is not None else None

    def _compact_sqlite(self, cursor: Any) -> tuple[int, int, Position | None, int] | None:
        # 1. Find the range in a read transaction: the 32 buckets' heads (most of a step's time) are read
        #    without the write lock that every appender of the file would wait for.
        cursor.execute("BEGIN")
        planned = self._plan_range(cursor)
        cursor.execute("COMMIT")
        if planned is None:
            return None
        # 2. Under the write lock only the move. The plan is a pair of key bounds, re-read by the move: no other
        #    indexer writes meanwhile (the caller holds the indexers' lock), the group is sealed, and retention,
        #    which may delete keys in between, only leaves fewer to move.
        return self._sqlite_write(cursor, lambda c: self._move_range(c, *planned))

    def _plan_range(self, cursor: Any) -> tuple[SearchState, KeyRange] | None:
        state = read_state(cursor)
        group = state.sealed_group()
        if group is None:
            return None
        known = self._compact_after
        after = known[1] if known is not None and known[0] == group else (0, None)
        if not self._compact_step_size:
            self._compact_step_size = max(self._compact_rows // state.group_buckets, 1)
        return state, plan_range(cursor, self._postgres, state, group, after=after, step=self._compact_step_size,
                                 rows=self._compact_rows)

    def _move_range(self, cursor: Any, state: SearchState, planned: KeyRange) -> tuple[int, int, Position | None, int]:
        moved, end = move_range(cursor, self._postgres, state, planned)
        return moved, planned.group, end, planned.widest

    def _pending(self, cursor: Any) -> tuple[int, int]:
        """``(indexed_seq, the last seq to index now)`` as the current transaction sees them."""
        after = read_state(cursor).indexed_seq
        cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_events")
        return after, min(int(cursor.fetchone()[0]), after + self._chunk)

    def _postgres_transaction(self, cursor: Any, work: Callable[[Any], _T]) -> _T | None:
        """``work(cursor)`` in a transaction holding the indexers' advisory lock; ``None`` if another
        process's indexer holds it."""
        cursor.execute("BEGIN")
        cursor.execute("SET LOCAL synchronous_commit = off")
        # The planner overestimates a compaction's key range some 250-fold (710,341 rows for 2,692 at 10 million
        # events), which turns JIT compilation on: 68 ms instead of 33 ms for that read.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(f"SELECT pg_try_advisory_xact_lock({INDEX_LOCK_ID})")
        if not cursor.fetchone()[0]:  # another process's indexer is at work
            cursor.execute("ROLLBACK")
            return None
        result = work(cursor)
        cursor.execute("COMMIT")
        return result

    def _index_postgres(self, cursor: Any) -> int:
        # Appends commit under their own lock in seq order, so the events up to max(seq) are all visible.
        after, through = self._pending(cursor)
        if through > after:
            index_range(cursor, True, after=after, through=through)
            cursor.execute(_SAVE_SQL.format(m="%s"), (through,))
        return max(through - after, 0)

    @contextmanager
    def _sqlite_lock(self, name: str, *, wait: bool) -> Iterator[bool]:
        """Hold the lock file ``name`` (waiting for it, or not); yield whether it is held. Without lock files
        (an in-memory database) there is nobody to exclude."""
        descriptor = self._connection.lock(name)
        if descriptor is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
        try:
            yield True
        finally:
            if descriptor is not None:
                fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _sqlite_write(self, cursor: Any, work: Callable[[Any], _T]) -> _T:
        """``work(cursor)`` in a write transaction, taken after the writers' file lock."""
        with self._sqlite_lock("writer", wait=True):
            cursor.execute("BEGIN IMMEDIATE")
            result = work(cursor)
            cursor.execute("COMMIT")
            return result

    def _index_sqlite(self, cursor: Any) -> int:
        # 1. Read and sort the keys into the connection's temporary table: a read transaction, no lock.
        cursor.execute("BEGIN")
        after, through = self._pending(cursor)
        if through > after:
            cursor.execute(f"DELETE FROM temp.{_STAGED}")  # noqa: S608
            cursor.execute(index_sql(False, table=f"temp.{_STAGED}"), {"lo": after, "hi": through})
        cursor.execute("COMMIT")
        if through <= after:
            return 0
        # 2. Under the write lock: copy them in, unless another indexer was faster.
        return self._sqlite_write(cursor, lambda c: self._copy_staged(c, after, through))

    def _copy_staged(self, cursor: Any, after: int, through: int) -> int:
        if read_state(cursor).indexed_seq != after:  # another indexer was faster: commit nothing
            return 0
        cursor.execute(f"INSERT INTO audit_search ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.{_STAGED}")  # noqa: S608
        cursor.execute(_SAVE_SQL.format(m="?"), (through,))
        return through - after

    def _checkpoint(self) -> None:
        """SQLite: copy the WAL back into the database file (at the end of a catch-up and every
        ``_CHECKPOINT_EVENTS`` within one, not once a chunk), off the acknowledgement path: otherwise the
        appender does it at the commit that crosses its wal_autocheckpoint, with callers waiting. PASSIVE
        takes no lock that the appender waits for."""
        with self._guard:
            try:
                cursor = self._connection.connect().cursor()
                cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                cursor.close()
            except Exception:
                self._connection.close(rollback=True)
                raise

    def _configure(self, conn: Any) -> None:
        """The indexer's own settings, on each new connection (see :class:`DedicatedConnection`)."""
        if self._postgres:
            return
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-32768")
        conn.execute("PRAGMA wal_autocheckpoint=20000")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGED} (bucket INTEGER, dim TEXT, value TEXT, "
                     "occurred_at TEXT, seq INTEGER, PRIMARY KEY (bucket, dim, value, occurred_at, seq)) "
                     "WITHOUT ROWID")
