"""A connection kept by one thread for good, beside the engine's pool, with the lock files of its SQLite file.

The access log's writer (:mod:`audit.log`) and its search indexer (:mod:`audit.indexer`) each keep one DB-API
connection of their own and run their transactions on it with explicit ``BEGIN`` and ``COMMIT``. On SQLite
the writers and indexers of one database file, in any number of processes, also queue on lock files beside
that file (``<file>-writer.lock``, ``<file>-indexer.lock``). The lock files are named from the file SQLite
resolved, not from the URL, so that two engines naming one file differently (a relative path, a symbolic
link) share them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine

__all__ = ["DedicatedConnection"]


class DedicatedConnection:
    """One raw DB-API connection taken from ``engine`` and detached from its pool, opened on first use:
    autocommit on PostgreSQL, no implicit transactions on SQLite (``isolation_level = None``).

    For a SQLite database in a named file (not ``:memory:``, not a ``file:`` URI), the connection also opens
    one lock file per name in ``locks``, ``<file>-<name>.lock`` beside the file SQLite resolved; it only opens
    them, taking them (``flock``) is the owner's business. ``configure`` is called with each new connection
    after that, for the owner's own settings (PRAGMAs). Not thread-safe: one thread at a time uses it.
    """

    def __init__(self, engine: Engine, *, locks: Sequence[str] = (),
                 configure: Callable[[Any], None] | None = None) -> None:
        self._engine = engine
        self._lock_names = tuple(locks)
        self._configure = configure
        self._fairy: Any = None
        self._conn: Any = None
        self._locks: dict[str, int] = {}
        self._path = ""

    @property
    def path(self) -> str:
        """The database file SQLite resolved (symbolic links and relative paths followed), while connected to a
        SQLite database in a named file; ``""`` otherwise (PostgreSQL, in-memory, ``file:`` URI, closed)."""
        return self._path

    def connect(self) -> Any:
        """The driver connection, opened (with its lock files) if there is none. Raises what the driver raises;
        a connection that failed while being set up is closed again."""
        if self._conn is None:
            self._open()
        return self._conn

    def lock(self, name: str) -> int | None:
        """The descriptor of the lock file ``name`` (one of ``locks``) while connected to a SQLite database in a
        named file; ``None`` otherwise."""
        return self._locks.get(name)

    def close(self, *, rollback: bool = False) -> None:
        """Close the connection and its lock files; the next :meth:`connect` opens new ones. ``rollback``: roll
        back an open transaction first (after a failure). Errors of the driver are not raised: the connection
        is dropped either way."""
        if rollback and self._conn is not None:
            with contextlib.suppress(Exception):  # the connection is being dropped anyway
                self._conn.execute("ROLLBACK")
        if self._fairy is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; it is dropped anyway
                self._fairy.close()
        self._fairy = self._conn = None
        for descriptor in self._locks.values():
            os.close(descriptor)
        self._locks = {}
        self._path = ""

    def _open(self) -> None:
        fairy = self._engine.raw_connection()
        conn: Any = fairy.driver_connection
        fairy.detach()  # its owner keeps this connection for good; the pool must not hand it out
        self._fairy = fairy
        try:
            if self._engine.dialect.name == "postgresql":
                conn.autocommit = True
            else:
                conn.isolation_level = None
                database = self._engine.url.database
                if database and database != ":memory:" and not database.startswith("file:"):
                    # The file SQLite really uses (it resolves symbolic links and relative paths): lock files
                    # named from the URL would differ between engines naming one file differently.
                    path = str(conn.execute("PRAGMA database_list").fetchone()[2])
                    # Opened here, on first use in the owner's thread: a descriptor inherited across fork would
                    # share its lock with the parent's.
                    for name in self._lock_names:
                        self._locks[name] = os.open(f"{path}-{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                                    0o600)
                    self._path = path
            if self._configure is not None:
                self._configure(conn)
        except BaseException:
            self.close()
            raise
        self._conn = conn
