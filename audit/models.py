"""Tables of the access log (kept in step with ``audit/migrations``). ORM rows never leave ``audit``.

* ``audit_events``: the append-only, hash-chained log of access and admin events. On PostgreSQL it is
  range-partitioned by month on ``recorded_at`` (the append time, which grows with ``seq``), so retention
  can drop whole months; triggers reject UPDATE and DELETE on both databases. Its only indexes are the
  ones that grow at their right edge (``seq``, the time-ordered ``event_id``, ``occurred_at``).
* ``audit_search`` and ``audit_search_state``: the search index (patient, user, unit, proxy actor), filled
  behind the appender in large batches by :mod:`audit.indexer`; queries add the unindexed tail.
* ``audit_admin_inbox``: admin events written in the caller's transaction, sealed into the chain by the
  log writer moments later (so a long provisioning transaction never holds the chain's lock).
* ``audit_checkpoints``: signed Merkle tree heads (append-only).
* ``audit_merkle_blocks``: a cache of the hashes of complete 256-leaf subtrees, for fast proofs.
* ``audit_retention``: anchors left when old events are deleted under the retention policy (append-only).
* ``audit_reviews`` and ``audit_cases``: work queues of privacy officers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from iam.db.base import Base

__all__ = [
    "AdminInboxRow",
    "AuditEventRow",
    "CaseRow",
    "CheckpointRow",
    "MerkleBlockRow",
    "RetentionRow",
    "ReviewRow",
    "SearchKeyRow",
    "SearchStateRow",
]

# SQLite makes an INTEGER PRIMARY KEY the rowid, which is what keeps appends and seq scans cheap.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AuditEventRow(Base):
    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime]
    event_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(8))
    occurred_at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(8))
    user_id: Mapped[str | None] = mapped_column(String(128))
    user_national_id: Mapped[str | None] = mapped_column(String(128))
    user_hpr_number: Mapped[str | None] = mapped_column(String(128))
    user_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(200))
    legal_entity: Mapped[str | None] = mapped_column(String(128))
    point_of_care: Mapped[str | None] = mapped_column(String(128))
    department: Mapped[str | None] = mapped_column(String(128))
    patient: Mapped[str | None] = mapped_column(String(128))
    data_item: Mapped[str | None] = mapped_column(String(200))
    purpose_of_use: Mapped[str | None] = mapped_column(String(100))
    decision_id: Mapped[str | None] = mapped_column(String(128))
    policy_rule: Mapped[str | None] = mapped_column(String(200))
    emergency: Mapped[bool]
    self_granted: Mapped[bool]
    reason_text: Mapped[str | None] = mapped_column(Text)
    client_id: Mapped[str | None] = mapped_column(String(128))
    token_jti: Mapped[str | None] = mapped_column(String(128))
    source_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    proxy_for: Mapped[str | None] = mapped_column(String(128))
    changed: Mapped[bool | None]
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        # Both grow at their right edge (time-ordered ids, occurred_at near the append time), so an append
        # dirties few of their pages; the random-keyed search keys live in audit_search (audit.indexer).
        Index("ix_audit_events_event_id", "event_id"),
        Index("ix_audit_events_time", "occurred_at", "seq"),
    )


class SearchKeyRow(Base):
    """One search key of one event: ``dim`` is ``p`` (patient), ``u`` (user_id), ``d`` (department) or ``x``
    (the national id of a proxy actor, domain rule 10); ``bucket`` is ``seq // BUCKET_EVENTS``, or, once
    compacted, ``-(group + 1)`` (audit.compaction).

    The bucket leads the key so that a batch of the indexer lands in the last bucket's part of the B-tree
    (a few thousand pages) instead of one page per key across the whole index; queries probe each bucket.
    """

    __tablename__ = "audit_search"

    bucket: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    dim: Mapped[str] = mapped_column(String(1), primary_key=True)
    value: Mapped[str] = mapped_column(String(128), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)

    __table_args__ = {"sqlite_with_rowid": False}


class SearchStateRow(Base):
    """How far the search index reaches (every event with ``seq <= indexed_seq`` has its keys indexed), and
    how much of it is compacted."""

    __tablename__ = "audit_search_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    indexed_seq: Mapped[int] = mapped_column(BigInteger)
    #: Groups of ``group_buckets`` buckets whose keys moved into archive buckets (audit.compaction).
    compacted_groups: Mapped[int] = mapped_column(BigInteger, server_default="0")
    group_buckets: Mapped[int] = mapped_column(Integer, server_default="32")


class AdminInboxRow(Base):
    __tablename__ = "audit_admin_inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36))
    supplied: Mapped[bool]
    occurred_at: Mapped[datetime]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CheckpointRow(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    kid: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_checkpoints_tree_size", "tree_size"),)


class MerkleBlockRow(Base):
    __tablename__ = "audit_merkle_blocks"

    block: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                       autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class RetentionRow(Base):
    __tablename__ = "audit_retention"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cut_seq: Mapped[int] = mapped_column(BigInteger)
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    frontier: Mapped[str] = mapped_column(Text)
    checkpoint_id: Mapped[int]
    before: Mapped[datetime]
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))


class ReviewRow(Base):
    __tablename__ = "audit_reviews"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str | None] = mapped_column(String(128))
    declaration_id: Mapped[str | None] = mapped_column(String(128))
    patient: Mapped[str | None] = mapped_column(String(128))
    user_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    verdict: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_audit_reviews_status_opened", "status", "opened_at"),)


class CaseRow(Base):
    __tablename__ = "audit_cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36))
    patient: Mapped[str] = mapped_column(String(128))
    asked_by: Mapped[str] = mapped_column(String(128))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(128))
    answered_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_audit_cases_status_opened", "status", "opened_at"),
        Index("ix_audit_cases_patient", "patient"),
    )
