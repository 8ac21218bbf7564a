"""Load the region generator's clinical events (iam/region/FORMATS.md) through the decision engine's service.

* ``patients.csv``: the confidential-address and well-known flags (:meth:`CareFacts.load_flags`);
* ``care_relationships.csv``: every relationship, validated like one registered over the API and inserted
  in batches (:meth:`CareFacts.load_relationships`). Dates are Oslo days: ``start`` begins at 00:00 Oslo
  time, an ``end`` day is included (the relationship ends at the next midnight).

Idempotent: relationships whose ids are already stored are skipped, so loading a region twice changes
nothing. The organisation register must be loaded first (units are checked against it).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from iam.authz.models import CareRelationshipRow
from iam.authz.service import Actor

if TYPE_CHECKING:
    from iam.runtime import Runtime

__all__ = ["load_clinical_events"]

_OSLO = ZoneInfo("Europe/Oslo")
_UTC = ZoneInfo("UTC")
Progress = Callable[[str, int, int], None]


def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(0), _OSLO).astimezone(_UTC)


def _day_after(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0), _OSLO).astimezone(_UTC)


def _rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def load_clinical_events(runtime: Runtime, region_dir: Path, *, progress: Progress | None = None) -> dict[str, int]:
    """Load flags and care relationships of the region in ``region_dir``; return counts loaded and skipped.

    Raises APIError (400) naming the relationship when a row fails validation, OSError for unreadable files.
    """
    report = progress or (lambda stage, done, total: None)
    facts = runtime.authz.facts
    actor = Actor(actor="region-loader")

    patients_path = region_dir / "patients.csv"
    flags: dict[str, tuple[bool, bool]] = {}
    with patients_path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            confidential, well_known = row["confidential_address"] == "true", row["well_known"] == "true"
            if confidential or well_known:
                flags[row["national_id"]] = (confidential, well_known)
    facts.load_flags(flags, actor=actor)
    report("patient flags", len(flags), len(flags))

    care_path = region_dir / "care_relationships.csv"
    total = _rows(care_path)
    with runtime.sessions() as session:
        existing = set(session.execute(select(CareRelationshipRow.id).where(
            CareRelationshipRow.source == actor.actor)).scalars())
    skipped = 0

    def relationships() -> Iterator[dict[str, Any]]:
        nonlocal skipped
        with care_path.open(encoding="utf-8", newline="") as handle:
            for done, row in enumerate(csv.DictReader(handle), start=1):
                if row["relationship_id"] in existing:
                    skipped += 1
                    continue
                yield {"id": row["relationship_id"], "patient": row["patient"], "kind": row["kind"],
                       "unit_id": row["unit_id"] or None, "practitioner_hpr": row["practitioner_hpr"] or None,
                       "valid_from": _midnight(row["start"]),
                       "valid_to": _day_after(row["end"]) if row["end"] else None}
                if done % 5000 == 0:
                    report("care relationships", done, total)

    loaded = facts.load_relationships(relationships(), actor=actor)
    report("care relationships", total, total)
    return {"patient_flags": len(flags), "care_relationships": loaded, "care_relationships_skipped": skipped}
