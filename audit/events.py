"""The access-log event schema (domain.md rule 6): access events and admin events.

Both kinds go into one tamper-evident log (see :mod:`audit.chain`). The models are the boundary shape:
every source (the decision engine, provisioning and admin APIs, the ingestion API for clinical apps)
builds one of these and hands it to :class:`audit.log.AccessLog` or :func:`audit.admin.record_admin_event`.

Contracts
---------
* ``event_id`` is the idempotency key. Leave it out and the log assigns a time-ordered random UUID
  (version 7); give it and a second event with the same id and the same content is answered with the same
  id and stored once, while the same id with different content is refused (409 ``conflict``).
* ``occurred_at`` must carry a time zone; it is normalised to UTC. A naive time is refused rather than
  guessed, because guessed zones are how audit times drift. It defaults to now.
* ``changed`` says whether data were changed; when not given it follows from ``action`` (write, create,
  update and delete change data; everything else does not).
* Free-form strings have bounded lengths and no control characters except in ``reason_text`` (tabs and
  line breaks allowed there); unknown fields are refused.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

__all__ = [
    "CHANGING_ACTIONS",
    "KNOWN_ACTIONS",
    "AccessEvent",
    "AdminEvent",
    "Outcome",
    "new_event_id",
]

Outcome = Literal["permit", "deny", "error"]

#: Actions the journal and the decision engine use; others matching the pattern are accepted as data.
KNOWN_ACTIONS = ("read", "write", "create", "update", "delete", "search", "print", "export", "share")
CHANGING_ACTIONS = frozenset({"write", "create", "update", "delete"})

# Patterns run in pydantic-core (Rust), which keeps validation of a full event near 10 µs.
Short = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,200}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,128}$")]
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,99}$")]
Action = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.:-]{0,63}$")]
Address = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,64}$")]
# Free text may hold tabs and line breaks, but no other control characters.
FreeText = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{1,2000}$")]


_ids = threading.local()
_ID_BATCH = 256


def _forget_ids() -> None:
    # A forked child must never hand out its parent's pooled random bits.
    global _ids
    _ids = threading.local()


os.register_at_fork(after_in_child=_forget_ids)


def _fresh_suffixes() -> Iterator[str]:
    # Everything of an id after its time: the version digit's three random digits, the variant and 74 bits
    # in all (RFC 9562 version 7: rand_a 12, rand_b 62), formatted _ID_BATCH at a time.
    raw = os.urandom(10 * _ID_BATCH).hex()
    return iter([f"{h[:3]}-{'89ab'[int(h[3], 16) & 3]}{h[4:7]}-{h[7:19]}"
                 for h in (raw[i:i + 20] for i in range(0, len(raw), 20))])


def new_event_id() -> str:
    """A time-ordered (RFC 9562 version 7) UUID: the millisecond Unix time, then 74 bits from the OS's CSPRNG.

    Time-ordered so that the ``event_id`` index grows at its right edge (a random id dirties a random page
    of an index of millions of entries per append); 74 random bits keep ids unguessable and unique.
    Formatted by hand (``uuid`` objects cost microseconds): the random parts are drawn and formatted 256 at
    a time per thread (one ``getrandom`` system call per event was slow on a loaded host), and the time
    part is formatted once per millisecond and thread. About 0.4 µs an id.
    """
    ids = _ids
    ms = time.time_ns() // 1_000_000
    try:
        suffix = next(ids.pool)
        if ms == ids.ms:
            return ids.prefix + suffix  # type: ignore[no-any-return]
    except (AttributeError, StopIteration):
        ids.pool = _fresh_suffixes()
        suffix = next(ids.pool)
    t = f"{ms:012x}"
    ids.ms, ids.prefix = ms, f"{t[:8]}-{t[8:]}-7"
    return ids.prefix + suffix  # type: ignore[no-any-return]


def _check_event_id(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"event_id {value[:60]!r} is not a UUID") from None


def _check_time(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"time {value.isoformat()} has no time zone; send UTC, e.g. 2024-05-01T12:00:00Z")
    if not 1970 <= value.year <= 9998:
        raise ValueError(f"time {value.isoformat()} is outside the years 1970 to 9998")
    return value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


class AccessEvent(BaseModel):
    """One access to (or attempt on) patient data: who, what, whose, why, how it was decided, from where."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    event_id: str | None = Field(None, description="UUID; the idempotency key. Assigned when left out.")
    occurred_at: datetime = Field(default_factory=_now, description="When the access happened (UTC).")
    action: Action = Field(description="read, write, create, update, delete, search, print, export, ...")
    outcome: Outcome = Field(description="permit, deny or error")
    user_id: Identifier | None = Field(None, description="Our internal person id of the user.")
    user_national_id: Identifier | None = Field(None, description="The user's national id (F-nr / D-nr).")
    user_hpr_number: Identifier | None = Field(None, description="The user's HPR number.")
    user_name: Short | None = None
    role: Short | None = Field(None, description="Role / authorisation used, e.g. 'LE' or 'nurse'.")
    legal_entity: Identifier | None = Field(None, description="Organisation number of the legal entity.")
    point_of_care: Identifier | None = Field(None, description="Organisation number or id of the point of care.")
    department: Identifier | None = Field(None, description="Department / unit id.")
    patient: Identifier | None = Field(None, description="The patient's national id.")
    data_item: Short | None = Field(None, description="Record section or item, e.g. 'notes' or 'notes/123'.")
    purpose_of_use: Code | None = Field(None, description="Purpose code: TREAT, ETREAT, COC, BTG, ...")
    decision_id: Identifier | None = None
    policy_rule: Short | None = None
    emergency: bool = False
    self_granted: bool = False
    reason_text: FreeText | None = Field(
        None, description="Free-text reason; internal, never shown to the patient.")
    client_id: Identifier | None = Field(None, description="The client application.")
    token_jti: Identifier | None = None
    source_address: Address | None = None
    request_id: Identifier | None = None
    proxy_for: Identifier | None = Field(
        None, description="Patient-portal proxy access: the national id of the person acted for.")
    changed: bool | None = Field(None, description="Whether data were changed; derived from action if left out.")

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, value: str | None) -> str | None:
        return _check_event_id(value)

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, value: datetime) -> datetime:
        return _check_time(value)

    @model_validator(mode="after")
    def _derive(self) -> AccessEvent:
        if self.changed is None:
            object.__setattr__(self, "changed", self.action in CHANGING_ACTIONS)
        return self

    @classmethod
    def trusted(cls, **fields: Any) -> AccessEvent:
        """An event from values our own code has already checked (the decision engine's record of a decision):
        every field must be given, in its final form (``changed`` set; ``occurred_at`` time-zone aware, the
        log normalises it to UTC); nothing is validated, defaulted or derived. Raises TypeError when a field
        is missing or unknown.

        About 1 µs, where ``model_construct`` (which looks up each field's default and alias) took 12 µs and
        validation 10 µs: one of the larger steps of a decision over HTTP. Given the fields in declaration
        order, the instance is what ``model_construct`` builds with every field set (a test compares their
        state, so a pydantic upgrade that changes it fails there).
        """
        if fields.keys() != _ACCESS_EVENT_FIELDS:
            wrong = sorted(_ACCESS_EVENT_FIELDS.symmetric_difference(fields))
            raise TypeError(f"AccessEvent.trusted needs exactly the event's fields; wrong: {', '.join(wrong)}")
        event = cls.__new__(cls)
        object.__setattr__(event, "__dict__", fields)
        object.__setattr__(event, "__pydantic_fields_set__", set(_ACCESS_EVENT_FIELDS))
        object.__setattr__(event, "__pydantic_extra__", None)
        object.__setattr__(event, "__pydantic_private__", None)
        return event


_ACCESS_EVENT_FIELDS = frozenset(AccessEvent.model_fields)


class AdminEvent(BaseModel):
    """A change to who may do what: grants, restrictions, persons, policies, provisioning runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str | None = Field(None, description="UUID; assigned when left out.")
    occurred_at: datetime = Field(default_factory=_now)
    actor: Identifier = Field(description="Who made the change: a client id or a person id.")
    action: Action = Field(description="e.g. grant.create, grant.revoke, person.update, policy.reload")
    target_type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")] | None = None
    target_id: Identifier | None = None
    details: dict[str, Any] = Field(default_factory=dict, description="JSON-serialisable facts of the change.")
    request_id: Identifier | None = None
    client_id: Identifier | None = None

    @field_validator("event_id")
    @classmethod
    def _event_id(cls, value: str | None) -> str | None:
        return _check_event_id(value)

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, value: datetime) -> datetime:
        return _check_time(value)

