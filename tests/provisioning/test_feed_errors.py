"""Bad HR input: every bad row is reported with file, line, field and reason; all or nothing by default."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
from sqlalchemy import func, select

from iam.identifiers import national_id_error
from provisioning.hrfile import FeedFileError
from provisioning.imports import InvalidFeed, TooManyLeavers
from provisioning.models import PersonRow
from tests.provisioning.conftest import HR_HEADER, STAFF, World, moment, national_id, org_number

DEC1 = moment(date(2026, 12, 1))


def _people(world: World) -> int:
    with world.runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(PersonRow)).scalar_one()


def _bad_check_digit(good: str) -> tuple[str, str]:
    """The id with its last digit changed, and the reason the validator gives for it."""
    bad = good[:10] + str((int(good[10]) + 1) % 10)
    return bad, f"invalid national id: {national_id_error(bad)}"


def test_missing_column_in_the_header_refuses_the_whole_file(world: World) -> None:
    header = [c for c in HR_HEADER if c != "department"]
    path = world.feed([[*world.row(1, "physician", world.units.ward_a, "2020-01-01")[:9], "2020-01-01", ""]],
                      header=header)

    with pytest.raises(FeedFileError) as refused:
        world.import_file(path, at=DEC1)

    assert [str(p) for p in refused.value.problems] == [f"{path.name}:1: department: missing column"]
    assert _people(world) == 0


def test_each_bad_row_is_reported_with_file_line_field_and_reason_and_nothing_is_applied(world: World) -> None:
    u = world.units
    unknown_unit = org_number("39999900")
    bad_id, id_reason = _bad_check_digit(STAFF[3].national_id)
    rows = [
        world.row(1, "physician", u.ward_a, "2020-01-01"),                          # line 2: good
        world.row(2, "surgeon", u.ward_a, "2020-01-01"),                            # line 3: unknown position
        world.row(3, "physician", u.ward_a, "2020-01-01", national_id=bad_id),      # line 4: check digit
        world.row(4, "physician", u.ward_b, "2026-02-01", "2026-01-01"),            # line 5: end before start
        world.row(5, "nurse", unknown_unit, "2020-01-01"),                          # line 6: unit not in register
        world.row(6, "nurse", u.ward_a, "2020-01-01")[:11],                         # line 7: missing column
        world.row(8, "care_assistant", u.ward_a, "2020-01-01"),                     # line 8: duplicate person
        world.row(9, "care_assistant", u.ward_b, "2020-01-01", national_id=STAFF[8].national_id),  # line 9
        [*world.row(1, "physician", u.zone_1, "2020-01-01")[:8], u.hospital, u.zone_1, "2020-01-01", ""],
    ]
    rows[-1][0] = "E010"
    rows[-1][1] = STAFF[7].national_id
    rows[-1][2] = ""
    path = world.feed(rows)
    name = path.name

    with pytest.raises(InvalidFeed) as refused:
        world.import_file(path, at=DEC1)

    assert [str(p) for p in refused.value.problems] == [
        f"{name}:3: position_code: position code 'surgeon' is not in the role rules",
        f"{name}:4: national_id: {id_reason}",
        f"{name}:5: end_date: end date 2026-01-01 is before start date 2026-02-01",
        f"{name}:6: department: unit {unknown_unit} is not in the organisation register",
        f"{name}:7: end_date: missing column (the row has 11 fields, the header 12)",
        f"{name}:8: national_id: duplicate person: the same national id as {name}:9",
        f"{name}:9: national_id: duplicate person: the same national id as {name}:8",
        f"{name}:10: point_of_care: department {u.zone_1} belongs to point of care {u.home_care}, not {u.hospital}",
    ]
    assert refused.value.message == (f"8 bad rows in {name}; nothing applied (fix them, or use --skip-invalid "
                                     "--rejects FILE to apply the rest)")
    assert _people(world) == 0


def test_skip_invalid_applies_the_good_rows_and_writes_every_row_of_rejected_people(world: World) -> None:
    u = world.units
    rows = [
        world.row(1, "physician", u.ward_a, "2020-01-01"),
        world.row(2, "physician", u.ward_a, "2020-01-01"),
        world.row(2, "physician", u.ward_b, "2020-01-01", "2019-12-31"),
        world.row(3, "surgeon", u.ward_a, "2020-01-01"),
    ]
    path = world.feed(rows)
    rejects = world.folder / "rejects.csv"

    report = world.import_file(path, at=DEC1, skip_invalid=True, rejects=rejects)

    assert report.applied is True
    assert report.plan.joiners == ["E001 Given1 Family1"]
    assert report.rejected_lines == [3, 4, 5]
    assert list(csv.reader(rejects.read_text(encoding="utf-8").splitlines())) == [
        [*HR_HEADER, "rejected_because"],
        [*rows[1], "another row of this person was rejected (line 4)"],
        [*rows[2], "end_date: end date 2019-12-31 is before start date 2020-01-01"],
        [*rows[3], "position_code: position code 'surgeon' is not in the role rules"],
    ]
    assert _people(world) == 1


def test_a_snapshot_never_takes_a_person_with_a_rejected_row_for_a_leaver(world: World) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2020-01-01"), world.row(2, "physician", u.ward_a, "2020-01-01")],
               at=DEC1)
    rejects = world.folder / "rejects.csv"

    report = world.load([world.row(1, "physician", u.ward_a, "2020-01-01"),
                         world.row(2, "physician", u.ward_a, "not-a-date")],
                        at=DEC1, skip_invalid=True, rejects=rejects)

    assert [str(p) for p in report.problems] == [
        f"{report.file}:3: start_date: 'not-a-date' is not a date (YYYY-MM-DD)"]
    assert report.plan.leavers == []
    assert report.plan.is_empty is True
    assert world.facts(2, DEC1).account_status == "active"


def test_json_feed_problems_name_the_line_and_the_key_path(world: World) -> None:
    u = world.units
    good = {"employee_id": "E001", "national_id": STAFF[1].national_id, "hpr_number": STAFF[1].hpr_number,
            "given_name": "Given1", "family_name": "Family1", "address": "",
            "employments": [{"position_code": "physician", "legal_entity": u.trust, "point_of_care": u.hospital,
                             "department": u.ward_a, "start_date": "2020-01-01", "end_date": None}]}
    missing_key = {**good, "employee_id": "E002", "national_id": STAFF[2].national_id,
                   "hpr_number": STAFF[2].hpr_number}
    del missing_key["given_name"]
    bad_date = {**good, "employee_id": "E003", "national_id": STAFF[3].national_id, "hpr_number": None,
                "employments": [{**good["employments"][0], "end_date": "2019-13-01"}]}  # type: ignore[dict-item]
    path = world.folder / "feed.json"
    path.write_text('{"format": "iam-hr-feed", "version": 1, "as_of": "2026-12-01", "persons": [\n'
                    + ",\n".join(json.dumps(p) for p in (good, missing_key, bad_date)) + "\n]}\n", encoding="utf-8")

    with pytest.raises(InvalidFeed) as refused:
        world.import_file(path, at=DEC1)

    assert [str(p) for p in refused.value.problems] == [
        "feed.json:3: given_name: missing key",
        "feed.json:4: employments[0].end_date: '2019-13-01' is not a date (YYYY-MM-DD)",
    ]


def test_skip_invalid_writes_rejected_json_persons_in_the_feed_format(world: World) -> None:
    u = world.units
    job = {"position_code": "physician", "legal_entity": u.trust, "point_of_care": u.hospital,
           "department": u.ward_a, "start_date": "2020-01-01", "end_date": None}
    people = [{"employee_id": f"E00{n}", "national_id": STAFF[n].national_id, "hpr_number": STAFF[n].hpr_number,
               "given_name": f"Given{n}", "family_name": f"Family{n}", "address": "", "employments": [job]}
              for n in (1, 2)]
    people[1]["employments"] = [{**job, "position_code": "surgeon"}]
    path = world.folder / "feed.json"
    path.write_text('{"format": "iam-hr-feed", "version": 1, "persons": [\n'
                    + ",\n".join(json.dumps(p) for p in people) + "\n]}\n", encoding="utf-8")
    rejects = world.folder / "rejects.json"

    report = world.import_file(path, at=DEC1, skip_invalid=True, rejects=rejects)

    assert report.plan.joiners == ["E001 Given1 Family1"]
    assert json.loads(rejects.read_text(encoding="utf-8")) == {
        "format": "iam-hr-feed", "version": 1,
        "persons": [{**people[1], "rejected_because": "employments[0].position_code: position code 'surgeon' "
                                                      "is not in the role rules"}]}


def test_json_feed_of_another_format_is_refused(world: World) -> None:
    path = world.folder / "other.json"
    path.write_text('{"format": "something-else", "version": 3, "persons": []}', encoding="utf-8")

    with pytest.raises(FeedFileError) as refused:
        world.import_file(path, at=DEC1)

    assert [str(p) for p in refused.value.problems] == [
        "other.json:1: format: expected format 'iam-hr-feed' version 1, got 'something-else' 3"]


def test_rows_of_one_employee_must_agree_on_the_person(world: World) -> None:
    u = world.units
    path = world.feed([world.row(1, "physician", u.ward_a, "2020-01-01"),
                       world.row(1, "physician", u.ward_b, "2021-01-01", family_name="Other")])

    with pytest.raises(InvalidFeed) as refused:
        world.import_file(path, at=DEC1)

    assert [str(p) for p in refused.value.problems] == [
        f"{path.name}:3: family_name: differs from line 2 for employee E001"]


def test_a_record_claiming_another_persons_national_id_is_refused(world: World) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2020-01-01"), world.row(2, "physician", u.ward_a, "2020-01-01")],
               at=DEC1)
    path = world.feed([world.row(2, "physician", u.ward_a, "2020-01-01", national_id=STAFF[1].national_id)])

    with pytest.raises(InvalidFeed) as refused:
        world.import_file(path, at=DEC1, mode="delta")

    assert [str(p) for p in refused.value.problems] == [
        f"{path.name}:2: national_id: national id belongs to another person (employee E001)"]


def test_a_snapshot_that_would_disable_too_many_people_is_refused_unless_allowed(world: World) -> None:
    u = world.units
    everyone = [world.row(n, "care_assistant", u.zone_1, "2020-01-01", hpr_number="") for n in range(1, 10)]
    everyone += [world.row(n, "care_assistant", u.zone_2, "2020-01-01", hpr_number="", employee_id=f"F{n}",
                           national_id=national_id(100 + n)) for n in range(1, 3)]
    world.load(everyone, at=DEC1)
    truncated = world.feed(everyone[:0])

    with pytest.raises(TooManyLeavers) as refused:
        world.import_file(truncated, at=DEC1)
    allowed = world.import_file(truncated, at=DEC1, max_leavers=11)

    assert refused.value.message == (f"the snapshot {truncated.name} would make 11 people leavers, more than the "
                                     "limit of 10; nothing applied (check the file is complete, or allow it with "
                                     "--max-leavers N)")
    assert len(allowed.plan.leavers) == 11
