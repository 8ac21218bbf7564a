"""The synthetic region generator (iam.region): determinism, counts, referential integrity, CLI.

Everything runs at scale 0.01 (400 staff, 7,200 patients), generated once per module.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest
from click.testing import CliRunner

import iam.region
from iam.identifiers import is_valid_hpr_number, is_valid_national_id, is_valid_org_number
from iam.region import DEFAULT_AS_OF, FILES, RegionSummary, generate
from iam.region.cli import region_cli
from iam.region.positions import POSITIONS, STAFFING, sectors_for

SCALE = 0.01
AS_OF = DEFAULT_AS_OF.isoformat()


class Generated(NamedTuple):
    path: Path
    summary: RegionSummary


def _read(path: Path, name: str) -> list[dict[str, str]]:
    with (path / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    path = tmp_path_factory.mktemp("region") / "seed1"
    return Generated(path, generate(path, scale=SCALE, seed=1))


@pytest.fixture(scope="module")
def units(region: Generated) -> dict[str, dict[str, str]]:
    return {row["unit_id"]: row for row in _read(region.path, "organisations.csv")}


@pytest.fixture(scope="module")
def staff_rows(region: Generated) -> list[dict[str, str]]:
    return _read(region.path, "hr_staff.csv")


@pytest.fixture(scope="module")
def patients(region: Generated) -> dict[str, dict[str, str]]:
    return {row["national_id"]: row for row in _read(region.path, "patients.csv")}


@pytest.fixture(scope="module")
def care(region: Generated) -> list[dict[str, str]]:
    return _read(region.path, "care_relationships.csv")


@pytest.fixture(scope="module")
def hpr(region: Generated) -> list[dict[str, str]]:
    return _read(region.path, "hpr.csv")


def _file_bytes(path: Path) -> dict[str, bytes]:
    return {name: (path / name).read_bytes() for name in (*FILES, "manifest.json")}


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_scale_and_as_of_give_byte_identical_files(region: Generated, tmp_path: Path) -> None:
    generate(tmp_path, scale=SCALE, seed=1)
    assert _file_bytes(tmp_path) == _file_bytes(region.path)


def test_a_different_seed_gives_different_files(region: Generated, tmp_path: Path) -> None:
    generate(tmp_path, scale=SCALE, seed=2)
    again, first = _file_bytes(tmp_path), _file_bytes(region.path)
    assert all(again[name] != first[name] for name in FILES)


# --- counts ------------------------------------------------------------------------------------


def test_counts_at_one_percent_are_proportional_to_the_reference_region(region: Generated) -> None:
    counts = region.summary.as_dict()
    assert {key: counts[key] for key in ("staff", "patients", "health_trusts", "municipalities", "gp_offices",
                                         "specialist_practices", "physiotherapy_practices",
                                         "ambulance_services")} == {
        "staff": 400, "patients": 7_200, "health_trusts": 1, "municipalities": 1, "gp_offices": 2,
        "specialist_practices": 1, "physiotherapy_practices": 3, "ambulance_services": 1,
    }


def test_summary_counts_match_the_rows_written(region: Generated, units: dict[str, dict[str, str]],
                                               staff_rows: list[dict[str, str]],
                                               patients: dict[str, dict[str, str]],
                                               care: list[dict[str, str]], hpr: list[dict[str, str]]) -> None:
    s = region.summary
    levels = Counter(u["level"] for u in units.values())
    assert (levels["legal_entity"], levels["point_of_care"], levels["department"]) == (
        s.legal_entities, s.points_of_care, s.departments)
    assert (len(staff_rows), len({r["employee_id"] for r in staff_rows})) == (s.employments, s.staff)
    assert (len(patients), len(care), len(hpr)) == (s.patients, s.care_relationships, s.hpr_authorisations)
    assert dict(Counter(r["kind"] for r in care)) == {
        "gp_list": s.care_gp_list, "appointment": s.care_appointment, "admission": s.care_admission,
        "referral": s.care_referral, "home_care": s.care_home_care}


def test_every_organisation_kind_and_sector_is_present(units: dict[str, dict[str, str]]) -> None:
    kinds = {u["unit_kind"] for u in units.values() if u["level"] == "department"}
    assert kinds == set(STAFFING)
    assert {u["sector"] for u in units.values()} == {
        "hospital", "municipality", "gp", "specialist", "physiotherapy", "ambulance"}


def test_manifest_describes_the_run_and_every_file(region: Generated) -> None:
    manifest = json.loads((region.path / "manifest.json").read_text(encoding="utf-8"))
    assert {k: manifest[k] for k in ("format", "version", "seed", "scale", "as_of")} == {
        "format": "iam-synthetic-region", "version": 1, "seed": 1, "scale": SCALE, "as_of": AS_OF}
    assert manifest["counts"] == region.summary.as_dict()
    assert [f["name"] for f in manifest["files"]] == list(FILES)
    assert [f["rows"] for f in manifest["files"]] == [
        region.summary.legal_entities + region.summary.points_of_care + region.summary.departments,
        region.summary.employments, region.summary.staff, region.summary.hpr_authorisations,
        region.summary.patients, region.summary.care_relationships]


# --- identifiers and the organisation tree -------------------------------------------------------


def test_every_unit_has_a_unique_valid_org_number(region: Generated, units: dict[str, dict[str, str]]) -> None:
    assert len(units) == region.summary.legal_entities + region.summary.points_of_care + region.summary.departments
    assert all(is_valid_org_number(unit_id) for unit_id in units)


def test_every_unit_hangs_under_a_unit_of_the_level_above(units: dict[str, dict[str, str]]) -> None:
    above = {"legal_entity": "", "point_of_care": "legal_entity", "department": "point_of_care"}
    parent_levels = {u["unit_id"]: units[u["parent_id"]]["level"] if u["parent_id"] else "" for u in units.values()}
    assert all(parent_levels[u["unit_id"]] == above[u["level"]] for u in units.values())


def test_parents_are_written_before_their_children(region: Generated) -> None:
    rows = _read(region.path, "organisations.csv")
    position = {row["unit_id"]: i for i, row in enumerate(rows)}
    assert all(position[row["parent_id"]] < i for i, row in enumerate(rows) if row["parent_id"])


def test_every_national_id_in_every_file_is_valid(staff_rows: list[dict[str, str]],
                                                  patients: dict[str, dict[str, str]],
                                                  care: list[dict[str, str]], hpr: list[dict[str, str]]) -> None:
    ids = {r["national_id"] for r in staff_rows} | set(patients) | {r["patient"] for r in care} | {
        r["national_id"] for r in hpr}
    assert [i for i in ids if not is_valid_national_id(i)] == []


def test_every_hpr_number_is_well_formed_and_belongs_to_one_person(staff_rows: list[dict[str, str]],
                                                                   hpr: list[dict[str, str]]) -> None:
    owners = {(r["hpr_number"], r["national_id"]) for r in staff_rows if r["hpr_number"]}
    assert all(is_valid_hpr_number(number) for number, _ in owners)
    assert len({number for number, _ in owners}) == len(owners)
    assert {(r["hpr_number"], r["national_id"]) for r in hpr} == owners


# --- staff -----------------------------------------------------------------------------------------


def test_every_employment_names_a_department_its_point_of_care_and_legal_entity(
        units: dict[str, dict[str, str]], staff_rows: list[dict[str, str]]) -> None:
    chains = {(r["legal_entity"], r["point_of_care"], r["department"]) for r in staff_rows}
    assert all(units[d]["level"] == "department" and units[d]["parent_id"] == poc
               and units[poc]["parent_id"] == le for le, poc, d in chains)


def test_every_position_is_one_the_sector_of_its_department_employs(
        units: dict[str, dict[str, str]], staff_rows: list[dict[str, str]]) -> None:
    pairs = {(r["position_code"], units[r["department"]]["sector"]) for r in staff_rows}
    assert [(code, sector) for code, sector in pairs if sector not in sectors_for(code)] == []


def test_the_staffing_table_uses_every_position_and_no_other() -> None:
    used = {code for staffing in STAFFING.values() for code, _ in staffing.mix}
    assert used | {staffing.primary for staffing in STAFFING.values()} == set(POSITIONS)


def test_employments_end_on_or_after_they_start(staff_rows: list[dict[str, str]]) -> None:
    assert all(r["end_date"] >= r["start_date"] for r in staff_rows if r["end_date"])


def test_some_staff_start_after_as_of_some_have_left_and_most_are_open_ended(
        staff_rows: list[dict[str, str]]) -> None:
    future = [r for r in staff_rows if r["start_date"] > AS_OF]
    ended = [r for r in staff_rows if r["end_date"] and r["end_date"] < AS_OF]
    open_ended = [r for r in staff_rows if not r["end_date"]]
    assert (len(future) > 0, len(ended) > 0, len(open_ended) > len(staff_rows) * 0.8) == (True, True, True)


def test_about_five_percent_hold_two_concurrent_employments(staff_rows: list[dict[str, str]]) -> None:
    current = Counter(r["employee_id"] for r in staff_rows
                      if r["start_date"] <= AS_OF and (not r["end_date"] or r["end_date"] >= AS_OF))
    two = sum(1 for n in current.values() if n >= 2)
    assert 0.02 <= two / len(current) <= 0.08


def test_licensed_staff_hold_the_authorisation_of_their_position(staff_rows: list[dict[str, str]],
                                                                 hpr: list[dict[str, str]]) -> None:
    held = {(r["national_id"], r["authorisation"]) for r in hpr}
    # Nurse assistants born before 1975 hold the older hjelpepleier (HP) code instead of HF.
    wanted = {(r["national_id"], POSITIONS[r["position_code"]].authorisation) for r in staff_rows}
    missing = {(nid, code) for nid, code in wanted if code and (nid, code) not in held
               and not (code == "HF" and (nid, "HP") in held)}
    assert missing == set()
    assert {r["national_id"] for r in staff_rows if not POSITIONS[r["position_code"]].authorisation
            and r["hpr_number"]} == set()


def test_some_authorisations_are_lapsed_or_suspended_and_end_before_as_of(hpr: list[dict[str, str]]) -> None:
    statuses = Counter(r["status"] for r in hpr)
    bad = [r for r in hpr if r["status"] != "valid"]
    assert set(statuses) == {"valid", "lapsed", "suspended"}
    assert all(r["valid_to"] and r["valid_from"] <= r["valid_to"] < AS_OF for r in bad)
    assert (statuses["lapsed"] + statuses["suspended"]) / len(hpr) < 0.02


# --- patients and care ---------------------------------------------------------------------------


def test_patients_have_unique_ids_and_a_sex_that_matches_the_id(region: Generated,
                                                                patients: dict[str, dict[str, str]]) -> None:
    assert len(patients) == region.summary.patients
    assert all(p["sex"] == ("male" if int(nid[8]) % 2 else "female") for nid, p in patients.items())


def test_every_patient_has_a_gp_office_and_a_matching_open_gp_list(units: dict[str, dict[str, str]],
                                                                   patients: dict[str, dict[str, str]],
                                                                   care: list[dict[str, str]]) -> None:
    current = {r["patient"]: r["unit_id"] for r in care if r["kind"] == "gp_list" and not r["end"]}
    assert current == {nid: p["gp_unit"] for nid, p in patients.items()}
    assert {units[p["gp_unit"]]["unit_kind"] for p in patients.values()} == {"gp_office"}


def test_no_gp_is_on_their_own_list(staff_rows: list[dict[str, str]], care: list[dict[str, str]]) -> None:
    hpr_of = {r["national_id"]: r["hpr_number"] for r in staff_rows if r["hpr_number"]}
    assert [r for r in care if r["kind"] == "gp_list" and r["practitioner_hpr"]
            and hpr_of.get(r["patient"]) == r["practitioner_hpr"]] == []


def test_few_patients_have_a_confidential_address_and_it_is_not_written(
        patients: dict[str, dict[str, str]]) -> None:
    hidden = [p for p in patients.values() if p["confidential_address"] == "true"]
    assert 0 < len(hidden) < len(patients) * 0.005
    assert {p["address"] for p in hidden} == {""}
    assert {p["confidential_address"] for p in patients.values()} == {"true", "false"}


def test_a_few_patients_are_well_known(patients: dict[str, dict[str, str]]) -> None:
    flagged = [p for p in patients.values() if p["well_known"] == "true"]
    assert 0 < len(flagged) < len(patients) * 0.002


def test_every_care_relationship_references_an_existing_patient_and_department(
        units: dict[str, dict[str, str]], patients: dict[str, dict[str, str]], care: list[dict[str, str]]) -> None:
    assert {r["patient"] for r in care} <= set(patients)
    assert {units[r["unit_id"]]["level"] for r in care} == {"department"}


def test_each_kind_of_care_relationship_points_at_a_unit_that_provides_it(
        units: dict[str, dict[str, str]], care: list[dict[str, str]]) -> None:
    pairs = {(r["kind"], units[r["unit_id"]]["unit_kind"]) for r in care}
    allowed = {
        "gp_list": {"gp_office"},
        "appointment": {"outpatient", "emergency_clinic", "health_station", "specialist_practice",
                        "physiotherapy_practice"},
        "admission": {"ward", "maternity", "psychiatry", "emergency", "nursing_home"},
        "referral": {"outpatient", "psychiatry", "specialist_practice"},
        "home_care": {"home_care"},
    }
    assert [(kind, unit_kind) for kind, unit_kind in pairs if unit_kind not in allowed[kind]] == []


def test_named_practitioners_work_at_the_unit_of_the_relationship(staff_rows: list[dict[str, str]],
                                                                   care: list[dict[str, str]]) -> None:
    works_at = {(r["hpr_number"], r["department"]) for r in staff_rows if r["hpr_number"]}
    named = {(r["practitioner_hpr"], r["unit_id"]) for r in care if r["practitioner_hpr"]}
    assert named and named <= works_at


def test_care_windows_end_on_or_after_they_start_and_not_before_birth(patients: dict[str, dict[str, str]],
                                                                       care: list[dict[str, str]]) -> None:
    assert all(not r["end"] or r["end"] >= r["start"] for r in care)
    assert all(r["start"] >= patients[r["patient"]]["birth_date"] for r in care)


def test_care_relationships_lie_around_as_of_some_open_some_ended_some_ahead(care: list[dict[str, str]]) -> None:
    kinds_open = {r["kind"] for r in care if r["start"] <= AS_OF and (not r["end"] or r["end"] >= AS_OF)}
    kinds_ended = {r["kind"] for r in care if r["end"] and r["end"] < AS_OF}
    assert kinds_open == kinds_ended == {"gp_list", "appointment", "admission", "referral", "home_care"}
    assert any(r["end"] > AS_OF for r in care if r["kind"] == "appointment")


def test_some_staff_are_patients_under_the_same_id_name_and_address(staff_rows: list[dict[str, str]],
                                                                    patients: dict[str, dict[str, str]]) -> None:
    staff = {r["national_id"]: (r["given_name"], r["family_name"], r["address"]) for r in staff_rows}
    both = set(staff) & set(patients)
    assert 0 < len(both) < len(staff)
    assert all(staff[nid] == (patients[nid]["given_name"], patients[nid]["family_name"], patients[nid]["address"])
               for nid in both)


def test_some_patients_share_surname_and_address_with_a_staff_member(staff_rows: list[dict[str, str]],
                                                                     patients: dict[str, dict[str, str]]) -> None:
    households = {(r["family_name"], r["address"]): r["national_id"] for r in staff_rows}
    relatives = [nid for nid, p in patients.items()
                 if households.get((p["family_name"], p["address"]), nid) != nid]
    assert len(relatives) > 10


def test_json_and_csv_hr_feeds_carry_the_same_people_and_employments(region: Generated,
                                                                       staff_rows: list[dict[str, str]]) -> None:
    feed = json.loads((region.path / "hr_staff.json").read_text(encoding="utf-8"))
    person_keys = ("employee_id", "national_id", "hpr_number", "given_name", "family_name", "address")
    from_json = [
        (*(p[k] or "" for k in person_keys), *(e[k] or "" for k in (
            "position_code", "legal_entity", "point_of_care", "department", "start_date", "end_date")))
        for p in feed["persons"] for e in p["employments"]
    ]
    from_csv = [tuple(r.values()) for r in staff_rows]
    assert {k: feed[k] for k in ("format", "version", "as_of")} == {"format": "iam-hr-feed", "version": 1,
                                                                    "as_of": AS_OF}
    assert from_json == from_csv


# --- the API's refusals and progress --------------------------------------------------------------


@pytest.mark.parametrize(("scale", "shown"), [(0, "0"), (-1, "-1"), (10.5, "10.5"), (math.nan, "nan")])
def test_a_scale_outside_zero_to_ten_is_refused(tmp_path: Path, scale: float, shown: str) -> None:
    with pytest.raises(ValueError, match=rf"^scale must be greater than 0 and at most 10, got {shown}$"):
        generate(tmp_path, scale=scale)


def test_an_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("not a directory")
    with pytest.raises(ValueError, match=r"exists and is not a directory$"):
        generate(target, scale=SCALE)


def test_an_as_of_after_2039_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^as_of must be in 1960-2039 \(national ids cannot encode births after "
                                         r"2039\), got 2040-01-01$"):
        generate(tmp_path, scale=SCALE, as_of=date(2040, 1, 1))


def test_progress_reports_each_stage_in_order_and_ends_it_complete(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    generate(tmp_path, scale=0.002, progress=lambda stage, done, total: calls.append((stage, done, total)))
    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    last = {stage: (done, total) for stage, done, total in calls}
    assert stages == ["organisations", "staff", "patients", "care_relationships", "manifest"]
    assert all(done == total for done, total in last.values())


def test_the_region_package_exports_exactly_its_dunder_all() -> None:
    public = sorted(name for name, value in vars(iam.region).items()
                    if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations")
    assert public == sorted(iam.region.__all__)


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_generate_writes_the_files_and_prints_the_counts_as_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(region_cli, ["generate", "--out", str(tmp_path / "r"), "--scale", "0.002",
                                             "--seed", "3", "--as-of", "2026-06-01"])
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text(encoding="utf-8"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == manifest["counts"]
    assert (manifest["seed"], manifest["as_of"]) == (3, "2026-06-01")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted((*FILES, "manifest.json"))


def test_cli_scale_zero_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(region_cli, ["generate", "--out", str(tmp_path / "r"), "--scale", "0"])
    assert result.exit_code == 2
    assert result.stderr == "error: Invalid value for '--scale': scale must be greater than 0 and at most 10, got 0.0\n"
    assert result.stdout == ""
    assert not (tmp_path / "r").exists()


def test_cli_out_that_is_a_file_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(region_cli, ["generate", "--out", str(tmp_path / "file"), "--scale", "0.002"])
    assert result.exit_code == 2
    assert result.stderr == f"error: Invalid value for '--out': Directory '{tmp_path / 'file'}' is a file.\n"


def test_cli_help_shows_an_example() -> None:
    result = CliRunner().invoke(region_cli, ["generate", "--help"])
    assert result.exit_code == 0
    assert "iam region generate --out ./region-small --scale 0.01 --seed 7" in result.stdout
