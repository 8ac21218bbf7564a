"""The writers and indexers of one SQLite file queue on lock files beside it (audit/connection.py), named
from the file SQLite resolved: two engines that name one file differently (here through a symbolic link)
must exclude each other, so these tests hold a lock of the real file and watch the other name wait."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from audit.errors import AuditUnavailable
from audit.log import AccessLog
from iam.db import make_engine
from tests.audit.conftest import full_event


@contextmanager
def _held(lock_file: str) -> Iterator[None]:
    """Hold ``lock_file`` as another process's writer or indexer would: its own descriptor, flock."""
    descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _linked_copy(tmp_path: Path, sqlite_template: Path) -> tuple[str, Path]:
    """A migrated database file (its real path, resolved) and a symbolic link to it."""
    real = tmp_path / "data" / "iam.db"
    real.parent.mkdir()
    real.write_bytes(sqlite_template.read_bytes())
    link = tmp_path / "link.db"
    link.symlink_to(real)
    return os.path.realpath(real), link


def test_sqlite_writer_through_a_symbolic_link_waits_for_the_writer_lock_of_the_real_file(
        tmp_path: Path, sqlite_template: Path) -> None:
    real, link = _linked_copy(tmp_path, sqlite_template)
    log = AccessLog(make_engine(f"sqlite:///{link}"), checkpoint_interval=0, index_interval=0, ack_timeout=0.5)
    log.start()
    try:
        log.record(full_event(request_id="req-before"))  # connected: its lock file is open
        with _held(f"{real}-writer.lock"), pytest.raises(AuditUnavailable, match=r"did not confirm within 0\.5 s"):
            log.record(full_event(request_id="req-while-held"))
        assert log.record(full_event(request_id="req-after"))
    finally:
        log.close()
    assert not Path(f"{link}-writer.lock").exists()


def test_sqlite_indexer_through_a_symbolic_link_skips_while_the_indexer_lock_of_the_real_file_is_held(
        tmp_path: Path, sqlite_template: Path) -> None:
    real, link = _linked_copy(tmp_path, sqlite_template)
    log = AccessLog(make_engine(f"sqlite:///{link}"), checkpoint_interval=0, index_interval=0)
    log.start()
    try:
        log.record_many([full_event(request_id=f"req-{number}") for number in range(3)])
        with _held(f"{real}-indexer.lock"):
            skipped = log.indexer.index_once()
        indexed = log.indexer.index_once()
    finally:
        log.close()
    assert (skipped, indexed) == (0, 3)
    assert not Path(f"{link}-indexer.lock").exists()
