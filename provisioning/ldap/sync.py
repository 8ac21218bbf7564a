"""``iam ldap sync``: people from an LDAP directory through the same plan-and-apply engine as the HR file.

Contract of :func:`sync_directory`:

* **Incremental** (the default once a sync has run): only entries whose ``modifyTimestamp`` (or, for Active
  Directory, ``uSNChanged``) is at or after the stored high-water mark are read; each becomes a delta
  record. Deleted entries are invisible to an incremental search; the next full sync finds them.
* **Full** (``--full``, and the first run): every entry is read. People this source provisioned (an
  employment whose source is the config's ``source``) who are no longer in the directory become leavers.
  That is a snapshot limited to this directory's people: people from the HR file or SCIM are never touched.
* Entries are checked by the planner exactly like HR file rows. Rejected entries are reported (DN, attribute,
  reason) and left out; the good ones are applied, and a rejected person is never taken for a leaver.
* ``dry_run`` builds the plan and rolls back. Otherwise the plan, the new high-water mark and the admin
  event commit in one transaction. The directory is read before the transaction starts, so a slow
  directory never holds the provisioning lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from iam.db.base import utc_now
from iam.notify import ChangeBus
from provisioning.apply import apply_plan
from provisioning.feed import Origin, PersonRecord, Problem
from provisioning.ldap.config import LdapConfig
from provisioning.ldap.directory import connect, search_people
from provisioning.ldap.mapping import entry_to_record
from provisioning.ldap.models import LdapSyncStateRow
from provisioning.models import EmploymentRow, PersonRow
from provisioning.plan import Plan
from provisioning.planner import build_plan

__all__ = ["SyncReport", "sync_directory"]

Progress = Callable[[str, int, int], None]


@dataclass
class SyncReport:
    mode: str  # "full" or "incremental"
    entries: int
    plan: Plan
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False
    mark: str | None = None

    def summary(self) -> str:
        lines = [f"ldap sync ({self.mode}): {self.entries} directory entries read"]
        lines.append(self.plan.summary())
        lines += [f"rejected: {problem}" for problem in self.problems]
        lines.append("applied" if self.applied else "dry run: nothing applied")
        return "\n".join(lines)


def _newer(mark: str | None, value: str | None, *, numeric: bool) -> str | None:
    if value is None:
        return mark
    if mark is None:
        return value
    if numeric:
        return value if int(value) > int(mark) else mark
    # GeneralizedTime strings of one directory share a format, so they order as strings.
    return value if value > mark else mark


def _leavers(session: Session, config: LdapConfig, seen: set[str]) -> list[PersonRecord]:
    """People of this source with employments who are not in the full directory result."""
    rows = session.execute(
        select(PersonRow).where(PersonRow.id.in_(
            select(EmploymentRow.person_id).where(EmploymentRow.source == config.source,
                                                  EmploymentRow.removed_at.is_(None))))
    ).scalars()
    return [PersonRecord(employee_id=p.employee_id, national_id=p.national_id, hpr_number=p.hpr_number,
                         given_name=p.given_name, family_name=p.family_name, address=p.address, employments=(),
                         origin=Origin(f"{config.source}: no longer in the directory"))
            for p in rows if p.national_id not in seen and (p.employee_id or "") not in seen]


def sync_directory(sessions: sessionmaker[Session], config: LdapConfig, *, full: bool = False,
                   dry_run: bool = False, actor: str = "ldap-sync", bus: ChangeBus | None = None,
                   at: datetime | None = None, progress: Progress | None = None) -> SyncReport:
    """Read the directory and apply what changed; see the module docstring. Raises DirectoryError."""
    at = at or utc_now()
    report_progress = progress or (lambda stage, done, total: None)
    numeric = config.search.change_attribute == "uSNChanged"
    records: list[PersonRecord] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    entries = 0
    report_progress("reading directory", 0, 1)
    # Bind first: a directory that refuses us is reported before the database is touched.
    with connect(config) as connection:
        with sessions() as session:
            state = session.get(LdapSyncStateRow, config.source)
            stored_mark = (str(state.usn) if numeric else state.modify_timestamp) if state is not None else None
        incremental = not full and stored_mark is not None
        mark = stored_mark
        for entry in search_people(connection, config, since=stored_mark if incremental else None):
            entries += 1
            record, entry_problems = entry_to_record(entry, config)
            seen.update(value for value in (entry.first(config.attributes.national_id),
                                            entry.first(config.attributes.employee_id)) if value)
            mark = _newer(mark, entry.first(config.search.change_attribute), numeric=numeric)
            if record is None:
                problems += entry_problems
            else:
                records.append(record)
            if entries % 5000 == 0:
                report_progress("reading directory", entries, entries + 1)
    report_progress("reading directory", entries, entries)
    with sessions() as session:
        if not incremental:
            records += _leavers(session, config, seen)
        plan = build_plan(session, records, mode="delta", at=at)
        problems += plan.problems
        report = SyncReport(mode="incremental" if incremental else "full", entries=entries, plan=plan,
                            problems=problems, mark=mark)
        if dry_run:
            session.rollback()
            return report
        apply_plan(session, plan, actor=actor, source=config.source, bus=bus, progress=progress,
                   action="provisioning.ldap-sync", details={"entries": entries, "mode": report.mode,
                                                              "rejected": len(problems)})
        row = session.get(LdapSyncStateRow, config.source)
        if row is None:
            row = LdapSyncStateRow(source=config.source, last_run_at=at)
            session.add(row)
        row.last_run_at = at
        if not incremental:
            row.last_full_run_at = at
        if numeric:
            row.usn = int(mark) if mark is not None else None
        else:
            row.modify_timestamp = mark
        session.commit()
        report.applied = True
        return report
