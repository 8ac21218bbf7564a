"""``iam audit verify``: check the whole chain and every checkpoint; name the first thing that is wrong.

What is checked, in one pass over the events in sequence order:

* sequence numbers run without gaps from the first retained event (1, or the newest retention cut + 1);
* each event's leaf data, rebuilt from its stored columns, hashes with its predecessor's hash to its own
  stored hash (``hash = SHA-256(prev_hash || leaf_hash)``), and its ``prev_hash`` is that predecessor's;
* at every checkpoint's tree size, the RFC 9162 Merkle root of the log equals the signed root, and the
  chain value equals the signed one; each checkpoint's JWS signature verifies with its key;
* no checkpoint (nor an externally kept one passed in) signs more events than the log holds.

How tampering shows (the classification looks at the neighbouring events' hash links):

* **altered**: an event's content no longer matches its hash, while the next event still links to it;
* **deleted**: a gap in sequence numbers, or an event whose predecessor is no longer in the log;
* **inserted**: an event the chain does not link through (the next event links to the one before it),
  or a second event with the same sequence number;
* **reordered**: an event that links to an event now found *after* it;
* **truncated**: a checkpoint signs more events than remain;
* **rewritten**: an attacker who re-computed every hash after a change keeps the chain consistent, but the
  next checkpoint's signed root no longer matches: the report names the checkpoint and the range.

Events appended after the newest checkpoint are covered by the chain only; checkpoints are made every
``IAM_AUDIT_CHECKPOINT_INTERVAL`` seconds, so that window is short, and an external copy of the newest
checkpoint (``iam audit checkpoint``) protects against a rewrite of the whole database.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from audit.chain import GENESIS
from audit.checkpoints import decode_frontier, public_keys, verify_signature
from audit.merkle import Frontier
from audit.models import AuditEventRow, CheckpointRow, RetentionRow
from audit.store import iter_leaf_chunks

__all__ = ["PARALLEL_FROM", "Problem", "Report", "verify_log"]

_sha256 = hashlib.sha256
_LOOKAHEAD = 16
#: Logs bigger than this are verified with one process per core when ``workers=None``.
PARALLEL_FROM = 500_000
_RECENT = 64


@dataclass(frozen=True)
class Problem:
    kind: str  # altered, deleted, inserted, reordered, truncated, rewritten, checkpoint, retention
    seq: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


@dataclass
class Report:
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    retention_cut: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "checkpoints": self.checkpoints, "retention_cut": self.retention_cut,
                "problems": [problem.to_json() for problem in self.problems]}


@dataclass(frozen=True)
class _SignedHead:
    label: str
    tree_size: int
    root: bytes
    chain: bytes


Row = tuple[int, bytes, bytes, bytes]  # seq, prev_hash, hash, leaf data (UTF-8)


class _Rows:
    """The event stream in chunks (lists of rows), able to look past the current chunk to classify a break."""

    def __init__(self, chunks: Iterator[list[Row]]) -> None:
        self._chunks = chunks
        self._ahead: deque[list[Row]] = deque()

    def __iter__(self) -> _Rows:
        return self

    def __next__(self) -> list[Row]:
        if self._ahead:
            return self._ahead.popleft()
        return next(self._chunks)

    def peek(self, count: int) -> list[Row]:
        """Up to ``count`` rows after the current chunk, left in place."""
        found = [row for chunk in self._ahead for row in chunk[:count]][:count]
        while len(found) < count:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._ahead.append(chunk)
            found.extend(chunk[:count - len(found)])
        return found


def _signed_heads(session: Session, report: Report, extra: list[dict[str, Any]]) -> list[_SignedHead]:
    keys = public_keys(session)
    heads = []
    rows = session.scalars(select(CheckpointRow).order_by(CheckpointRow.tree_size, CheckpointRow.id)).all()
    report.checkpoints = len(rows)
    documents = [(f"checkpoint #{row.id}", row.signature) for row in rows]
    documents += [("the external checkpoint", str(document.get("signature", ""))) for document in extra]
    for label, signature in documents:
        try:
            payload = verify_signature(signature, keys)
            heads.append(_SignedHead(label, int(payload["tree_size"]), base64.b64decode(payload["root_hash"]),
                                     base64.b64decode(payload["chain_hash"])))
        except (ValueError, KeyError) as exc:
            report.problems.append(Problem("checkpoint", None, f"{label}: {exc}"))
    return sorted(heads, key=lambda head: head.tree_size)


def _start(session: Session, heads: list[_SignedHead], report: Report) -> tuple[int, Frontier, bytes]:
    anchor = session.scalars(select(RetentionRow).order_by(RetentionRow.cut_seq.desc()).limit(1)).first()
    if anchor is None:
        return 0, Frontier(), GENESIS
    report.retention_cut = anchor.cut_seq
    frontier = decode_frontier(anchor.frontier)
    matching = [head for head in heads if head.tree_size == anchor.cut_seq]
    if not any(head.root == frontier.root() and head.chain == anchor.chain_hash for head in matching):
        report.problems.append(Problem("retention", anchor.cut_seq,
                                       f"the retention anchor at seq {anchor.cut_seq} matches no signed checkpoint"))
    return anchor.cut_seq, frontier, anchor.chain_hash


def verify_log(engine: Engine, *, external_checkpoints: list[dict[str, Any]] | None = None,
               progress: Callable[[int, int], None] | None = None, max_problems: int = 20,
               workers: int | None = 1) -> Report:
    """Verify the log in ``engine``'s database; never raises for tampering, reports it.

    ``workers`` > 1 checks ranges in that many processes (:mod:`audit.verify_parallel`); ``None`` picks one
    per core for logs of more than :data:`PARALLEL_FROM` events, else one.
    """
    if workers is None:
        with Session(engine) as session:
            size = session.scalar(select(func.count()).select_from(AuditEventRow)) or 0
        workers = (os.cpu_count() or 1) if size > PARALLEL_FROM else 1
    if workers > 1:
        from audit.verify_parallel import verify_parallel

        report = verify_parallel(engine, workers=workers, external_checkpoints=external_checkpoints,
                                 max_problems=max_problems)
        if progress is not None:
            progress(report.events, report.events)
        return report
    report = Report()
    with Session(engine) as session:
        heads = _signed_heads(session, report, external_checkpoints or [])
        start, frontier, chain = _start(session, heads, report)
        newest = session.scalar(select(func.max(AuditEventRow.seq))) or start
        checker = _Checker(report, heads, start=start, frontier=frontier, chain=chain, max_problems=max_problems)
        total = max(newest - start, 0)
        rows = _Rows(iter_leaf_chunks(session.connection(), first=start + 1))
        checker.run(rows, progress=progress, total=total)
        checker.finish()
        if progress is not None:
            progress(total, total)
    return report


class _Checker:
    def __init__(self, report: Report, heads: list[_SignedHead], *, start: int, frontier: Frontier, chain: bytes,
                 max_problems: int) -> None:
        self.report = report
        self.expected = start + 1
        self.frontier = frontier
        self.chain = chain
        self.chain_seq = start
        self.tree_intact = True
        # (hash, seq) of the last accepted events, to tell an insertion from a deletion.
        self.recent: deque[tuple[bytes, int]] = deque(maxlen=_RECENT)
        self.heads = [head for head in heads if head.tree_size > start]
        self.next_head = 0
        self.max_problems = max_problems

    def run(self, rows: _Rows, *, progress: Callable[[int, int], None] | None, total: int) -> None:
        """The hot loop: an intact event costs two SHA-256 calls; its leaf hash joins the tree in bulk
        (before every signed head and at the end of each chunk), 256-leaf subtrees at a time."""
        sha = _sha256
        report = self.report
        first = rows.peek(1)
        report.first_seq = first[0][0] if first else None
        append_recent = self.recent.append
        heads = self.heads
        next_size = heads[0].tree_size if heads else -1
        expected, chain, count, seq = self.expected, self.chain, 0, None
        stopped = False
        for chunk in rows:
            leaves: list[bytes] = []
            add_leaf = leaves.append
            for position, row in enumerate(chunk):
                seq, prev, stored, data = row
                leaf = sha(b"\x00" + data).digest()
                if seq == expected and prev == chain and sha(prev + leaf).digest() == stored:
                    add_leaf(leaf)
                    append_recent((stored, seq))
                    chain, expected = stored, seq + 1
                    if seq >= next_size >= 0:
                        self._absorb(leaves)
                        leaves.clear()
                        next_size = self._check_heads(seq, stored)
                    continue
                self._absorb(leaves)
                leaves.clear()
                ahead = chunk[position + 1:position + 1 + _LOOKAHEAD]
                if len(ahead) < _LOOKAHEAD:
                    ahead += rows.peek(_LOOKAHEAD - len(ahead))
                self.expected, self.chain, self.chain_seq = expected, chain, expected - 1
                self._classify(row, leaf, ahead)
                self.tree_intact = False
                chain, expected = stored, max(expected, seq + 1)
                if len(report.problems) >= self.max_problems:
                    count += position + 1
                    stopped = True
                    break
            if stopped:
                break
            self._absorb(leaves)
            count += len(chunk)
            if progress is not None:
                progress(count, total)
        report.events = count
        report.last_seq = seq

    def _absorb(self, leaves: list[bytes]) -> None:
        """Add accepted leaf hashes to the tree while it is still intact."""
        if leaves and self.tree_intact:
            self.frontier.extend(leaves)

    def problem(self, kind: str, seq: int | None, message: str) -> None:
        self.report.problems.append(Problem(kind, seq, message))

    def _check_heads(self, seq: int, stored: bytes) -> int:
        """Compare every signed head of size ``seq`` with the log; return the next head's size (or -1)."""
        while self.next_head < len(self.heads) and self.heads[self.next_head].tree_size <= seq:
            head = self.heads[self.next_head]
            self.next_head += 1
            if self.tree_intact and head.tree_size == seq and (head.root != self.frontier.root() or
                                                               head.chain != stored):
                previous = max((h.tree_size for h in self.heads[:self.next_head - 1]), default=0)
                self.problem("rewritten", seq, f"{head.label} (tree size {head.tree_size}) does not match the log: "
                             f"events after seq {previous} up to {seq} were altered, replaced or removed and the "
                             "hash chain was recomputed to hide it")
                self.tree_intact = False
        return self.heads[self.next_head].tree_size if self.next_head < len(self.heads) else -1

    def _classify(self, row: Row, leaf: bytes, ahead: list[Row]) -> None:
        seq, prev, stored, _ = row
        intact = _sha256(prev + leaf).digest() == stored
        if seq < self.expected:
            self.problem("inserted", seq, f"a second event claims seq {seq}: an event was inserted")
            return
        if seq > self.expected:
            gap = f"seq {self.expected}" if seq == self.expected + 1 else f"seq {self.expected} to {seq - 1}"
            self.problem("deleted", self.expected, f"events are missing: {gap} (deleted)")
            return
        if not intact:
            if ahead and ahead[0][1] == self.chain:
                self.problem("inserted", seq, f"event seq {seq} does not belong to the chain: the next event "
                             f"links to seq {self.chain_seq} (an event was inserted)")
            else:
                self.problem("altered", seq, f"event seq {seq} was altered: its content no longer matches its hash")
            return
        earlier = next((position for value, position in self.recent if value == prev), None)
        if earlier is not None:
            self.problem("inserted", earlier + 1, f"events seq {earlier + 1} to {seq - 1} were inserted: "
                         f"seq {seq} links to seq {earlier}")
            return
        later = next((candidate for candidate in ahead if candidate[2] == prev), None)
        if later is not None:
            self.problem("reordered", seq, f"event seq {seq} is out of order: it was appended after the event "
                         f"now at seq {later[0]}")
            return
        self.problem("deleted", seq, f"one or more events before seq {seq} are missing (deleted, and the "
                     "following events renumbered)")

    def finish(self) -> None:
        last = self.report.last_seq or 0
        for head in self.heads:
            if head.tree_size > last and len(self.report.problems) < self.max_problems:
                self.problem("truncated", last + 1, f"the log ends at seq {last} but {head.label} signs "
                             f"{head.tree_size} events: events from seq {last + 1} were removed")
                break
