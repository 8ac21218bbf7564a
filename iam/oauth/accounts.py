"""Our accounts as the token service sees them: who a login maps to, and whether they may hold tokens.

The facts come from provisioning (``provisioning.subjects.subject_facts``) and are cached per person.
Provisioning announces every account change on the change bus channel ``identity`` with the payload
``person:<id>``; the entry is dropped then, so a disabled account or a leaver is refused by the next
request on every node. Entries also expire after a minute, for facts that change with the clock.

Lookups by national id or HPR number go through a small alias map (identifier -> person id) that is
checked against the facts it leads to, so a corrected national id cannot lead to the wrong person.
Unknown identifiers are not cached: a joiner can log in as soon as provisioning has created them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from iam.db.base import utc_now
from iam.notify import RESYNC
from iam.oauth.cache import InvalidatedCache
from iam.oauth.rfc9068 import PERSON_PREFIX

__all__ = ["IDENTITY_CHANNEL", "Account", "AccountDirectory", "Role"]

IDENTITY_CHANNEL = "identity"
_log = logging.getLogger("iam.oauth")

FactsLookup = Callable[..., Any]


@dataclass(frozen=True)
class Role:
    role: str
    unit_id: str | None
    unit_level: str | None
    legal_entity_id: str | None
    point_of_care_id: str | None
    licence_ok: bool


@dataclass(frozen=True)
class Account:
    person_id: str
    national_id: str | None
    hpr_number: str | None
    display_name: str
    status: str  # pending | active | suspended | disabled
    tokens_valid_after: int | None  # epoch seconds; tokens issued before are dead
    roles: tuple[Role, ...]
    authorisations: tuple[str, ...]

    @property
    def subject(self) -> str:
        return f"{PERSON_PREFIX}{self.person_id}"

    def refusal(self, *, issued_at: int | None = None) -> str | None:
        """Why this account may not hold a token (issued at ``issued_at``), or None."""
        if self.status != "active":
            return f"the account is {self.status}"
        if issued_at is not None and self.tokens_valid_after is not None and issued_at < self.tokens_valid_after:
            return "the account's tokens were ended after this token was issued"
        return None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _epoch(value: object) -> int | None:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value) if isinstance(value, int | float) else None


def _account(facts: Any) -> Account:
    roles = tuple(
        Role(role=str(role.role), unit_id=_text(role.unit_id), unit_level=_text(getattr(role, "unit_level", None)),
             legal_entity_id=_text(getattr(role, "legal_entity_id", None)),
             point_of_care_id=_text(getattr(role, "point_of_care_id", None)),
             licence_ok=bool(getattr(role, "licence_ok", True)))
        for role in facts.roles
    )
    return Account(
        person_id=str(facts.person_id), national_id=_text(facts.national_id), hpr_number=_text(facts.hpr_number),
        display_name=str(facts.display_name), status=str(facts.account_status),
        tokens_valid_after=_epoch(getattr(facts, "tokens_valid_after", None)), roles=roles,
        authorisations=tuple(str(code) for code in getattr(facts, "authorisations", ()) or ()),
    )


def _provisioning_lookup() -> FactsLookup | None:
    try:
        from provisioning.subjects import subject_facts
    except ImportError:  # provisioning not installed: no account is known
        return None
    lookup: FactsLookup = subject_facts
    return lookup


class AccountDirectory:
    def __init__(self, sessions: sessionmaker[Session], *, lookup: FactsLookup | None = None) -> None:
        self._sessions = sessions
        self._lookup = lookup if lookup is not None else _provisioning_lookup()
        self._by_person: InvalidatedCache[str, Account] = InvalidatedCache(max_age=60.0)
        self._aliases: dict[tuple[str, str], str] = {}

    def on_notice(self, payload: str) -> None:
        """Change bus subscriber for channel ``identity`` (payload ``person:<id>``, or resync)."""
        if payload == RESYNC:
            self._by_person.clear()
            self._aliases.clear()
        elif payload.startswith(PERSON_PREFIX):
            self._by_person.invalidate(payload.removeprefix(PERSON_PREFIX))

    def _query(self, **identifier: Any) -> Account | None:
        if self._lookup is None:
            return None
        if "person_id" in identifier and str(identifier["person_id"]).isdigit():
            identifier["person_id"] = int(identifier["person_id"])
        with self._sessions() as session:
            facts = self._lookup(session, at=utc_now(), **identifier)
        return None if facts is None else _account(facts)

    def by_person(self, person_id: str, *, fresh: bool = False) -> Account | None:
        """The account of our person id; ``fresh`` bypasses the cache (introspection's authoritative view)."""
        if fresh:
            return self._query(person_id=person_id)
        return self._by_person.get(person_id, lambda: self._query(person_id=person_id))

    def cached_identifier(self, *, national_id: str | None, hpr_number: str | None) -> bool:
        """Whether :meth:`by_identifier` would answer from memory, without a query."""
        kind, value = ("national_id", national_id) if national_id else ("hpr_number", hpr_number)
        person_id = self._aliases.get((kind, value or ""))
        return person_id is not None and self._by_person.peek(person_id)[0]

    def by_identifier(self, *, national_id: str | None, hpr_number: str | None) -> Account | None:
        """The account a login maps to: by national id when the login has one, else by HPR number."""
        kind, value = ("national_id", national_id) if national_id else ("hpr_number", hpr_number)
        if not value:
            return None
        person_id = self._aliases.get((kind, value))
        if person_id is not None:
            account = self.by_person(person_id)
            if account is not None and getattr(account, kind) == value:
                return account
        account = self._query(**{kind: value})
        if account is not None:
            self._aliases[(kind, value)] = account.person_id
        return account
