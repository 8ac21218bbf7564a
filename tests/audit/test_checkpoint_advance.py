"""The checkpointer hashes the log as it grows (``advance``) and signs from there: the root of every leaf,
checkpoints of two processes interleaving, and tampering still caught."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit.checkpoints import ChainBroken, Checkpointer
from audit.merkle import Frontier, leaf_hash
from audit.models import MerkleBlockRow
from audit.store import iter_leaf_chunks
from audit.verify import verify_log
from iam.runtime import Runtime
from tests.audit.conftest import record_series


def _checkpointer(runtime: Runtime) -> Checkpointer:
    """Another process's checkpointer: its own state, the same database and keys."""
    return Checkpointer(runtime.engine, runtime.sessions, runtime.keys)


def _root_of_every_leaf(runtime: Runtime, size: int) -> bytes:
    """The Merkle root over the first ``size`` events, computed from their stored leaves alone."""
    frontier = Frontier()
    with runtime.engine.connect() as connection:
        for rows in iter_leaf_chunks(connection, first=1, last=size):
            frontier.extend([leaf_hash(data) for _seq, _prev, _hash, data in rows])
    return frontier.root()


def test_advanced_checkpoints_have_the_root_of_every_leaf(runtime: Runtime) -> None:
    ours = _checkpointer(runtime)
    record_series(runtime, 600)
    advanced = [ours.advance(), ours.advance()]
    record_series(runtime, 300)
    signed = ours.create()
    assert signed is not None
    with Session(runtime.engine) as session:
        blocks = session.scalar(select(func.count()).select_from(MerkleBlockRow))
    assert advanced == [600, 0] and (signed.tree_size, blocks) == (900, 3)
    assert signed.root_hash == _root_of_every_leaf(runtime, 900) and verify_log(runtime.engine).ok


def test_checkpoints_of_two_processes_interleave_and_all_verify(runtime: Runtime) -> None:
    ours, theirs = _checkpointer(runtime), _checkpointer(runtime)
    record_series(runtime, 300)
    ours.advance()
    record_series(runtime, 300)
    their_checkpoint = theirs.create()
    record_series(runtime, 100)
    ours.advance()  # goes on from their checkpoint at 600 (its own state is at 300)
    signed = ours.create()
    theirs.advance()  # now behind our checkpoint at 700
    record_series(runtime, 1)
    their_next = theirs.create()
    assert their_checkpoint is not None and signed is not None and their_next is not None
    with Session(runtime.engine) as session:
        blocks = session.scalar(select(func.count()).select_from(MerkleBlockRow))
    assert [c.tree_size for c in (their_checkpoint, signed, their_next)] == [600, 700, 701] and blocks == 2
    assert [c.root_hash for c in (signed, their_next)] == [_root_of_every_leaf(runtime, 700),
                                                          _root_of_every_leaf(runtime, 701)]
    assert verify_log(runtime.engine).ok


def test_advance_refuses_an_altered_event(runtime: Runtime, tamper: Callable[..., None]) -> None:
    ours = _checkpointer(runtime)
    record_series(runtime, 10)
    ours.advance()
    record_series(runtime, 10)
    tamper("UPDATE audit_events SET purpose_of_use = 'BTG' WHERE seq = 15")
    with pytest.raises(ChainBroken, match="seq 15"):
        ours.advance()
    with pytest.raises(ChainBroken, match="seq 15"):
        ours.create()


def test_advance_goes_in_bounded_passes_and_gives_up_a_pass_when_the_log_closes(runtime: Runtime) -> None:
    ours = _checkpointer(runtime)
    record_series(runtime, 1_200)
    stopped = threading.Event()
    stopped.set()
    passes = [ours.advance(limit=500), ours.advance(stop=stopped), ours.advance(limit=500), ours.advance()]
    signed = ours.create()
    assert passes == [500, 0, 500, 200] and signed is not None and signed.tree_size == 1_200
    assert signed.root_hash == _root_of_every_leaf(runtime, 1_200)
