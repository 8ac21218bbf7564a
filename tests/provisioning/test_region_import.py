"""A generated region (scale 0.01) through the whole engine: load, re-import, formats, dry run, atomicity."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from iam.runtime import Runtime
from provisioning.apply import apply_plan
from provisioning.imports import import_hr_file
from provisioning.models import AccountRow, EmploymentRow, GrantRow, OrgUnitRow, PersonRow
from provisioning.plan import NewEmployment, NewPerson, Plan
from provisioning.region_loader import load_region
from tests.provisioning.conftest import moment, org_number

AS_OF = date(2026, 12, 1)
AT = moment(AS_OF)


def _counts(runtime: Runtime) -> dict[str, int]:
    with runtime.sessions() as session:
        return {model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (OrgUnitRow, PersonRow, AccountRow, EmploymentRow, GrantRow)}


def test_a_generated_region_loads_whole_and_loading_it_again_changes_nothing(
        runtime: Runtime, small_region: Path) -> None:
    manifest = json.loads((small_region / "manifest.json").read_text())
    counts = manifest["counts"]

    first = load_region(runtime, small_region, today=AS_OF, at=AT)
    again = load_region(runtime, small_region, today=AS_OF, at=AT)
    stored = _counts(runtime)

    assert stored["org_units"] == counts["legal_entities"] + counts["points_of_care"] + counts["departments"]
    assert stored["persons"] == stored["accounts"] == counts["staff"]
    assert stored["employments"] == counts["employments"]
    assert first.plan.counts()["rejected"] == 0
    assert first.licences.added == counts["hpr_authorisations"]
    assert again.plan.is_empty is True
    assert again.organisations.is_empty is True
    assert again.summary().splitlines() == [
        "organisation register: no changes", "HPR licences: 0 added, 0 changed, 0 removed",
        f"plan (snapshot, 2026-12-01): {counts['staff']} people in the input", "no changes"]


def test_the_json_feed_describes_the_same_staff_as_the_csv_feed(runtime: Runtime, small_region: Path) -> None:
    load_region(runtime, small_region, today=AS_OF, at=AT)

    report = import_hr_file(runtime.sessions, small_region / "hr_staff.json", mode="snapshot", actor="tests",
                            at=AT)

    assert report.problems == []
    assert report.plan.is_empty is True


def test_a_dry_run_plans_everything_and_applies_nothing(runtime: Runtime, small_region: Path) -> None:
    load_region(runtime, small_region, today=AS_OF, at=AT)
    before = _counts(runtime)
    feed = small_region.parent / "half.csv"
    lines = (small_region / "hr_staff.csv").read_text(encoding="utf-8").splitlines()
    feed.write_text("\n".join(lines[: len(lines) // 2]) + "\n", encoding="utf-8")

    report = import_hr_file(runtime.sessions, feed, mode="snapshot", actor="tests", at=AT, dry_run=True)

    assert report.applied is False
    assert len(report.plan.leavers) > 0
    assert _counts(runtime) == before


def test_a_failure_in_the_middle_of_apply_leaves_the_previous_state_intact(
        runtime: Runtime, small_region: Path) -> None:
    load_region(runtime, small_region, today=AS_OF, at=AT)
    before = _counts(runtime)
    department = org_number("39999900")  # in no register: the employment insert fails after the person insert
    plan = Plan(mode="delta", today=AS_OF, at=AT)
    plan.new_persons.append(NewPerson(-1, "01018012345", None, "X1", "Ny", "Person", ""))
    plan.new_employments.append(NewEmployment(-1, "nurse", department, department, department, AS_OF, None))

    with runtime.sessions() as session, pytest.raises(IntegrityError):
        apply_plan(session, plan, actor="tests", source="tests")
        session.commit()

    assert _counts(runtime) == before
