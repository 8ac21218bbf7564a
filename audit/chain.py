"""The canonical form of a logged event and the hash chain over it (format ``v1``).

Leaf data (the bytes that are hashed, and that ``iam audit prove`` prints) is the UTF-8 encoding of the
event's fields joined by the unit separator U+001F, in the order of :data:`CANONICAL_FIELDS`, preceded by
the format tag ``v1``:

* text as stored; an absent value is the empty string (every present value is at least one character);
* times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, always six fractional digits);
* booleans as ``1`` / ``0``; ``changed`` of an admin event is empty;
* ``details`` of an admin event as compact JSON with sorted keys.

No field can contain U+001F (the event models refuse control characters, and JSON escapes them), so the
join is unambiguous; :func:`split_leaf` turns leaf data back into named fields.

Each stored event carries ``hash = SHA-256(prev_hash || leaf_hash)`` where ``leaf_hash`` is RFC 9162's
``SHA-256(0x00 || leaf data)`` and ``prev_hash`` is the previous event's ``hash`` (32 zero bytes before the
first event). The same leaf hashes are the leaves of the Merkle tree that checkpoints sign. The sequence
number is not part of the leaf: the chain and the tree already fix each event's position.

A fixed-format join costs about 2 µs an event here, against about 8 µs for ``json.dumps(sort_keys=True)``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import NamedTuple

from audit.events import AccessEvent, AdminEvent, new_event_id

__all__ = [
    "CANONICAL_FIELDS",
    "FORMAT",
    "GENESIS",
    "INSERT_COLUMNS",
    "SEPARATOR",
    "Prepared",
    "canonical_time",
    "chain_hash",
    "db_time",
    "leaf_data",
    "prepare_access",
    "prepare_admin",
    "split_leaf",
]

FORMAT = "v1"
SEPARATOR = "\x1f"
GENESIS = bytes(32)

#: The fields of the leaf, after the format tag; ``recorded_at`` is set by the log when it appends.
CANONICAL_FIELDS = (
    "recorded_at", "event_id", "kind", "occurred_at", "action", "outcome",
    "user_id", "user_national_id", "user_hpr_number", "user_name", "role",
    "legal_entity", "point_of_care", "department", "patient", "data_item",
    "purpose_of_use", "decision_id", "policy_rule", "emergency", "self_granted", "reason_text",
    "client_id", "token_jti", "source_address", "request_id", "proxy_for", "changed",
    "target_type", "target_id", "details",
)
#: The stored columns, in insert order: sequence number, the canonical fields, then the chain.
INSERT_COLUMNS = ("seq", *CANONICAL_FIELDS, "prev_hash", "hash")

_sha256 = hashlib.sha256


def canonical_time(value: datetime) -> str:
    """A UTC-aware time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    return value.isoformat(timespec="microseconds")[:26] + "Z"


def db_time(value: datetime, postgres: bool) -> str:
    """A UTC time as the text each database stores and compares (SQLite: SQLAlchemy's storage format)."""
    text_value = value.isoformat(" ", "microseconds")[:26]
    return text_value + "+00" if postgres else text_value


def chain_hash(prev: bytes, leaf_data: bytes) -> bytes:
    """The stored hash of an event: SHA-256(prev_hash || RFC 9162 leaf hash of its leaf data)."""
    return _sha256(prev + _sha256(b"\x00" + leaf_data).digest()).digest()


def _text(value: str | None) -> str:
    return "" if value is None else value


def _flag(value: bool | None) -> str:
    return "" if value is None else ("1" if value else "0")


class Prepared(NamedTuple):
    """An event ready to append: its id, the stored values after ``recorded_at`` and its leaf body.

    ``values`` follow ``CANONICAL_FIELDS[1:]`` as the database takes them (times as text), ``body`` is the leaf
    data after the recorded time (also the content compared for idempotency), ``supplied`` says whether
    the caller chose the id (only then can it collide).
    """

    event_id: str
    supplied: bool
    occurred_at: datetime
    values: tuple[object, ...]
    body: str


def prepare_access(event: AccessEvent, *, postgres: bool) -> Prepared:
    # Hot path (every decision): one isoformat call for both time texts, and `or ""` rather than a helper
    # call per field, which is safe because every present text value is non-empty.
    event_id = event.event_id or new_event_id()
    e = event
    iso = e.occurred_at.isoformat(" ", "microseconds")
    stored_time = iso[:26] + "+00" if postgres else iso[:26]
    values: tuple[object, ...] = (
        event_id, "access", stored_time, e.action, e.outcome,
        e.user_id, e.user_national_id, e.user_hpr_number, e.user_name, e.role,
        e.legal_entity, e.point_of_care, e.department, e.patient, e.data_item,
        e.purpose_of_use, e.decision_id, e.policy_rule, e.emergency, e.self_granted, e.reason_text,
        e.client_id, e.token_jti, e.source_address, e.request_id, e.proxy_for, e.changed,
        None, None, None,
    )
    body = SEPARATOR.join((
        event_id, "access", f"{iso[:10]}T{iso[11:26]}Z", e.action, e.outcome,
        e.user_id or "", e.user_national_id or "", e.user_hpr_number or "", e.user_name or "",
        e.role or "", e.legal_entity or "", e.point_of_care or "", e.department or "", e.patient or "",
        e.data_item or "", e.purpose_of_use or "", e.decision_id or "", e.policy_rule or "",
        "1" if e.emergency else "0", "1" if e.self_granted else "0", e.reason_text or "", e.client_id or "",
        e.token_jti or "", e.source_address or "", e.request_id or "", e.proxy_for or "",
        _flag(e.changed), "", "", "",
    ))
    return Prepared(event_id, event.event_id is not None, e.occurred_at, values, body)


def prepare_admin(event: AdminEvent, *, postgres: bool) -> Prepared:
    event_id = event.event_id or new_event_id()
    e = event
    details = json.dumps(e.details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    values: tuple[object, ...] = (
        event_id, "admin", db_time(e.occurred_at, postgres), e.action, None,
        e.actor, None, None, None, None,
        None, None, None, None, None,
        None, None, None, False, False, None,
        e.client_id, None, None, e.request_id, None, None,
        e.target_type, e.target_id, details,
    )
    body = SEPARATOR.join((
        event_id, "admin", canonical_time(e.occurred_at), e.action, "",
        e.actor, "", "", "", "", "", "", "", "", "", "", "", "", "0", "0", "",
        _text(e.client_id), "", "", _text(e.request_id), "", "",
        _text(e.target_type), _text(e.target_id), details,
    ))
    return Prepared(event_id, event.event_id is not None, e.occurred_at, values, body)


def leaf_data(recorded_at: str, body: str) -> bytes:
    return f"{FORMAT}{SEPARATOR}{recorded_at}{SEPARATOR}{body}".encode()


def split_leaf(data: bytes) -> dict[str, str]:
    """Leaf data back to named fields (empty string = absent); raise ValueError when it is not ``v1``."""
    parts = data.decode().split(SEPARATOR)
    if parts[0] != FORMAT or len(parts) != len(CANONICAL_FIELDS) + 1:
        raise ValueError(f"leaf data is not format {FORMAT} with {len(CANONICAL_FIELDS)} fields")
    return dict(zip(CANONICAL_FIELDS, parts[1:], strict=True))
