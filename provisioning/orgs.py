"""The organisation register: ``organisations.csv`` (legal entity -> point of care -> department) into
``org_units``.

The file is the complete register (format in ``iam/region/FORMATS.md``): units in it are added or updated,
units no longer in it are closed (kept, because employments and grants refer to them; a closed unit takes no
new employments). Every unit's ``legal_entity_id`` and ``point_of_care_id`` are recomputed from the parent
chain, so a re-parented point of care carries its departments along.

:func:`read_organisations` checks the whole file (organisation number check digits, known levels, a parent of
the right level for every unit) and raises :class:`~provisioning.hrfile.FeedFileError` listing every bad row:
the register is applied all or nothing. :func:`plan_organisations` / :func:`apply_organisations` diff and
write, in the caller's transaction.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from iam.identifiers import org_number_error
from iam.notify import ChangeBus
from provisioning.bulk import bulk_insert, bulk_update
from provisioning.events import admin_event, announce_all
from provisioning.feed import Origin, Problem
from provisioning.hrfile import FeedFileError
from provisioning.models import UNIT_LEVELS, OrgUnitRow

__all__ = ["ORG_COLUMNS", "OrgPlan", "apply_organisations", "plan_organisations", "read_organisations"]

ORG_COLUMNS = ("unit_id", "parent_id", "level", "name", "sector", "unit_kind", "municipality")
_PARENT_LEVEL = {"legal_entity": None, "point_of_care": "legal_entity", "department": "point_of_care"}
_FIELDS = ("parent_id", "level", "name", "sector", "unit_kind", "municipality", "legal_entity_id",
           "point_of_care_id")


@dataclass(frozen=True, slots=True)
class Unit:
    unit_id: str
    parent_id: str | None
    level: str
    name: str
    sector: str
    unit_kind: str
    municipality: str
    legal_entity_id: str
    point_of_care_id: str | None


@dataclass
class OrgPlan:
    added: list[Unit] = field(default_factory=list)
    changed: list[Unit] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.changed or self.reopened or self.closed)

    def summary(self) -> str:
        if self.is_empty:
            return "organisation register: no changes"
        return (f"organisation register: {len(self.added)} added, {len(self.changed)} changed, "
                f"{len(self.reopened)} reopened, {len(self.closed)} closed")


def read_organisations(path: Path) -> list[Unit]:
    """Parse and check ``organisations.csv``; parents must come before their children."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FeedFileError([Problem(Origin(name), "file", f"cannot be read: {exc.strerror}")]) from None
    reader = csv.reader(text.splitlines())
    header = [column.strip() for column in next(reader, [])]
    missing = [column for column in ORG_COLUMNS if column not in header]
    if missing:
        raise FeedFileError([Problem(Origin(name, 1), column, "missing column") for column in missing])
    index = {column: header.index(column) for column in ORG_COLUMNS}
    units: dict[str, Unit] = {}
    problems: list[Problem] = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        origin = Origin(name, line)
        if len(row) < len(header):
            problems.append(Problem(origin, ORG_COLUMNS[-1], f"missing column (the row has {len(row)} fields, "
                                                             f"the header {len(header)})"))
            continue
        values = {column: row[index[column]].strip() for column in ORG_COLUMNS}
        unit = _unit(values, units, origin, problems)
        if unit is not None:
            units[unit.unit_id] = unit
    if problems:
        raise FeedFileError(problems)
    return list(units.values())


def _unit(values: dict[str, str], units: dict[str, Unit], origin: Origin, problems: list[Problem]) -> Unit | None:
    before = len(problems)
    unit_id, parent_id, level = values["unit_id"], values["parent_id"] or None, values["level"]
    reason = org_number_error(unit_id)
    if reason is not None:
        problems.append(Problem(origin, "unit_id", f"invalid organisation number: {reason}"))
    elif unit_id in units:
        problems.append(Problem(origin, "unit_id", f"duplicate unit {unit_id}"))
    if level not in UNIT_LEVELS:
        problems.append(Problem(origin, "level", f"'{level}' is not one of {', '.join(UNIT_LEVELS)}"))
    for column in ("name", "unit_kind"):
        if not values[column]:
            problems.append(Problem(origin, column, "is empty"))
    parent = units.get(parent_id) if parent_id else None
    wanted = _PARENT_LEVEL.get(level)
    if level in UNIT_LEVELS and wanted is None and parent_id:
        problems.append(Problem(origin, "parent_id", "a legal entity has no parent"))
    elif wanted is not None and parent is None:
        problems.append(Problem(origin, "parent_id", f"unit {parent_id or '(empty)'} is not an earlier unit of "
                                                     "the file"))
    elif wanted is not None and parent is not None and parent.level != wanted:
        problems.append(Problem(origin, "parent_id", f"unit {parent_id} is a {parent.level.replace('_', ' ')}, "
                                                     f"not a {wanted.replace('_', ' ')}"))
    if len(problems) > before:
        return None
    if parent is None:
        legal_entity, point_of_care = unit_id, None
    elif level == "point_of_care":
        legal_entity, point_of_care = parent.unit_id, unit_id
    else:
        legal_entity, point_of_care = parent.legal_entity_id, parent.unit_id
    return Unit(unit_id, parent_id, level, values["name"], values["sector"], values["unit_kind"],
                values["municipality"], legal_entity, point_of_care)


def plan_organisations(session: Session, units: list[Unit]) -> OrgPlan:
    """Diff the register file against ``org_units``."""
    stored = {row.unit_id: row for row in session.execute(select(OrgUnitRow)).scalars()}
    plan = OrgPlan()
    for unit in units:
        row = stored.pop(unit.unit_id, None)
        if row is None:
            plan.added.append(unit)
            continue
        if any(getattr(row, name) != getattr(unit, name) for name in _FIELDS):
            plan.changed.append(unit)
        if row.closed_at is not None:
            plan.reopened.append(unit.unit_id)
    plan.closed = sorted(unit_id for unit_id, row in stored.items() if row.closed_at is None)
    return plan


def apply_organisations(session: Session, plan: OrgPlan, *, actor: str, at: datetime | None = None,
                        bus: ChangeBus | None = None, details: dict[str, Any] | None = None) -> None:
    """Write ``plan`` in the caller's transaction, record an admin event and tell subscribers to reload."""
    if plan.is_empty:
        return
    at = at or utc_now()

    def values(unit: Unit) -> dict[str, Any]:
        return {"unit_id": unit.unit_id, **{name: getattr(unit, name) for name in _FIELDS}, "updated_at": at}

    bulk_insert(session, OrgUnitRow, [{**values(u), "closed_at": None} for u in plan.added])
    bulk_update(session, OrgUnitRow, "unit_id", [values(u) for u in plan.changed])
    bulk_update(session, OrgUnitRow, "unit_id", [{"unit_id": u, "closed_at": None, "updated_at": at}
                                                 for u in plan.reopened])
    bulk_update(session, OrgUnitRow, "unit_id", [{"unit_id": u, "closed_at": at, "updated_at": at}
                                                 for u in plan.closed])
    admin_event(session, actor=actor, action="org.import", target_type="org-register", target_id=None,
                details={"added": len(plan.added), "changed": len(plan.changed), "reopened": len(plan.reopened),
                         "closed": len(plan.closed), **(details or {})})
    announce_all(session, bus=bus)
