"""HPR licence checks: the register adapter, the file implementation, and syncing into ``licences``.

The adapter
-----------
:class:`LicenceRegister` is what the rest of provisioning needs from the national health personnel register
(Helsepersonellregisteret, HPR, run by Helsedirektoratet): every authorisation (code list 9060, status, validity)
of a set of HPR numbers. :class:`FileLicenceRegister` reads the generator's extract (``hpr.csv``, format in
``iam/region/FORMATS.md``).

**Where the real register plugs in**: write a class with the same two members (``name`` and ``lookup``)
that calls HPR's web service (NHN's "HPR-oppslag" API, a per-person lookup authenticated with an
enterprise certificate or HelseID client credentials) for the numbers asked, mapping each authorisation's
9060 code, its status and validity dates to :class:`LicenceRecord`; then return it from
:func:`register_from_source` for ``https://`` sources. Nothing else changes: the check, the schedule and the
suspend/resume rules work on :class:`LicenceRecord` only.

The check
---------
:func:`check_licences` (``iam hpr check`` and the scheduled task) asks the register about every person's HPR
number, updates ``licences`` (the cache of the register: rows changed in place, rows of asked numbers the
register no longer returns deleted), then suspends each grant whose role needs an authorisation none of the
person's valid ones satisfies, and resumes suspended grants whose authorisation is valid again. Those are
``suspend``/``resume`` rows in the grant register, announced and summarised in one admin event.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from iam.config import ConfigError
from iam.db.base import utc_now
from iam.identifiers import hpr_number_error
from iam.notify import ChangeBus
from provisioning.apply import ApplyResult, apply_plan
from provisioning.bulk import bulk_insert, bulk_update
from provisioning.clock import hr_date
from provisioning.events import admin_event, announce
from provisioning.feed import Origin, Problem, parse_date
from provisioning.hrfile import FeedFileError
from provisioning.locking import lock_provisioning
from provisioning.models import LICENCE_STATUSES, LicenceRow, PersonRow
from provisioning.plan import Plan
from provisioning.reconcile import Reconciler
from provisioning.rules import RoleRules, default_rules
from provisioning.state import load_state

__all__ = [
    "HPR_COLUMNS",
    "FileLicenceRegister",
    "LicenceRecord",
    "LicenceRegister",
    "LicenceSync",
    "check_licences",
    "register_from_source",
    "sync_licences",
]

HPR_COLUMNS = ("hpr_number", "national_id", "authorisation", "status", "valid_from", "valid_to")


@dataclass(frozen=True, slots=True)
class LicenceRecord:
    """One authorisation of one health worker as the register reports it."""

    hpr_number: str
    national_id: str | None
    authorisation: str
    status: str  # valid | lapsed | suspended
    valid_from: date
    valid_to: date | None


class LicenceRegister(Protocol):
    """The part of HPR provisioning needs. ``lookup`` returns every authorisation of the given numbers;
    numbers the register does not know are simply absent. Raise ``OSError`` when the register is unreachable
    (the check then changes nothing)."""

    name: str

    def lookup(self, hpr_numbers: Collection[str]) -> list[LicenceRecord]: ...


class FileLicenceRegister:
    """The register as an extract file (``hpr.csv``). The file is read on every lookup, so a replaced
    extract is picked up by the next check. Raises FeedFileError listing every bad row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"hpr-file:{path.name}"

    def all(self) -> list[LicenceRecord]:
        """Every authorisation in the extract."""
        return self._read()

    def lookup(self, hpr_numbers: Collection[str]) -> list[LicenceRecord]:
        wanted = set(hpr_numbers)
        return [record for record in self._read() if record.hpr_number in wanted]

    def _read(self) -> list[LicenceRecord]:
        name = self.path.name
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise FeedFileError([Problem(Origin(name), "file", f"cannot be read: {exc.strerror}")]) from None
        reader = csv.reader(text.splitlines())
        header = [column.strip() for column in next(reader, [])]
        missing = [column for column in HPR_COLUMNS if column not in header]
        if missing:
            raise FeedFileError([Problem(Origin(name, 1), column, "missing column") for column in missing])
        index = [header.index(column) for column in HPR_COLUMNS]
        records: list[LicenceRecord] = []
        problems: list[Problem] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                problems.append(Problem(Origin(name, line), "row", f"missing column (the row has {len(row)} "
                                                                   f"fields, the header {len(header)})"))
                continue
            record = _record([row[i].strip() for i in index], Origin(name, line), problems)
            if record is not None:
                records.append(record)
        if problems:
            raise FeedFileError(problems)
        return records


def _record(values: list[str], origin: Origin, problems: list[Problem]) -> LicenceRecord | None:
    hpr, national_id, code, status, valid_from, valid_to = values
    before = len(problems)
    reason = hpr_number_error(hpr)
    if reason is not None:
        problems.append(Problem(origin, "hpr_number", f"invalid HPR number: {reason}"))
    if not code:
        problems.append(Problem(origin, "authorisation", "is empty"))
    if status not in LICENCE_STATUSES:
        problems.append(Problem(origin, "status", f"'{status}' is not one of {', '.join(LICENCE_STATUSES)}"))
    start = parse_date(valid_from)
    if start is None:
        problems.append(Problem(origin, "valid_from", f"'{valid_from}' is not a date (YYYY-MM-DD)"))
    end = parse_date(valid_to) if valid_to else None
    if valid_to and end is None:
        problems.append(Problem(origin, "valid_to", f"'{valid_to}' is not a date (YYYY-MM-DD)"))
    if len(problems) > before or start is None:
        return None
    return LicenceRecord(hpr, national_id or None, code, status, start, end)


def register_from_source(source: str) -> LicenceRegister:
    """The register named by a setting (``IAM_HPR_SOURCE``): a path to an extract file.

    Raises ConfigError for an ``https://`` source until the HTTP adapter exists (see the module docstring).
    """
    if source.startswith(("http://", "https://")):
        raise ConfigError(f"Setting IAM_HPR_SOURCE has value {source!r}: the HPR web service adapter is not "
                          "built yet (see provisioning/hpr.py); give the path of an HPR extract file")
    return FileLicenceRegister(Path(source))


@dataclass(frozen=True, slots=True)
class LicenceSync:
    added: int
    changed: int
    removed: int
    hpr_numbers: frozenset[str]  # whose authorisations changed


def sync_licences(session: Session, records: Iterable[LicenceRecord], *, source: str, at: datetime,
                  asked: Collection[str] | None = None) -> LicenceSync:
    """Make ``licences`` match ``records``. Rows of ``asked`` numbers (default: the numbers in ``records``)
    that ``records`` lacks are deleted: the register no longer knows them."""
    wanted = {(r.hpr_number, r.authorisation): r for r in records}
    asked_set = set(asked) if asked is not None else {hpr for hpr, _ in wanted}
    stored = {(row.hpr_number, row.authorisation): row for row in session.execute(
        select(LicenceRow.id, LicenceRow.hpr_number, LicenceRow.authorisation, LicenceRow.status,
               LicenceRow.valid_from, LicenceRow.valid_to, LicenceRow.national_id))}
    added, changed, removed, touched = [], [], [], set()
    for key, record in wanted.items():
        row = stored.pop(key, None)
        values = {"status": record.status, "valid_from": record.valid_from, "valid_to": record.valid_to,
                  "national_id": record.national_id}
        if row is None:
            added.append({"hpr_number": record.hpr_number, "authorisation": record.authorisation, **values,
                          "source": source, "checked_at": at})
            touched.add(record.hpr_number)
        elif (row.status, row.valid_from, row.valid_to, row.national_id) != \
                (record.status, record.valid_from, record.valid_to, record.national_id):
            changed.append({"id": row.id, **values, "source": source, "checked_at": at})
            touched.add(record.hpr_number)
    for (hpr, _), row in stored.items():
        if hpr in asked_set:
            removed.append(row.id)
            touched.add(hpr)
    bulk_insert(session, LicenceRow, added)
    bulk_update(session, LicenceRow, "id", changed)
    if removed:
        session.execute(delete(LicenceRow).where(LicenceRow.id.in_(removed)))
    return LicenceSync(len(added), len(changed), len(removed), frozenset(touched))


def check_licences(session: Session, register: LicenceRegister, *, at: datetime | None = None,
                   actor: str = "hpr-check", rules: RoleRules | None = None,
                   bus: ChangeBus | None = None) -> tuple[LicenceSync, Plan, ApplyResult]:
    """Refresh licences from ``register`` and suspend/resume grants accordingly; see the module docstring."""
    at = at or utc_now()
    rules = rules or default_rules()
    lock_provisioning(session)
    numbers = {number for number in session.execute(select(PersonRow.hpr_number)).scalars() if number}
    sync = sync_licences(session, register.lookup(numbers), source=register.name, at=at, asked=numbers)
    plan = licence_plan(session, at=at, rules=rules)
    details = {"register": register.name, "licences_added": sync.added, "licences_changed": sync.changed,
               "licences_removed": sync.removed}
    result = apply_plan(session, plan, actor=actor, source="hpr", bus=bus, action="provisioning.hpr-check",
                        details=details)
    if sync.hpr_numbers:
        # A changed licence changes the person's authorisations even when no grant changes.
        people = set(session.execute(select(PersonRow.id).where(
            PersonRow.hpr_number.in_(sorted(sync.hpr_numbers)))).scalars())
        announce(session, people - set(result.person_ids), bus=bus)
        if plan.is_empty:
            admin_event(session, actor=actor, action="provisioning.hpr-check", target_type="provisioning-run",
                        target_id=None, details=details)
    return sync, plan, result


def licence_plan(session: Session, *, at: datetime, rules: RoleRules) -> Plan:
    """Suspensions and resumptions that make every grant match the stored licences on the Oslo date of ``at``."""
    state = load_state(session, at=at)
    plan = Plan(mode="licence-check", today=hr_date(at), at=at)
    reconciler = Reconciler(state, plan, rules=rules)
    for person_id, grants in state.grants.items():
        person = state.persons[person_id]
        licences = state.licences.get(person.hpr_number or "", [])
        for grant in grants:
            reconciler.check_licence(grant, licences)
        if grants:
            plan.labels[person_id] = person.label
    return plan
