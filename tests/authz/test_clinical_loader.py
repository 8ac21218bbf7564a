"""The region generator's clinical events load through the decision engine's service."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from iam.authz.clinical_loader import load_clinical_events
from iam.region import generate
from iam.runtime import Runtime
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("region")
    generate(folder, scale=0.005, seed=3)
    return folder


def test_care_relationships_and_flags_load_once_and_reach_the_decision_facts(runtime: Runtime, region: Path) -> None:
    with runtime.sessions.begin() as session:
        apply_organisations(session, plan_organisations(session, read_organisations(region / "organisations.csv")),
                            actor="tests", bus=runtime.bus)
    manifest = json.loads((region / "manifest.json").read_text())["counts"]
    stages: list[str] = []
    counts = load_clinical_events(runtime, region, progress=lambda stage, done, total: stages.append(stage))
    assert counts == {"patient_flags": manifest["patients_confidential"] + manifest["patients_well_known"]
                      - _both(region), "care_relationships": manifest["care_relationships"],
                      "care_relationships_skipped": 0}
    assert stages[0] == "patient flags" and stages[-1] == "care relationships"
    again = load_clinical_events(runtime, region)
    assert (again["care_relationships"], again["care_relationships_skipped"]) == (0, manifest["care_relationships"])
    with (region / "care_relationships.csv").open() as handle:
        first = next(csv.DictReader(handle))
    facts = runtime.authz.pip.patient(first["patient"])
    assert first["relationship_id"] in {rel.id for rel in facts.relationships}


def _both(region: Path) -> int:
    with (region / "patients.csv").open() as handle:
        return sum(1 for row in csv.DictReader(handle)
                   if row["confidential_address"] == "true" and row["well_known"] == "true")
