"""Verification of big logs on every core: the sequence split into ranges checked by worker processes.

Each worker checks the chain of its range exactly as :mod:`audit.verify` does (its first event must link
to the stored hash of the event before the range), and instead of a Merkle frontier it returns the hashes
of the complete 256-leaf blocks of its range plus, at each checkpoint size inside the range, the leaf
hashes of the partial block there. The parent then rebuilds the frontier from those block hashes (a
256-aligned block is one perfect subtree) and compares every signed root. Ranges start on 256 boundaries,
so blocks never straddle two workers. The result is the same :class:`~audit.verify.Report`.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from audit.checkpoints import BLOCK
from audit.merkle import Frontier, node_hash, perfect_root
from audit.models import AuditEventRow
from audit.store import iter_leaf_chunks
from audit.verify import Problem, Report, _Checker, _Rows, _signed_heads, _SignedHead, _start

__all__ = ["verify_parallel"]

_HEIGHT = BLOCK.bit_length() - 1  # a block is a perfect subtree of this height


class _Blocks:
    """Collects complete-block hashes; duck-types the ``extend`` of a Frontier."""

    def __init__(self) -> None:
        self.leaves: list[bytes] = []
        self.blocks: list[bytes] = []

    def extend(self, leaves: list[bytes]) -> None:
        pending = self.leaves + leaves if self.leaves else list(leaves)
        complete = len(pending) - len(pending) % BLOCK
        self.blocks.extend(perfect_root(pending[start:start + BLOCK]) for start in range(0, complete, BLOCK))
        self.leaves = pending[complete:]


class _RangeChecker(_Checker):
    """Checks one range; records partial blocks at checkpoint sizes instead of comparing roots."""

    def __init__(self, report: Report, sizes: list[int], *, start: int, chain: bytes, max_problems: int) -> None:
        self.collector = _Blocks()
        heads = [_SignedHead("", size, b"", b"") for size in sizes]
        super().__init__(report, heads, start=start, frontier=self.collector,  # type: ignore[arg-type]
                         chain=chain, max_problems=max_problems)
        self.partials: dict[int, tuple[bytes, bytes]] = {}

    def _check_heads(self, seq: int, stored: bytes) -> int:
        while self.next_head < len(self.heads) and self.heads[self.next_head].tree_size <= seq:
            if self.heads[self.next_head].tree_size == seq and self.tree_intact:
                self.partials[seq] = (b"".join(self.collector.leaves), stored)
            self.next_head += 1
        return self.heads[self.next_head].tree_size if self.next_head < len(self.heads) else -1


def _verify_range(url: str, first: int, last: int, chain: bytes | None, sizes: list[int],
                  max_problems: int) -> dict[str, Any]:
    from iam.db import make_engine

    engine = make_engine(url)
    try:
        with Session(engine) as session:
            if chain is None:
                stored = session.scalar(select(AuditEventRow.hash).where(AuditEventRow.seq == first - 1))
                chain = bytes(stored) if stored is not None else b""
            report = Report()
            checker = _RangeChecker(report, sizes, start=first - 1, chain=chain, max_problems=max_problems)
            checker.run(_Rows(iter_leaf_chunks(session.connection(), first=first, last=last)), progress=None,
                        total=0)
    finally:
        engine.dispose()
    return {"problems": [(p.kind, p.seq, p.message) for p in report.problems], "events": report.events,
            "first_seq": report.first_seq, "last_seq": report.last_seq,
            "blocks": b"".join(checker.collector.blocks), "partials": checker.partials}


def _append_block(frontier: Frontier, block: bytes) -> Frontier:
    """Append a 256-leaf perfect subtree to a frontier whose size is a multiple of 256."""
    hashes = frontier.hashes
    units = frontier.size >> _HEIGHT
    node = block
    while units & 1:
        node = node_hash(hashes.pop(), node)
        units >>= 1
    hashes.append(node)
    return Frontier(size=frontier.size + BLOCK, hashes=hashes)


def verify_parallel(engine: Engine, *, workers: int, external_checkpoints: list[dict[str, Any]] | None = None,
                    max_problems: int = 20) -> Report:
    """Verify with ``workers`` processes; same checks and report as :func:`audit.verify.verify_log`."""
    report = Report()
    with Session(engine) as session:
        heads = _signed_heads(session, report, external_checkpoints or [])
        start, frontier, chain = _start(session, heads, report)
        newest = session.scalar(select(func.max(AuditEventRow.seq))) or start
    span = max(newest - start, 1)
    step = max(-(-span // workers // BLOCK) * BLOCK, BLOCK)
    ranges = [(first, min(first + step - 1, newest)) for first in range(start + 1, newest + 1, step)] or [
        (start + 1, start)]
    later = [head for head in heads if head.tree_size > start]
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(max_workers=len(ranges), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_verify_range, url, first, last, chain if index == 0 else None,
                               sorted({h.tree_size for h in later if first <= h.tree_size <= last}), max_problems)
                   for index, (first, last) in enumerate(ranges)]
        results = [future.result() for future in futures]
    blocks: list[bytes] = []
    partials: dict[int, tuple[bytes, bytes]] = {}
    for result in results:
        report.problems.extend(Problem(*problem) for problem in result["problems"])
        report.events += result["events"]
        report.first_seq = report.first_seq if report.first_seq is not None else result["first_seq"]
        report.last_seq = result["last_seq"] if result["last_seq"] is not None else report.last_seq
        blocks.extend(result["blocks"][i:i + 32] for i in range(0, len(result["blocks"]), 32))
        partials.update(result["partials"])
    chain_problems = [p.seq for p in report.problems if p.seq is not None and p.kind != "checkpoint"]
    broken_from = min(chain_problems, default=newest + 1)
    _compare_heads(report, later, frontier, blocks, partials, start=start, broken_from=broken_from)
    last = report.last_seq or 0
    beyond = next((head for head in later if head.tree_size > last), None)
    if beyond is not None:
        report.problems.append(Problem("truncated", last + 1, f"the log ends at seq {last} but {beyond.label} "
                                       f"signs {beyond.tree_size} events: events from seq {last + 1} were removed"))
    del report.problems[max_problems:]
    return report


def _compare_heads(report: Report, heads: list[_SignedHead], frontier: Frontier, blocks: list[bytes],
                   partials: dict[int, tuple[bytes, bytes]], *, start: int, broken_from: int) -> None:
    used = 0
    previous = start
    for head in heads:
        if head.tree_size >= broken_from or head.tree_size not in partials:
            continue
        while frontier.size + BLOCK <= head.tree_size:
            frontier = _append_block(frontier, blocks[used])
            used += 1
        leaves, stored = partials[head.tree_size]
        probe = frontier.copy()
        for offset in range(0, len(leaves), 32):
            probe.append(leaves[offset:offset + 32])
        if probe.root() != head.root or stored != head.chain:
            report.problems.append(Problem(
                "rewritten", head.tree_size, f"{head.label} (tree size {head.tree_size}) does not match the log: "
                f"events after seq {previous} up to {head.tree_size} were altered, replaced or removed and the "
                "hash chain was recomputed to hide it"))
            return
        previous = head.tree_size
