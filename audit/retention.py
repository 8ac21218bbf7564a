"""Retention: deleting old events under a policy while the rest of the log stays verifiable.

``iam audit retain --before DATE`` does, in this order:

1. verifies the whole log and refuses to delete anything when it is not intact (evidence of tampering is
   never thrown away by retention);
2. chooses the cut: the last event appended before DATE, rounded down to a multiple of 256 (so every
   deleted leaf lies in a complete Merkle block whose hash stays cached, and proofs for the remaining
   events can still be built);
3. in one transaction: signs a checkpoint at exactly the cut (tree size = cut), stores a *retention
   anchor* (cut, the chain hash of the last deleted event, the Merkle frontier at the cut, that
   checkpoint's id), records an ``audit.retention`` admin event in the log, and deletes the events with
   ``seq <= cut`` (the only deletion the append-only triggers let through: PostgreSQL via the
   transaction-local setting ``iam.audit_retention``, SQLite by re-creating the trigger) and their search
   keys.

Afterwards ``iam audit verify`` starts at the newest anchor: the first remaining event must link to the
anchor's chain hash, the anchor's frontier must give the root that the checkpoint at the cut signs, and
every later checkpoint is recomputed from that frontier, so nothing after the cut can change unseen.
Older checkpoints keep verifying their signatures. On PostgreSQL, whole months can instead be dropped
with their partitions after such a cut (``DROP TABLE audit_events_YYYYMM``), which is fast for big logs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import jwt
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from audit.admin import record_admin_event
from audit.chain import GENESIS
from audit.checkpoints import BLOCK, CHECKPOINT_TYPE, LOG_ID, ChainBroken, decode_frontier, encode_frontier
from audit.compaction import BUCKET_EVENTS, search_state
from audit.ddl import drop_sqlite_delete_trigger, sqlite_delete_trigger
from audit.events import AdminEvent
from audit.indexer import INDEX_LOCK_ID
from audit.log import AccessLog
from audit.merkle import Frontier
from audit.models import AuditEventRow, CheckpointRow, RetentionRow, SearchKeyRow
from audit.store import iter_leaf_chunks
from audit.verify import verify_log
from iam.db.base import utc_now
from iam.oauth.keys import KeyRing

__all__ = ["RetentionResult", "apply_retention"]

_sha256 = hashlib.sha256


@dataclass(frozen=True)
class RetentionResult:
    cut_seq: int
    deleted: int
    checkpoint_id: int
    anchor_id: int


def apply_retention(log: AccessLog, keys: KeyRing, *, before: datetime, actor: str) -> RetentionResult | None:
    """Delete events appended before ``before`` (rounded to a 256 boundary); None when nothing qualifies.

    Raises ChainBroken when the log does not verify (nothing is deleted then).
    """
    assert log.checkpointer is not None
    engine = log.engine
    log.flush()
    log.checkpointer.create()
    report = verify_log(engine)
    if not report.ok:
        raise ChainBroken(f"the access log does not verify ({report.problems[0].message}); nothing was deleted")
    with Session(engine) as session:
        last_before = session.scalar(select(func.max(AuditEventRow.seq)).where(AuditEventRow.recorded_at < before))
        start = session.scalar(select(func.max(RetentionRow.cut_seq))) or 0
    cut = (last_before or 0) // BLOCK * BLOCK
    if cut <= start:
        return None
    with Session(engine) as session:
        frontier, chain = _state_at(session, start, cut)
    created = utc_now()
    key = keys.signing_key()
    payload = {"log": LOG_ID, "tree_size": cut, "root_hash": base64.b64encode(frontier.root()).decode(),
               "chain_hash": base64.b64encode(chain).decode(), "timestamp": int(created.timestamp() * 1000)}
    signature = jwt.api_jws.encode(json.dumps(payload, separators=(",", ":")).encode(), key.private_key,
                                   algorithm=key.alg, headers={"kid": key.kid, "typ": CHECKPOINT_TYPE})
    postgres = engine.dialect.name == "postgresql"
    with Session(engine) as session, session.begin():
        checkpoint = CheckpointRow(tree_size=cut, root_hash=frontier.root(), chain_hash=chain,
                                   frontier=encode_frontier(frontier), created_at=created, kid=key.kid,
                                   signature=signature)
        session.add(checkpoint)
        session.flush()
        anchor = RetentionRow(cut_seq=cut, chain_hash=chain, frontier=encode_frontier(frontier),
                              checkpoint_id=checkpoint.id, before=before, created_at=created, actor=actor)
        session.add(anchor)
        session.flush()
        record_admin_event(session, AdminEvent(actor=actor, action="audit.retention", target_type="audit_log",
                                               target_id=str(cut), details={"cut_seq": cut,
                                                                            "before": before.isoformat(),
                                                                            "checkpoint_id": checkpoint.id}))
        if postgres:
            session.execute(text("SET LOCAL iam.audit_retention = 'on'"))
        else:
            drop_sqlite_delete_trigger(session.connection(), "audit_events")
        deleted = session.execute(delete(AuditEventRow).where(AuditEventRow.seq <= cut))
        deleted_count = int(getattr(deleted, "rowcount", 0) or 0)
        # Their search keys go too, after any compaction transaction in progress (PostgreSQL: take the
        # indexers' lock; SQLite's write lock, held here, already excludes a compaction's move, and a range
        # planned before it moves only the keys left). The bucket bounds (the
        # archives of the groups up to the cut, the buckets up to it) keep this to the deleted part.
        if postgres:
            session.execute(text(f"SELECT pg_advisory_xact_lock({INDEX_LOCK_ID})"))
        state = search_state(session.connection())
        session.execute(delete(SearchKeyRow).where(SearchKeyRow.bucket.between(-(cut // state.group_events + 1),
                                                                               cut // BUCKET_EVENTS),
                                                   SearchKeyRow.seq <= cut))
        if not postgres:
            session.execute(text(sqlite_delete_trigger("audit_events")))
        result = RetentionResult(cut, deleted_count, checkpoint.id, anchor.id)
    log.flush()
    return result


def _state_at(session: Session, start: int, cut: int) -> tuple[Frontier, bytes]:
    """The Merkle frontier and chain hash after event ``cut``, rebuilt from the (verified) events."""
    if start:
        anchor = session.scalars(select(RetentionRow).where(RetentionRow.cut_seq == start)).one()
        frontier, chain = decode_frontier(anchor.frontier), anchor.chain_hash
    else:
        frontier, chain = Frontier(), GENESIS
    for rows in iter_leaf_chunks(session.connection(), first=start + 1, last=cut):
        frontier.extend([_sha256(b"\x00" + data).digest() for _seq, _prev, _stored, data in rows])
        chain = rows[-1][2]
    return frontier, chain
