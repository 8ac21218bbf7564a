"""The access log service: durable, group-committed appends to the hash chain.

``AccessLog.record(event)`` returns the event id only once the event is durable: committed and its
write-ahead log synced (SQLite: by the writer, after it lets go of the write lock; PostgreSQL: by a
synchronous commit right after the append's, see ``_PG_COMMIT``). One writer thread owns one
database connection; callers hand it their events and wait. While the writer commits one batch, the next
fills up, so many concurrent callers share one commit (and one fsync) without any added delay for a
lone caller. Each caller's events are one unit: all stored or none.

Every batch runs under the append lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped
advisory lock), reads the chain head, checks caller-chosen event ids for idempotency, seals waiting admin
events from ``audit_admin_inbox`` into the chain, and appends. Several processes and nodes can therefore
share one database and one chain.

The search keys (patient, user, unit) are not indexed in the append transaction: :class:`audit.indexer.Indexer`
(a thread started with the writer) adds them in large batches moments later, and queries scan the short
unindexed tail, so an acknowledged event is searchable at once.

If the log cannot be written, or does not confirm within ``ack_timeout`` seconds, the caller gets
:class:`~audit.errors.AuditUnavailable`; the decision engine then denies and says why. (After a timeout
the event may still be written later: the log then holds a permit that was not acted on, the safe side.)
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.types.string import BytesBinaryDumper
from sqlalchemy import Engine

from audit.chain import FORMAT, SEPARATOR, Prepared, prepare_access, prepare_admin
from audit.checkpoints import Checkpointer
from audit.connection import DedicatedConnection
from audit.ddl import ensure_partitions
from audit.errors import AuditUnavailable, EventConflict
from audit.events import AccessEvent, AdminEvent
from audit.indexer import Indexer
from audit.store import COPY_TYPES, HEAD_SQL, existing_bodies, head_from_row, insert_rows, insert_sql, read_head

__all__ = ["AccessLog"]

_log = logging.getLogger("iam.audit")
_sha256 = hashlib.sha256
# Any constant works; it only has to be the same on every node sharing the database.
APPEND_LOCK_ID = 0x1A0D17
_WAL_CHECKPOINT_PAGES = 20_000
_ADVANCE_SECONDS = 1.0  # how often the checkpointer hashes what was appended (see _maintain)
_INBOX_SQL = "SELECT id, supplied, body FROM audit_admin_inbox ORDER BY id LIMIT 5000"
# PostgreSQL holds a transaction's locks until its commit is flushed to disk. Every writer of the chain
# queues on the append lock, so a synchronous commit kept the lock through a WAL flush and the writers of a
# node could only take turns flushing: two server workers logging token exchanges spent 6-7 ms a batch
# under the lock (half of it the flush) and managed about 8 events a batch. The append therefore commits
# asynchronously (the lock is let go at once) and, in the same round trip, a second transaction commits
# after it with the configured synchronous_commit (and synchronous replication). That transaction must
# write WAL, or PostgreSQL skips the flush of its commit: a transactional logical-decoding message (one
# small record, no table, any role) makes it do so. Its commit flushes the WAL up to and past the append's
# commit record, the writers' flushes overlap, and callers are answered only after the round trip returns.
# Until then other sessions may already see the events (a crash could still remove them; nobody was told
# they were recorded). tests/audit/test_access_log_durability.py checks the flush position.
_PG_BEGIN = f"BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_advisory_xact_lock({APPEND_LOCK_ID}); {HEAD_SQL}"
_PG_COMMIT = "COMMIT; BEGIN; SELECT pg_logical_emit_message(true, 'iam.audit.flush', ''); COMMIT"
_PG_BEGIN_INBOX = f"{_PG_BEGIN}; {_INBOX_SQL}"


class _Ticket:
    """One caller's events: stored together or refused together."""

    __slots__ = ("error", "future", "items", "loop")

    def __init__(self, items: list[Prepared], loop: asyncio.AbstractEventLoop | None = None,
                 future: asyncio.Future[list[str]] | None = None) -> None:
        self.items = items
        self.error: BaseException | None = None
        self.loop = loop
        self.future = future


class _Batch:
    __slots__ = ("done", "flush", "tickets", "timers")

    def __init__(self) -> None:
        self.tickets: list[_Ticket] = []
        self.done = threading.Event()
        self.flush = False  # seal the admin inbox in this batch, whenever it was last read
        # One acknowledgement timer per event loop and batch, not one per call: an asyncio.timeout per
        # awaited event cost a timer-heap push and pop per event on the loop thread.
        self.timers: dict[asyncio.AbstractEventLoop, asyncio.TimerHandle] = {}


def _settle(pairs: list[tuple[asyncio.Future[list[str]], list[str], BaseException | None]],
            timer: asyncio.TimerHandle | None) -> None:
    if timer is not None:
        timer.cancel()
    for future, ids, error in pairs:
        if future.done():
            continue
        if error is None:
            future.set_result(ids)
        else:
            future.set_exception(error)


def _expire(batch: _Batch, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    """The batch did not commit in time: its waiting callers on this loop get AuditUnavailable."""
    error = AuditUnavailable(f"the access log did not confirm within {timeout:g} s")
    for ticket in batch.tickets:
        future = ticket.future
        if ticket.loop is loop and future is not None and not future.done():
            future.set_exception(error)


class AccessLog:
    """The durable, tamper-evident access log of one process. Thread-safe; one writer thread."""

    def __init__(self, engine: Engine, *, checkpointer: Checkpointer | None = None, checkpoint_interval: float = 60.0,
                 ack_timeout: float = 10.0, inbox_interval: float = 0.25, index_interval: float = 0.5,
                 maintenance: bool = True) -> None:
        """``checkpointer`` signs a checkpoint every ``checkpoint_interval`` seconds when events arrived
        (0 turns the periodic job off); partitions for the coming months are ensured by the same job. The
        search index is brought up to date every ``index_interval`` seconds (0: only by
        ``self.indexer.catch_up()``; queries stay complete either way). ``maintenance=False`` starts neither
        job: another process sharing the database runs them (see :func:`iam.runtime.start_audit_maintenance`)."""
        self._engine = engine
        self.checkpointer = checkpointer
        self._postgres = engine.dialect.name == "postgresql"
        self._ack_timeout = ack_timeout
        self._inbox_interval = inbox_interval
        self._checkpoint_interval = checkpoint_interval
        self._maintenance = maintenance
        self._cond = threading.Condition()
        self._open = _Batch()
        self._closed = False
        self._started = False
        self._writer: threading.Thread | None = None
        self._maintainer: threading.Thread | None = None
        self._stop = threading.Event()
        # The writer thread's own connection; on SQLite with the writers' lock file, taken around each append.
        self._connection = DedicatedConnection(engine, locks=("writer",), configure=self._configure)
        self._wal: int | None = None  # SQLite: descriptor of the write-ahead log, synced outside the lock
        self._insert = insert_sql(self._postgres)
        self.indexer = Indexer(engine, interval=index_interval)
        #: Counters for benchmarks and metrics: transactions committed and events appended.
        self.stats = {"commits": 0, "events": 0}

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        """Create this and the next two months' partitions (PostgreSQL) and start the writer thread."""
        if self._started:
            return
        with self._engine.begin() as connection:
            ensure_partitions(connection)
        self._started = True
        self._writer = threading.Thread(target=self._run, name="iam-audit-writer", daemon=True)
        self._writer.start()
        if not self._maintenance:
            return
        self.indexer.start()
        if self.checkpointer is not None and self._checkpoint_interval > 0:
            self._maintainer = threading.Thread(target=self._maintain, name="iam-audit-checkpoints", daemon=True)
            self._maintainer.start()

    def close(self) -> None:
        """Write what callers already handed in, then stop. Later calls raise AuditUnavailable."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        if self._writer is not None:
            self._writer.join(timeout=self._ack_timeout + 5)
        if self._maintainer is not None:
            self._maintainer.join(timeout=30)
        self.indexer.close()
        self._disconnect()

    # -- recording --------------------------------------------------------------------------------------

    def record(self, event: AccessEvent, *, fresh: bool = False) -> str:
        """Append one access event; return its id once durable. Raise AuditUnavailable or EventConflict.

        An event with an ``event_id`` is idempotent on it (one query per batch). ``fresh=True`` says the id
        was just generated by our own code (:func:`audit.events.new_event_id`, a decision id), so it cannot
        be logged already and that query is skipped; never pass it for ids chosen by a caller outside.
        """
        return self._wait(self._submit([prepare_access(event, postgres=self._postgres, fresh=fresh)]))[0]

    def record_many(self, events: Sequence[AccessEvent], *, fresh: bool = False) -> list[str]:
        """Append events as one unit (all or none); return their ids in order once durable. ``fresh``: as
        for :meth:`record`."""
        if not events:
            return []
        items = [prepare_access(event, postgres=self._postgres, fresh=fresh) for event in events]
        return self._wait(self._submit(items))

    async def record_async(self, event: AccessEvent, *, fresh: bool = False) -> str:
        """:meth:`record` for the event loop: awaits the commit without blocking a thread."""
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._submit([prepare_access(event, postgres=self._postgres, fresh=fresh)], future=future)
        return (await future)[0]

    async def record_many_async(self, events: Sequence[AccessEvent], *, fresh: bool = False) -> list[str]:
        """:meth:`record_many` for the event loop. Callers are answered (AuditUnavailable) at the latest
        ``ack_timeout`` seconds after the first caller of their batch on this loop arrived."""
        if not events:
            return []
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        postgres = self._postgres
        self._submit([prepare_access(event, postgres=postgres, fresh=fresh) for event in events], future=future)
        return await future

    def flush(self) -> None:
        """Seal admin events waiting in the inbox (committed by other transactions) into the chain now."""
        self._wait(self._submit([], flush=True))

    # -- internals --------------------------------------------------------------------------------------

    def _submit(self, items: list[Prepared], *, future: asyncio.Future[list[str]] | None = None,
                flush: bool = False) -> tuple[_Ticket, _Batch]:
        """Hand events to the writer. With ``future`` (created on the running loop, which is this thread's),
        the caller is answered through it instead of waiting on the batch."""
        loop = future.get_loop() if future is not None else None
        ticket = _Ticket(items, loop, future)
        with self._cond:
            if self._closed or not self._started:
                raise AuditUnavailable("the access log is not running")
            batch = self._open
            batch.tickets.append(ticket)
            batch.flush = batch.flush or flush
            if len(batch.tickets) == 1:
                self._cond.notify()
            if loop is not None and loop not in batch.timers:
                batch.timers[loop] = loop.call_later(self._ack_timeout, _expire, batch, loop, self._ack_timeout)
        return ticket, batch

    def _wait(self, submitted: tuple[_Ticket, _Batch]) -> list[str]:
        ticket, batch = submitted
        if not batch.done.wait(self._ack_timeout):
            raise AuditUnavailable(f"the access log did not confirm within {self._ack_timeout:g} s")
        if ticket.error is not None:
            raise ticket.error
        return [item.event_id for item in ticket.items]

    def _run(self) -> None:
        next_inbox = 0.0
        while True:
            with self._cond:
                while not self._open.tickets and not self._closed:
                    remaining = next_inbox - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                batch, self._open = self._open, _Batch()
                closing = self._closed
            # The inbox is read once an interval (or on flush), not in every batch: under load that saved a
            # query per commit, and admin events only have to be sealed within the interval.
            now = time.monotonic()
            inbox = batch.flush or closing or now >= next_inbox
            if inbox:
                next_inbox = now + self._inbox_interval
            self._write(batch, inbox=inbox)
            if closing and not self._open.tickets:
                self._fail_open()
                return

    def _fail_open(self) -> None:
        with self._cond:
            batch, self._open = self._open, _Batch()
        for ticket in batch.tickets:
            ticket.error = AuditUnavailable("the access log is not running")
        self._finish(batch)

    def _write(self, batch: _Batch, *, inbox: bool) -> None:
        try:
            if not batch.tickets and not self._inbox_waiting():
                return
            self._append(batch.tickets, inbox=inbox)
        except Exception as exc:
            _log.error("access log append failed", exc_info=exc, extra={"callers": len(batch.tickets)})
            self._disconnect(rollback=True)
            failure = AuditUnavailable("the access log cannot be written (database unavailable); "
                                       "the access may not have been recorded")
            for ticket in batch.tickets:
                if ticket.error is None:
                    ticket.error = failure
        self._finish(batch)

    def _finish(self, batch: _Batch) -> None:
        batch.done.set()
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for ticket in batch.tickets:
            if ticket.future is not None and ticket.loop is not None:
                ids = [item.event_id for item in ticket.items]
                by_loop.setdefault(ticket.loop, []).append((ticket.future, ids, ticket.error))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed while waiting: nobody is left to tell
                loop.call_soon_threadsafe(_settle, pairs, batch.timers.get(loop))

    def _configure(self, conn: Any) -> None:
        """The writer's own settings, on each new connection (see :class:`DedicatedConnection`)."""
        if self._postgres:
            # COPY picks dumpers by column type, and for bytea that is psycopg's DB-API ``Binary`` dumper,
            # written in Python (two calls per row); registering the bytes dumper again makes the
            # compiled one the bytea dumper of this connection.
            conn.adapters.register_dumper(bytes, BytesBinaryDumper)
            return
        conn.execute("PRAGMA cache_size=-65536")
        # The search indexer copies the WAL back into the database after each of its runs (off the
        # acknowledgement path); this is the fallback when no indexer runs. Every 20,000 pages (80 MB
        # of WAL) rather than 1,000 (the default) so that a page dirtied by many commits is copied once.
        conn.execute(f"PRAGMA wal_autocheckpoint={_WAL_CHECKPOINT_PAGES}")
        if self._connection.path:
            # As on PostgreSQL (see _PG_COMMIT): a synchronous commit syncs the WAL while holding the
            # write lock, so the writers of a file took turns syncing. This connection commits without
            # the sync, lets go of the locks, then syncs the WAL file itself before anyone is
            # answered. The WAL cannot be deleted or replaced while this connection is open, and a
            # checkpoint syncs what it copies before it reuses the WAL.
            conn.execute("PRAGMA synchronous=NORMAL")

    def _disconnect(self, *, rollback: bool = False) -> None:
        self._connection.close(rollback=rollback)
        if self._wal is not None:
            os.close(self._wal)
            self._wal = None

    def _append(self, tickets: list[_Ticket], *, inbox: bool) -> None:
        conn = self._connection.connect()
        lock = self._connection.lock("writer")
        if lock is not None:
            # Writers of one SQLite file (one per server process) queue on a blocking OS lock: a waiter wakes
            # the moment the holder lets go, where SQLite's busy handler would sleep 1, 2, 5, 10... ms.
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            self._append_locked(conn, tickets, inbox=inbox)
        except BaseException:
            # Roll back before letting go of the file lock, so the next writer never meets our transaction.
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            raise
        finally:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)
        if lock is not None:
            if self._wal is None:
                # The WAL of the file SQLite really uses (it resolves symbolic links and relative paths).
                self._wal = os.open(self._connection.path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
            os.fsync(self._wal)

    def _append_locked(self, conn: Any, tickets: list[_Ticket], *, inbox: bool) -> None:
        postgres = self._postgres
        cursor = conn.cursor()
        inbox_rows: list[Any] = []
        if postgres:
            # One round trip for BEGIN, the advisory lock, the head and the inbox: each round trip is held
            # under the lock that every writer shares. Separate statements, so that the head is read with a
            # snapshot taken after the lock was granted.
            cursor.execute(_PG_BEGIN_INBOX if inbox else _PG_BEGIN)
            cursor.nextset()  # synchronous_commit
            cursor.nextset()  # the lock
            cursor.nextset()
            head_row = cursor.fetchone()
            if inbox:
                cursor.nextset()
                inbox_rows = cursor.fetchall()
            head = head_from_row(cursor, head_row, postgres)  # may query (retention anchor): results read first
        else:
            cursor.execute("BEGIN IMMEDIATE")
            head = read_head(cursor, postgres)
            if inbox:
                cursor.execute(_INBOX_SQL)
                inbox_rows = cursor.fetchall()
        inbox_ids, inbox_items = self._inbox_items(inbox_rows)
        accepted = self._deduplicate(cursor, tickets, inbox_items)
        if accepted:
            now = datetime.now(UTC)
            recorded = now.isoformat(" ", "microseconds")[:26] + ("+00" if postgres else "")
            if recorded < head.recorded_at:  # another node's clock is ahead: keep recorded_at monotonic
                recorded = head.recorded_at
                now = datetime.fromisoformat(recorded) if postgres else now
            prefix = f"{FORMAT}{SEPARATOR}{recorded[:10]}T{recorded[11:26]}Z{SEPARATOR}"
            stored: object = now if postgres else recorded
            seq, prev = head.seq, head.hash
            rows = []
            for item in accepted:
                seq += 1
                data = (prefix + item.body).encode()
                digest = _sha256(prev + _sha256(b"\x00" + data).digest()).digest()
                rows.append((seq, stored, *item.values, prev, digest))
                prev = digest
            if postgres:
                with cursor.copy(self._insert) as copy:
                    copy.set_types(COPY_TYPES)
                    for row in rows:
                        copy.write_row(row)
            else:
                insert_rows(cursor, rows)
        if inbox_ids:
            if postgres:
                cursor.execute("DELETE FROM audit_admin_inbox WHERE id = ANY(%s)", (inbox_ids,))
            else:
                marks = ",".join("?" * len(inbox_ids))
                cursor.execute(f"DELETE FROM audit_admin_inbox WHERE id IN ({marks})", inbox_ids)  # noqa: S608
        cursor.execute(_PG_COMMIT if postgres else "COMMIT")
        cursor.close()
        self.stats["commits"] += 1
        self.stats["events"] += len(accepted)

    def _inbox_items(self, rows: list[Any]) -> tuple[list[int], list[tuple[Prepared, AdminEvent]]]:
        ids: list[int] = []
        items: list[tuple[Prepared, AdminEvent]] = []
        for row_id, supplied, body in rows:
            ids.append(int(row_id))
            event = AdminEvent.model_validate_json(body)
            prepared = prepare_admin(event, postgres=self._postgres)
            items.append((prepared._replace(supplied=bool(supplied)), event))
        return ids, items

    def _inbox_waiting(self) -> bool:
        conn = self._connection.connect()
        cursor = conn.cursor()
        cursor.execute("SELECT 1 FROM audit_admin_inbox LIMIT 1")
        waiting = cursor.fetchone() is not None
        cursor.close()
        return waiting

    def _deduplicate(self, cursor: Any, tickets: list[_Ticket],
                     inbox: list[tuple[Prepared, AdminEvent]]) -> list[Prepared]:
        """The events to append: drop exact repeats of logged ids, refuse tickets that reuse an id."""
        supplied = [item.event_id for ticket in tickets for item in ticket.items if item.supplied]
        supplied += [item.event_id for item, _ in inbox if item.supplied]
        if not supplied:
            accepted = [item for item, _ in inbox]
            for ticket in tickets:
                accepted.extend(ticket.items)
            return accepted
        seen = existing_bodies(cursor, supplied, self._postgres)
        accepted = []
        for item, event in inbox:
            known = seen.get(item.event_id) if item.supplied else None
            if known is None:
                seen[item.event_id] = item.body
                accepted.append(item)
            elif known != item.body:
                # The change it records is committed already, so it is logged under a fresh id, not lost.
                _log.warning("admin event id reused with other content; logged under a new id",
                             extra={"event_id": item.event_id})
                accepted.append(prepare_admin(event.model_copy(update={"event_id": None}), postgres=self._postgres))
        for ticket in tickets:
            new: list[Prepared] = []
            pending: dict[str, str] = {}
            for item in ticket.items:
                known = seen.get(item.event_id, pending.get(item.event_id)) if item.supplied else None
                if known is None:
                    if item.supplied:
                        pending[item.event_id] = item.body
                    new.append(item)
                elif known != item.body:
                    ticket.error = EventConflict(item.event_id)
                    break
            if ticket.error is None:
                seen.update(pending)
                accepted.extend(new)
        return accepted

    def _maintain(self) -> None:
        """Every second the checkpointer verifies and hashes what was appended (see Checkpointer.advance), and
        every ``checkpoint_interval`` it signs a checkpoint and the coming months' partitions are ensured."""
        assert self.checkpointer is not None
        tick = min(_ADVANCE_SECONDS, self._checkpoint_interval)
        due = time.monotonic() + self._checkpoint_interval
        while not self._stop.wait(tick):
            try:
                if time.monotonic() < due:
                    self.checkpointer.advance(stop=self._stop)
                    continue
                due = time.monotonic() + self._checkpoint_interval
                self.checkpointer.maybe_create()
                with self._engine.begin() as connection:
                    ensure_partitions(connection)
            except Exception:
                _log.exception("access log maintenance (checkpoint, partitions) failed")


