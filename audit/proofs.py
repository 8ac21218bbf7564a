"""``iam audit prove EVENT_ID``: an RFC 9162 inclusion proof of one event under a signed checkpoint.

The proof document (JSON) holds the event's leaf data (base64; see :mod:`audit.chain` for the ``v1``
format), its leaf index (``seq - 1``), the audit path, and the checkpoint JWS with the public JWK of the
key that signed it. :func:`check_proof` is all a third party needs (it touches no database): it checks the
signature, that the signed tree head names the same size and root, that the leaf data hashes to the
leaf, and walks the path (RFC 9162 §2.1.3.2). A relying party should pin the JWK (from our JWKS) rather
than trust the one inside the document; ``check_proof(document, jwk=pinned)`` does that.

Building a proof reads the event's own 256-leaf block and the cached hashes of complete blocks
(``audit_merkle_blocks``), so it costs a few milliseconds however long the log is.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from audit.chain import split_leaf
from audit.checkpoints import BLOCK, LOG_ID, Checkpointer, public_keys, verify_signature
from audit.merkle import inclusion_path, leaf_hash, node_hash, root_of, verify_inclusion
from audit.models import AuditEventRow, CheckpointRow, MerkleBlockRow
from audit.store import iter_leaf_rows
from iam.errors import APIError, NotFound

__all__ = ["build_proof", "check_proof"]


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class _Tree:
    """MTH of any range of the first ``size`` leaves, from cached blocks where possible."""

    def __init__(self, connection: Connection, size: int) -> None:
        self._connection = connection
        self._size = size
        self._leaves: dict[int, bytes] = {}
        self._data: dict[int, bytes] = {}
        rows = connection.execute(select(MerkleBlockRow.block, MerkleBlockRow.hash)
                                  .where(MerkleBlockRow.block < size // BLOCK)).all()
        self._blocks = {int(block): bytes(value) for block, value in rows}

    def leaf_data(self, index: int) -> bytes:
        self._load(index // BLOCK)
        return self._data[index]

    def _load(self, block: int) -> None:
        if block * BLOCK in self._data:
            return
        first, last = block * BLOCK + 1, min((block + 1) * BLOCK, self._size)
        for seq, _prev, _hash, text in iter_leaf_rows(self._connection, first=first, last=last):
            data = text.encode()
            self._data[seq - 1] = data
            self._leaves[seq - 1] = leaf_hash(data)
        if block * BLOCK not in self._data:
            raise APIError(f"events of seq {first} to {last} are no longer in the log (retention); "
                           "no proof can be built for this range")

    def block(self, block: int) -> bytes:
        cached = self._blocks.get(block)
        if cached is None:
            self._load(block)
            cached = root_of([self._leaves[i] for i in range(block * BLOCK, (block + 1) * BLOCK)])
            self._blocks[block] = cached
        return cached

    def range_hash(self, start: int, end: int) -> bytes:
        size = end - start
        if size == 1:
            self._load(start // BLOCK)
            return self._leaves[start]
        if size >= BLOCK and start % BLOCK == 0 and size & (size - 1) == 0:
            return root_of([self.block(b) for b in range(start // BLOCK, end // BLOCK)])
        k = 1 << ((size - 1).bit_length() - 1)
        return node_hash(self.range_hash(start, start + k), self.range_hash(start + k, end))


def build_proof(session: Session, checkpointer: Checkpointer, event_id: str) -> dict[str, Any]:
    """The proof document for ``event_id`` under the newest checkpoint that covers it.

    Makes a checkpoint first when none covers the event yet. Raises NotFound for an unknown event id.
    """
    seq = session.scalar(select(AuditEventRow.seq).where(AuditEventRow.event_id == event_id)
                        .order_by(AuditEventRow.seq).limit(1))
    if seq is None:
        raise NotFound(f"event_id {event_id!r} is not in the access log (admin events appear once sealed)")
    row = session.scalars(select(CheckpointRow).where(CheckpointRow.tree_size >= seq)
                          .order_by(CheckpointRow.tree_size.desc(), CheckpointRow.id.desc()).limit(1)).first()
    if row is None:
        session.rollback()
        checkpointer.create()
        row = session.scalars(select(CheckpointRow).where(CheckpointRow.tree_size >= seq)
                              .order_by(CheckpointRow.tree_size.desc(), CheckpointRow.id.desc()).limit(1)).first()
        if row is None:
            raise APIError(f"no checkpoint covers event seq {seq}")
    keys = public_keys(session)
    payload = verify_signature(row.signature, keys)
    size, root = int(payload["tree_size"]), base64.b64decode(payload["root_hash"])
    tree = _Tree(session.connection(), size)
    index = seq - 1
    data = tree.leaf_data(index)
    path = inclusion_path(index, size, tree.range_hash)
    if not verify_inclusion(leaf_hash(data), index=index, size=size, path=path, root=root):
        raise APIError(f"the log does not match checkpoint #{row.id} at seq {seq}; run 'iam audit verify'")
    return {
        "log": LOG_ID,
        "format": "v1",
        "event_id": event_id,
        "seq": seq,
        "leaf_index": index,
        "leaf_data": _b64(data),
        "leaf_hash": _b64(leaf_hash(data)),
        "event": split_leaf(data),
        "tree_size": size,
        "root_hash": _b64(root),
        "inclusion_path": [_b64(node) for node in path],
        "checkpoint": {"id": row.id, "signature": row.signature, "kid": row.kid, "jwk": keys[row.kid][2]},
        "how_to_check": "leaf_hash = SHA-256(0x00 || leaf_data); walk inclusion_path per RFC 9162 2.1.3.2 to "
                        "root_hash; check the checkpoint JWS with the JWK (pin it from /oauth2/jwks) and that "
                        "its payload names this tree_size and root_hash",
    }


def check_proof(document: dict[str, Any], *, jwk: dict[str, Any] | None = None) -> None:
    """Check a proof document as a third party would; raise ValueError naming the first failure."""
    try:
        checkpoint = document["checkpoint"]
        key_jwk = jwk or checkpoint["jwk"]
        alg = str(key_jwk.get("alg") or jwt.get_unverified_header(checkpoint["signature"]).get("alg"))
        public = jwt.get_algorithm_by_name(alg).from_jwk(json.dumps(key_jwk))
        kid = str(key_jwk.get("kid", checkpoint.get("kid")))
        payload = verify_signature(checkpoint["signature"], {kid: (public, alg, key_jwk)})
        data = base64.b64decode(document["leaf_data"], validate=True)
        size, index = int(document["tree_size"]), int(document["leaf_index"])
        root = base64.b64decode(document["root_hash"], validate=True)
        path = [base64.b64decode(node, validate=True) for node in document["inclusion_path"]]
    except (KeyError, TypeError, ValueError, jwt.PyJWKError) as exc:
        raise ValueError(f"the proof document is malformed: {exc}") from None
    if int(payload["tree_size"]) != size or base64.b64decode(payload["root_hash"]) != root:
        raise ValueError("the signed checkpoint names another tree size or root than the proof")
    if leaf_hash(data) != base64.b64decode(document.get("leaf_hash", "")) and "leaf_hash" in document:
        raise ValueError("leaf_hash is not SHA-256(0x00 || leaf_data)")
    if split_leaf(data)["event_id"] != document.get("event_id"):
        raise ValueError("the leaf data is not the event named by event_id")
    if not verify_inclusion(leaf_hash(data), index=index, size=size, path=path, root=root):
        raise ValueError("the inclusion path does not lead from the leaf to the signed root")
