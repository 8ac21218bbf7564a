"""Signed checkpoints: Merkle tree heads over the log in the style of RFC 9162 §4.10 (signed tree head).

A checkpoint signs ``{"log", "tree_size", "root_hash", "chain_hash", "timestamp"}`` as a JWS (compact
serialisation, ``typ: audit-checkpoint+jws``) with the service's current signing key, so anyone holding the
public key (JWKS at ``/oauth2/jwks``, or the ``oauth_signing_keys`` table, which keeps retired keys'
public halves) can check it. ``root_hash`` is the RFC 9162 Merkle tree hash of the first ``tree_size``
leaves; ``chain_hash`` is the hash-chain value of event ``tree_size``.

A checkpoint is made incrementally from the previous one (its Merkle frontier is stored with it) and only
after re-checking the chain links of the events it adds: a log that is already broken is never signed.
While at it, the hashes of complete 256-leaf subtrees are cached in ``audit_merkle_blocks`` for proofs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from audit.chain import GENESIS
from audit.merkle import Frontier, perfect_root
from audit.models import AuditEventRow, CheckpointRow, MerkleBlockRow, RetentionRow
from audit.store import iter_leaf_chunks
from iam.db.base import utc_now
from iam.errors import APIError
from iam.oauth.keys import KeyRing
from iam.oauth.models import SigningKeyRow

__all__ = [
    "BLOCK",
    "CHECKPOINT_TYPE",
    "LOG_ID",
    "ChainBroken",
    "Checkpoint",
    "Checkpointer",
    "decode_frontier",
    "encode_frontier",
    "public_keys",
    "verify_signature",
]

LOG_ID = "iam-audit"
BLOCK = 256
CHECKPOINT_TYPE = "audit-checkpoint+jws"
_sha256 = hashlib.sha256


class ChainBroken(APIError):
    """The log failed its own check while being checkpointed; run ``iam audit verify``."""

    status = 500
    code = "audit_chain_broken"


@dataclass(frozen=True)
class Checkpoint:
    id: int
    tree_size: int
    root_hash: bytes
    chain_hash: bytes
    created_at: datetime
    kid: str
    signature: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "log": LOG_ID, "tree_size": self.tree_size,
                "root_hash": base64.b64encode(self.root_hash).decode(),
                "chain_hash": base64.b64encode(self.chain_hash).decode(),
                "created_at": self.created_at.isoformat().replace("+00:00", "Z"), "kid": self.kid,
                "signature": self.signature}


def encode_frontier(frontier: Frontier) -> str:
    return json.dumps({"size": frontier.size, "hashes": [h.hex() for h in frontier.hashes]})


def decode_frontier(text: str) -> Frontier:
    data = json.loads(text)
    return Frontier(size=int(data["size"]), hashes=[bytes.fromhex(h) for h in data["hashes"]])


def _checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(row.id, row.tree_size, row.root_hash, row.chain_hash, row.created_at, row.kid, row.signature)


def public_keys(session: Session) -> dict[str, tuple[Any, str, dict[str, Any]]]:
    """Every signing key's public half by kid, retired ones included: (key, algorithm, JWK)."""
    keys = {}
    for row in session.scalars(select(SigningKeyRow)):
        jwk = json.loads(row.public_jwk)
        keys[row.kid] = (jwt.get_algorithm_by_name(row.alg).from_jwk(jwk), row.alg, jwk)
    return keys


def verify_signature(signature: str, keys: dict[str, tuple[Any, str, dict[str, Any]]]) -> dict[str, Any]:
    """Check a checkpoint JWS and return its payload; raise ValueError naming what is wrong."""
    try:
        header = jwt.get_unverified_header(signature)
    except jwt.InvalidTokenError:
        raise ValueError("the signature is not a JWS") from None
    found = keys.get(str(header.get("kid")))
    if found is None:
        raise ValueError(f"the signing key {header.get('kid')!r} is unknown")
    key, alg, _ = found
    if header.get("alg") != alg or header.get("typ") != CHECKPOINT_TYPE:
        raise ValueError("the signature header does not match the key or is not a checkpoint")
    try:
        payload = jwt.api_jws.decode_complete(signature, key=key, algorithms=[alg])["payload"]
    except jwt.InvalidTokenError:
        raise ValueError("the signature does not verify") from None
    data: dict[str, Any] = json.loads(payload)
    if data.get("log") != LOG_ID:
        raise ValueError("the signed tree head is not for this log")
    return data


def _base_state(session: Session) -> tuple[int, Frontier, bytes]:
    """Where the next checkpoint starts: the newest checkpoint or retention anchor, else the empty log."""
    latest = session.scalars(select(CheckpointRow).order_by(CheckpointRow.tree_size.desc(),
                                                            CheckpointRow.id.desc()).limit(1)).first()
    anchor = session.scalars(select(RetentionRow).order_by(RetentionRow.cut_seq.desc()).limit(1)).first()
    if latest is not None and (anchor is None or latest.tree_size >= anchor.cut_seq):
        return latest.tree_size, decode_frontier(latest.frontier), latest.chain_hash
    if anchor is not None:
        return anchor.cut_seq, decode_frontier(anchor.frontier), anchor.chain_hash
    return 0, Frontier(), GENESIS


# advance() hashes in chunks of this many events (about 4 ms) and then lets the other threads have the GIL
# for a moment: otherwise each of the writer's database calls waited for the interpreter's switch interval.
_ADVANCE_CHUNK = 512
_ADVANCE_PAUSE = 0.002


class _Stopped(Exception):
    """The log is closing: advance() gives up its pass."""


class Checkpointer:
    """Makes signed checkpoints, periodically (from the log's maintenance thread) and on demand."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], keys: KeyRing) -> None:
        self._engine = engine
        self._sessions = sessions
        self._keys = keys
        # The chain verified and hashed beyond the newest checkpoint by advance(), and the complete Merkle
        # blocks met on the way, which the next checkpoint stores.
        self._verified: tuple[int, Frontier, bytes] | None = None
        self._blocks: list[tuple[int, bytes]] = []
        self._lock = threading.Lock()

    def latest(self) -> Checkpoint | None:
        with self._sessions() as session:
            row = session.scalars(select(CheckpointRow).order_by(CheckpointRow.tree_size.desc(),
                                                                 CheckpointRow.id.desc()).limit(1)).first()
            return None if row is None else _checkpoint(row)

    def create(self, *, force: bool = False,
               progress: Callable[[int, int], None] | None = None) -> Checkpoint | None:
        """Sign a checkpoint over every event logged so far; None when nothing is new (unless ``force``).

        Raises :class:`ChainBroken` when the events since the previous checkpoint do not chain.
        """
        with self._lock:
            return self._create(force=force, progress=progress)

    def advance(self, *, stop: threading.Event | None = None, limit: int = 65_536) -> int:
        """Verify and hash up to ``limit`` events appended since the newest checkpoint (or the last call),
        without signing; return how many. The log's maintenance thread calls this every second, so that a
        checkpoint finds little left to read: hashing a minute of a busy node's events (200,000) at once kept
        the GIL for about a second, and the log's writer, which needs it between its database calls, stalled
        with it. Returns early, keeping nothing of the call, once ``stop`` is set. Raises
        :class:`ChainBroken` as :meth:`create` does."""
        with self._lock, self._sessions() as session:
            size, frontier, chain = self._start(session)
            newest = min(session.scalar(select(func.max(AuditEventRow.seq))) or 0, size + limit)
            if newest <= size:
                return 0

            def pause(_done: int, _total: int) -> None:
                if stop is not None and stop.is_set():
                    raise _Stopped
                time.sleep(_ADVANCE_PAUSE)

            try:
                frontier, chain, blocks = self._extend(session.connection(), size, frontier, chain, newest,
                                                       pause, chunk=_ADVANCE_CHUNK)
            except _Stopped:
                return 0
            self._verified = (frontier.size, frontier, chain)
            self._blocks.extend(blocks)
        return newest - size

    def _start(self, session: Session) -> tuple[int, Frontier, bytes]:
        """Where to go on from: what :meth:`advance` verified, unless a newer checkpoint (of another process)
        or retention anchor is stored."""
        base = _base_state(session)
        if self._verified is not None and self._verified[0] > base[0]:
            # Still the database's chain? (Not after a restore or a fail-over to a copy that lacks it.)
            size, _frontier, chain = self._verified
            if session.scalar(select(AuditEventRow.hash).where(AuditEventRow.seq == size)) == chain:
                return self._verified
        self._verified, self._blocks = None, []
        return base

    def _create(self, *, force: bool, progress: Callable[[int, int], None] | None) -> Checkpoint | None:
        with self._sessions() as session:
            size, frontier, chain = self._start(session)
            newest = session.scalar(select(func.max(AuditEventRow.seq))) or 0
            if newest <= size and not force and self._verified is None:
                return None
            frontier, chain, blocks = self._extend(session.connection(), size, frontier, chain, newest, progress)
        blocks = self._blocks + blocks
        root = frontier.root()
        created = utc_now()
        key = self._keys.signing_key()
        payload = {"log": LOG_ID, "tree_size": frontier.size, "root_hash": base64.b64encode(root).decode(),
                   "chain_hash": base64.b64encode(chain).decode(), "timestamp": int(created.timestamp() * 1000)}
        signature = jwt.api_jws.encode(json.dumps(payload, separators=(",", ":")).encode(), key.private_key,
                                       algorithm=key.alg, headers={"kid": key.kid, "typ": CHECKPOINT_TYPE})
        with self._sessions.begin() as session:
            if blocks:
                statement = (pg_insert(MerkleBlockRow) if self._engine.dialect.name == "postgresql"
                             else sqlite_insert(MerkleBlockRow))
                session.execute(statement.on_conflict_do_nothing(index_elements=["block"]),
                                [{"block": index, "hash": value} for index, value in blocks])
            row = CheckpointRow(tree_size=frontier.size, root_hash=root, chain_hash=chain,
                                frontier=encode_frontier(frontier), created_at=created, kid=key.kid,
                                signature=signature)
            session.add(row)
            session.flush()
            created_checkpoint = _checkpoint(row)
        self._verified, self._blocks = None, []  # the stored checkpoint is the newest state now
        return created_checkpoint

    def maybe_create(self) -> None:
        """The periodic job: a checkpoint when events arrived since the last one."""
        self.create()

    @staticmethod
    def _extend(connection: Connection, size: int, frontier: Frontier, chain: bytes, newest: int,
                progress: Callable[[int, int], None] | None,
                chunk: int = 20_000) -> tuple[Frontier, bytes, list[tuple[int, bytes]]]:
        frontier = frontier.copy()
        first = size - size % BLOCK + 1  # re-read the partial block so its hash can be cached when complete
        expected = first
        block: list[bytes] = []
        blocks: list[tuple[int, bytes]] = []
        sha = _sha256
        for rows in iter_leaf_chunks(connection, first=first, last=newest, chunk=chunk):
            new: list[bytes] = []
            for seq, prev, stored, data in rows:
                if seq != expected:
                    raise ChainBroken(f"event seq {expected} is missing from the access log; run 'iam audit verify'")
                expected += 1
                leaf = sha(b"\x00" + data).digest()
                if seq > size:
                    if prev != chain or sha(prev + leaf).digest() != stored:
                        raise ChainBroken(f"event seq {seq} does not chain to its predecessor; "
                                          "run 'iam audit verify'")
                    new.append(leaf)
                    chain = stored
                block.append(leaf)
                if seq % BLOCK == 0:
                    blocks.append((seq // BLOCK - 1, perfect_root(block)))
                    block = []
            frontier.extend(new)
            if progress is not None:
                progress(expected - 1 - size, newest - size)
        if frontier.size != newest:
            raise ChainBroken(f"the access log ends at seq {frontier.size}, expected {newest}")
        return frontier, chain, blocks
