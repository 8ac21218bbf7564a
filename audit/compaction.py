"""Compaction of the search index: the keys of sealed buckets merged into one archive bucket per group.

The indexer appends each event's keys to the bucket ``seq // BUCKET_EVENTS`` (see :mod:`audit.indexer` for
why), so a query for one key probes every bucket: 306 probes at 10 million events, about 1,240 pages on
PostgreSQL, where the index of that log (1.7 GB) does not fit the default shared buffers (on one machine
48 ms p99 on the first pass, 19 ms once cached). Once every event of a group of ``group_buckets`` buckets
(32 by default: about a million events) is indexed, the group is sealed: nothing is ever added to it
again. The compactor
then moves its keys into the archive bucket ``-(group + 1)``, one key range per transaction, where each
key's entries lie together again. A query over 10 million events then probes 10 archives and at most 32
buckets.

Queries stay complete while a group is being moved. A key range moves in one transaction, and each probe
is one statement over every bucket that can hold a wanted entry (:meth:`SearchState.probe_buckets`): the
archive of every group up to the query's mark, whether it exists yet or not, and the buckets from the
first group not compacted when the query began. Compaction only ever moves keys from those buckets into
those archives, so each entry is found exactly once, before or after it moved.

Within a group the compactor only remembers where its last range ended: a range that moved is gone from
the group's buckets, so redoing ranges after a restart moves nothing, and the group counts as compacted
(``compacted_groups``) only in a transaction that finds none of its entries left. On SQLite a transaction
holds the database's one write lock, so it moves about 1,024 entries (a few milliseconds); on PostgreSQL,
where appenders never wait for it, 4,096. All nodes sharing a database must run code that knows the
archives before the first group is compacted: older code probes only the buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

__all__ = ["BUCKET_EVENTS", "DIMENSIONS", "STATE_SQL", "KeyRange", "Position", "SearchState", "move_range",
           "plan_range", "read_state", "search_state"]

#: Events per bucket of ``audit_search`` (a power of two: ``seq // BUCKET_EVENTS`` in SQL).
BUCKET_EVENTS = 32_768
STATE_SQL = "SELECT indexed_seq, compacted_groups, group_buckets FROM audit_search_state WHERE id = 1"


@dataclass(frozen=True)
class SearchState:
    """How far the search index reaches (``indexed_seq``) and how much of it is compacted."""

    indexed_seq: int = 0
    compacted_groups: int = 0
    group_buckets: int = 32

    @property
    def group_events(self) -> int:
        return self.group_buckets * BUCKET_EVENTS

    def probe_buckets(self) -> list[int]:
        """The buckets a query of the entries up to ``indexed_seq`` probes: every archive that holds or may
        come to hold one of them, then the buckets not compacted when this state was read."""
        archives = [-(group + 1) for group in range(self.indexed_seq // self.group_events + 1)]
        first = self.compacted_groups * self.group_buckets
        return archives + list(range(first, max(self.indexed_seq // BUCKET_EVENTS, first - 1) + 1))

    def sealed_group(self) -> int | None:
        """The next group to compact, if every one of its events is indexed."""
        group = self.compacted_groups
        return group if self.indexed_seq >= (group + 1) * self.group_events else None


def read_state(cursor: Any) -> SearchState:
    """The state as a DB-API cursor's transaction sees it (the default before the indexer first ran)."""
    cursor.execute(STATE_SQL)
    return _state_of(cursor.fetchone())


def search_state(connection: Connection) -> SearchState:
    """The state as an SQLAlchemy connection sees it."""
    return _state_of(connection.execute(text(STATE_SQL)).one_or_none())


def _state_of(row: Any) -> SearchState:
    return SearchState(int(row[0]), int(row[1]), int(row[2])) if row is not None else SearchState()


#: Where compaction of a group stands: the index of the dimension it is in (``DIMENSIONS``) and the last
#: ``(value, occurred_at, seq)`` moved in it (``None``: none yet), the stored values as the driver returns them.
Position = tuple[int, tuple[Any, ...] | None]
#: The ``dim`` values of ``audit_search`` in their sort order (see audit.indexer).
DIMENSIONS = ("d", "p", "u", "x")
_IN_DIM = "value, occurred_at, seq"
_IN_DIM_NAMES = ("value", "occurred_at", "seq")


@dataclass(frozen=True)
class KeyRange:
    """The next key range of a group to move (:func:`plan_range`): from after ``after`` through ``end``
    (``None``: to the end of the dimension), and the most entries one bucket holds in it."""

    group: int
    after: Position
    end: tuple[Any, ...] | None
    widest: int


def plan_range(cursor: Any, postgres: bool, state: SearchState, group: int, *, after: Position,
               step: int, rows: int) -> KeyRange:
    """The entries of ``group`` in the next key range after ``after`` (``(0, None)``: from the start): at most
    ``rows`` entries, and at most ``step`` of any one bucket (the caller tunes ``step`` so that about ``rows``
    move, see :meth:`audit.indexer.Indexer.compact_once`). The range is bounded on the whole key, so one busy
    key (a unit's thousands of entries) is split over several transactions too. Only reads: on SQLite it runs
    in a read transaction, before the write transaction of :func:`move_range` (the caller makes sure that no
    other compactor or indexer writes between them), so that appenders never wait for this 32-bucket read.

    A range lies within one dimension (``dim = ...``), with ``value`` bounds beside the row comparison: a
    B-tree scan stops at the first column of a row comparison only (PostgreSQL read the rest of a bucket's
    patients, 121 pages for 46 entries, without them).
    """
    first = group * state.group_buckets
    step = max(step, 1)
    params = _lower_params(after)
    params["step"] = step
    lower = _lower(postgres, after)
    # Each bucket's next ``step`` entries; the range ends at the smallest of the ``step``-th ones (no bucket
    # gives more than its ``step``, all of which are at hand here) and at the ``rows``-th smallest of them all.
    # (Ending where one bucket's ``step`` entries end would give a busy key's older entries of every other
    # bucket at once, as they come before the newer ones of that bucket.)
    heads = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {bucket} AS b, {_IN_DIM} FROM audit_search WHERE bucket = {bucket}{lower} "  # noqa: S608
        f"ORDER BY {_IN_DIM} LIMIT {_mark(postgres, 'step')}) AS b{index}"
        for index, bucket in enumerate(range(first, first + state.group_buckets)))
    cursor.execute(heads, params)
    by_bucket: dict[int, list[tuple[Any, ...]]] = {}
    for row in cursor.fetchall():
        by_bucket.setdefault(int(row[0]), []).append(tuple(row[1:]))
    # A bucket that gave all ``step`` may hold more beyond its last; one that gave fewer has no more.
    bounds = [max(entries) for entries in by_bucket.values() if len(entries) >= step]
    every = sorted(entry for entries in by_bucket.values() for entry in entries)
    if len(every) > rows:
        bounds.append(every[rows - 1])
    end: tuple[Any, ...] | None = min(bounds) if bounds else None
    widest = max((sum(1 for entry in entries if end is None or entry <= end) for entries in by_bucket.values()),
                 default=0)
    return KeyRange(group, after, end, widest)


def move_range(cursor: Any, postgres: bool, state: SearchState, planned: KeyRange) -> tuple[int, Position | None]:
    """Move the entries of ``planned`` into the group's archive; return how many moved and where the next
    range starts (``None``: that was the group's last). The last range counts the group as compacted, but only
    if none of its entries is left behind: should ranges the caller believes moved have been lost (an unsynced
    commit lost in a database crash), it leaves the group open and the caller starts over from the beginning.
    The caller owns the write transaction."""
    group, (dim_index, _), end = planned.group, planned.after, planned.end
    first = group * state.group_buckets
    buckets = f"bucket IN ({', '.join(str(b) for b in range(first, first + state.group_buckets))})"
    params = _lower_params(planned.after)
    upper = ""
    if end is not None:
        upper = f" AND value <= {_mark(postgres, 'end_value')} AND ({_IN_DIM}) <= ({_marks(postgres, 'end')})"
        params.update(zip(_names("end"), end, strict=True))
    where = f"{buckets}{_lower(postgres, planned.after)}{upper}"
    cursor.execute(f"INSERT INTO audit_search (bucket, dim, {_IN_DIM}) SELECT {-(group + 1)}, dim, {_IN_DIM} "  # noqa: S608
                   f"FROM audit_search WHERE {where} ORDER BY dim, {_IN_DIM}", params)
    cursor.execute(f"DELETE FROM audit_search WHERE {where}", params)  # noqa: S608
    moved = max(int(cursor.rowcount), 0)
    if end is not None:
        return moved, (dim_index, end)
    if dim_index + 1 < len(DIMENSIONS):
        return moved, (dim_index + 1, None)
    cursor.execute(f"SELECT 1 FROM audit_search WHERE {buckets} LIMIT 1")  # noqa: S608
    if cursor.fetchone() is None:
        cursor.execute(f"UPDATE audit_search_state SET compacted_groups = {group + 1} WHERE id = 1")  # noqa: S608
    return moved, None


def _lower(postgres: bool, after: Position) -> str:
    """The condition for the entries after ``after``, in its dimension."""
    lower = " AND dim = " + _mark(postgres, "dim")
    if after[1] is not None:
        lower += (f" AND value >= {_mark(postgres, 'after_value')}"
                  f" AND ({_IN_DIM}) > ({_marks(postgres, 'after')})")
    return lower


def _lower_params(after: Position) -> dict[str, object]:
    params: dict[str, object] = {"dim": DIMENSIONS[after[0]]}
    if after[1] is not None:
        params.update(zip(_names("after"), after[1], strict=True))
    return params


def _mark(postgres: bool, name: str) -> str:
    return f"%({name})s" if postgres else f":{name}"


def _names(prefix: str) -> list[str]:
    return [f"{prefix}_{name}" for name in _IN_DIM_NAMES]


def _marks(postgres: bool, prefix: str) -> str:
    return ", ".join(_mark(postgres, name) for name in _names(prefix))
