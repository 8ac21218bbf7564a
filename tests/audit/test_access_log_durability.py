"""An acknowledged event is on disk: the writers commit without syncing under the append lock and sync
afterwards (audit/log.py), so these tests look at what was synced when ``record`` returned."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from sqlalchemy import create_engine

from audit.log import AccessLog
from iam.db import make_engine
from tests.audit.conftest import full_event


def test_postgresql_has_flushed_the_wal_past_an_event_when_it_is_acknowledged(postgres_url: str) -> None:
    log = AccessLog(make_engine(postgres_url), checkpoint_interval=0, index_interval=0)
    log.start()
    dsn = create_engine(postgres_url).url.set(drivername="postgresql").render_as_string(hide_password=False)
    flushed = 0
    try:
        with psycopg.connect(dsn, autocommit=True) as probe:
            for number in range(20):
                log.record(full_event(request_id=f"req-{number}"))
                # Read at once: everything inserted so far (our append and the commits after it) must be flushed.
                # Background WAL (autovacuum, standby snapshots) written in between can make one reading
                # fall short, hence a majority rather than all; with the append's asynchronous commit
                # left unflushed, none passes.
                row = probe.execute("SELECT pg_current_wal_flush_lsn() >= pg_current_wal_insert_lsn()").fetchone()
                flushed += bool(row and row[0])
    finally:
        log.close()
    assert flushed >= 15, f"the WAL was flushed past the acknowledged event in only {flushed} of 20 appends"


def test_sqlite_syncs_the_wal_file_sqlite_really_writes_even_through_a_symbolic_link(tmp_path: Path,
                                                                                    sqlite_template: Path) -> None:
    real = tmp_path / "data" / "iam.db"
    real.parent.mkdir()
    real.write_bytes(Path(sqlite_template).read_bytes())
    link = tmp_path / "link.db"
    link.symlink_to(real)
    log = AccessLog(make_engine(f"sqlite:///{link}"), checkpoint_interval=0, index_interval=0)
    log.start()
    try:
        event_id = log.record(full_event())
        synced = os.fstat(log._wal)  # the descriptor the writer syncs is the subject here
        live = os.stat(f"{real}-wal")
        assert (synced.st_dev, synced.st_ino) == (live.st_dev, live.st_ino)
        assert not Path(f"{link}-wal").exists()
    finally:
        log.close()
    assert event_id
