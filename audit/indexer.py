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

Indexer transactions are not synced (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL
``synchronous_commit=off``): the index is derived data, and a crash can only lose whole indexer
transactions, with the ``indexed_seq`` they advanced, which the next run redoes.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine, text

from audit.connection import DedicatedConnection

__all__ = ["BUCKET_EVENTS", "Indexer", "index_range", "index_sql", "indexed_through"]

_log = logging.getLogger("iam.audit")

#: Events per bucket of ``audit_search`` (a power of two: ``seq // BUCKET_EVENTS`` in SQL).
BUCKET_EVENTS = 32_768
INDEX_LOCK_ID = 0x1A0D18
_DIMENSIONS = (
    ("p", "patient", "patient IS NOT NULL"),
    ("u", "user_id", "user_id IS NOT NULL"),
    ("d", "department", "department IS NOT NULL"),
    # The patient view shows a proxy's own accesses under the proxy's identity too (domain rule 10).
    ("x", "user_national_id", "proxy_for IS NOT NULL AND user_national_id IS NOT NULL"),
)
# SQLite: the indexer copies the WAL back into the database at the end of a catch-up and at least this
# often within a long one (a backlog after a restart), so the WAL never waits for the appender to do it.
_CHECKPOINT_EVENTS = 32_768
_STATE_SQL = "SELECT indexed_seq FROM audit_search_state WHERE id = 1"
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
    return int(connection.execute(text(_STATE_SQL)).scalar() or 0)


class Indexer:
    """Keeps ``audit_search`` caught up: a thread that, every ``interval`` seconds, indexes what was appended
    since, in transactions of at most ``chunk`` events. Any number of processes may run one: PostgreSQL
    lets one at a time through an advisory lock, SQLite through its write lock (taken after the writers'
    file lock, so a waiting appender is never left in SQLite's sleeping busy handler)."""

    def __init__(self, engine: Engine, *, interval: float = 0.5, chunk: int | None = None) -> None:
        """``chunk``: the most events a transaction indexes; by default 32,768 on PostgreSQL and 1,024 on
        SQLite, where the copy into ``audit_search`` holds the database's one write lock (about 7 µs an
        event) and every appender of the file waits for it: half a second of a busy node's decisions (2,400
        events) held it 17 ms, twice a second, as long as a decision's whole latency budget. Small
        transactions let the appenders in between. PostgreSQL's indexer blocks no appender."""
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._interval = interval
        self._chunk = chunk if chunk is not None else (32_768 if self._postgres else 1_024)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # The indexer thread's own connection; on SQLite with the writers' and the indexers' lock files.
        self._connection = DedicatedConnection(engine, locks=("writer", "indexer"), configure=self._configure)
        self._guard = threading.Lock()  # catch_up() from another thread and the indexer thread
        #: Counters for benchmarks and metrics.
        self.stats = {"runs": 0, "events": 0}

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
        with self._guard:
            try:
                return self._index_once()
            except Exception:
                self._connection.close(rollback=True)
                raise

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.catch_up()
            except Exception:
                _log.exception("access log indexer failed; queries scan the unindexed tail meanwhile")

    def _index_once(self) -> int:
        conn = self._connection.connect()
        cursor = conn.cursor()
        try:
            done = self._index_postgres(cursor) if self._postgres else self._index_sqlite(cursor)
        finally:
            cursor.close()
        self.stats["runs"] += 1
        self.stats["events"] += done
        return done

    def _pending(self, cursor: Any) -> tuple[int, int]:
        """``(indexed_seq, the last seq to index now)`` as the current transaction sees them."""
        cursor.execute(_STATE_SQL)
        row = cursor.fetchone()
        after = int(row[0]) if row is not None else 0
        cursor.execute("SELECT coalesce(max(seq), 0) FROM audit_events")
        return after, min(int(cursor.fetchone()[0]), after + self._chunk)

    def _index_postgres(self, cursor: Any) -> int:
        cursor.execute("BEGIN")
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(f"SELECT pg_try_advisory_xact_lock({INDEX_LOCK_ID})")
        if not cursor.fetchone()[0]:  # another process's indexer is at work
            cursor.execute("ROLLBACK")
            return 0
        # Appends commit under their own lock in seq order, so the events up to max(seq) are all visible.
        after, through = self._pending(cursor)
        if through > after:
            index_range(cursor, True, after=after, through=through)
            cursor.execute(_SAVE_SQL.format(m="%s"), (through,))
        cursor.execute("COMMIT")
        return max(through - after, 0)

    def _index_sqlite(self, cursor: Any) -> int:
        index_lock = self._connection.lock("indexer")
        if index_lock is not None:
            try:  # one indexer at a time per database file; the others skip this round
                fcntl.flock(index_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0
        try:
            return self._index_sqlite_locked(cursor)
        finally:
            if index_lock is not None:
                fcntl.flock(index_lock, fcntl.LOCK_UN)

    def _index_sqlite_locked(self, cursor: Any) -> int:
        # 1. Read and sort the keys into the connection's temporary table: a read transaction, no lock.
        cursor.execute("BEGIN")
        after, through = self._pending(cursor)
        if through > after:
            cursor.execute(f"DELETE FROM temp.{_STAGED}")  # noqa: S608
            cursor.execute(index_sql(False, table=f"temp.{_STAGED}"), {"lo": after, "hi": through})
        cursor.execute("COMMIT")
        if through <= after:
            return 0
        # 2. Under the write lock (after the writers' file lock): copy them in, unless another indexer was faster.
        file_lock = self._connection.lock("writer")
        if file_lock is not None:
            fcntl.flock(file_lock, fcntl.LOCK_EX)
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(_STATE_SQL)
            row = cursor.fetchone()
            if (int(row[0]) if row is not None else 0) != after:
                cursor.execute("ROLLBACK")
                return 0
            cursor.execute(f"INSERT INTO audit_search ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.{_STAGED}")  # noqa: S608
            cursor.execute(_SAVE_SQL.format(m="?"), (through,))
            cursor.execute("COMMIT")
        finally:
            if file_lock is not None:
                fcntl.flock(file_lock, fcntl.LOCK_UN)
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
