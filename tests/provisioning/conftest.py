"""A tiny hand-written region for precise provisioning cases, and a small generated one for bulk cases.

``world`` loads an organisation register of two legal entities (a health trust with one hospital of three
departments; a municipality with home care) and HPR licences for six people, on the ``runtime`` of the test
(SQLite and PostgreSQL). Feeds are written as CSV rows by the test itself, so every date and unit is visible
in the test. Times are Oslo times (``moment(day)`` is 09:00 Oslo that day).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Any, Literal

import pytest

from iam.identifiers import make_national_id
from iam.region import generate
from iam.runtime import Runtime
from provisioning.clock import HR_ZONE
from provisioning.hpr import FileLicenceRegister, check_licences, sync_licences
from provisioning.imports import ImportReport, import_hr_file
from provisioning.lifecycle import TickResult, run_tick
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations
from provisioning.register import grants_in_force
from provisioning.subjects import SubjectFacts, subject_facts

HR_HEADER = ["employee_id", "national_id", "hpr_number", "given_name", "family_name", "address", "position_code",
             "legal_entity", "point_of_care", "department", "start_date", "end_date"]


def wait_until(condition: Callable[[], bool], *, timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (a wait, not a timing assertion)."""
    deadline = monotonic() + timeout
    while not condition():
        if monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        sleep(0.05)


def moment(day: date, hour: int = 9) -> datetime:
    """``hour``:00 Oslo time on ``day``, as UTC."""
    return datetime.combine(day, time(hour), HR_ZONE).astimezone(UTC)


def org_number(base: str) -> str:
    """A valid organisation number starting with the 8 digits ``base`` (the next one that has a control digit)."""
    number = int(base)
    while True:
        digits = f"{number:08d}"
        control = 11 - sum(w * int(c) for w, c in zip((3, 2, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
        if control != 10:
            return digits + str(0 if control == 11 else control)
        number += 1


def national_id(n: int) -> str:
    """A valid synthetic national id, different for every ``n``."""
    individual = 100 + n
    while True:
        try:
            return make_national_id(date(1980, 1, 1) + timedelta(days=n), individual)
        except ValueError:
            individual += 2


@dataclass(frozen=True)
class Units:
    trust: str = org_number("31000000")
    hospital: str = org_number("31000100")
    ward_a: str = org_number("31000200")
    ward_b: str = org_number("31000300")
    outpatient: str = org_number("31000400")
    municipality: str = org_number("32000000")
    home_care: str = org_number("32000100")
    zone_1: str = org_number("32000200")
    zone_2: str = org_number("32000300")

    def chain(self, department: str) -> tuple[str, str]:
        """(legal entity, point of care) of a department."""
        if department in (self.zone_1, self.zone_2):
            return self.municipality, self.home_care
        return self.trust, self.hospital


@dataclass(frozen=True)
class Staff:
    employee_id: str
    national_id: str
    hpr_number: str
    given_name: str
    family_name: str


STAFF = {n: Staff(f"E{n:03d}", national_id(n), f"{1000000 + n}", f"Given{n}", f"Family{n}") for n in range(1, 10)}
# HPR: 1-4 physicians (LE), 5-6 nurses (SP), 7 a nurse whose SP authorisation lapsed; 8-9 unlicensed.
LICENCES = {1: "LE", 2: "LE", 3: "LE", 4: "LE", 5: "SP", 6: "SP"}


class World:
    """The hand-written region on one database; helpers write feeds and run the real engine."""

    def __init__(self, runtime: Runtime, folder: Path) -> None:
        self.runtime = runtime
        self.folder = folder
        self.units = Units()
        self._files = 0
        register = read_organisations(self._organisations())
        with runtime.sessions.begin() as session:
            apply_organisations(session, plan_organisations(session, register), actor="tests")
        extract = self.write_hpr({n: [(code, "valid", "2000-01-01", "")] for n, code in LICENCES.items()}
                                 | {7: [("SP", "lapsed", "2000-01-01", "2026-01-31")]})
        with runtime.sessions.begin() as session:
            sync_licences(session, FileLicenceRegister(extract).all(), source="hpr-file", at=moment(date(2026, 1, 1)))

    def _organisations(self) -> Path:
        u = self.units
        rows = [
            (u.trust, "", "legal_entity", "Helse Test HF", "hospital", "health_trust"),
            (u.hospital, u.trust, "point_of_care", "Test sykehus", "hospital", "hospital"),
            (u.ward_a, u.hospital, "department", "Medisinsk sengepost", "hospital", "ward"),
            (u.ward_b, u.hospital, "department", "Kirurgisk sengepost", "hospital", "ward"),
            (u.outpatient, u.hospital, "department", "Medisinsk poliklinikk", "hospital", "outpatient"),
            (u.municipality, "", "legal_entity", "Testvik kommune", "municipality", "municipality"),
            (u.home_care, u.municipality, "point_of_care", "Hjemmetjenesten", "municipality", "home_care"),
            (u.zone_1, u.home_care, "department", "Hjemmetjenesten sone 1", "municipality", "home_care"),
            (u.zone_2, u.home_care, "department", "Hjemmetjenesten sone 2", "municipality", "home_care"),
        ]
        path = self.folder / "organisations.csv"
        path.write_text("unit_id,parent_id,level,name,sector,unit_kind,municipality\n"
                        + "".join(",".join(row) + ",Testvik\n" for row in rows), encoding="utf-8")
        return path

    def write_hpr(self, licences: dict[int, list[tuple[str, str, str, str]]]) -> Path:
        path = self.folder / "hpr.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["hpr_number", "national_id", "authorisation", "status", "valid_from", "valid_to"])
            for n, entries in sorted(licences.items()):
                for code, status, valid_from, valid_to in entries:
                    writer.writerow([STAFF[n].hpr_number, STAFF[n].national_id, code, status, valid_from, valid_to])
        return path

    def check_licences(self, at: datetime) -> Any:
        with self.runtime.sessions.begin() as session:
            return check_licences(session, FileLicenceRegister(self.folder / "hpr.csv"), at=at,
                                  bus=self.runtime.bus)

    def row(self, n: int, position: str, department: str, start: str, end: str = "", **changes: str) -> list[str]:
        """One CSV row of staff member ``n``; ``changes`` override person fields (e.g. family_name=...)."""
        staff = STAFF[n]
        legal_entity, point_of_care = self.units.chain(department)
        fields = {"employee_id": staff.employee_id, "national_id": staff.national_id,
                  "hpr_number": staff.hpr_number if n <= 7 else "", "given_name": staff.given_name,
                  "family_name": staff.family_name, "address": f"Gate {n}, 7000 Testvik"} | changes
        return [fields["employee_id"], fields["national_id"], fields["hpr_number"], fields["given_name"],
                fields["family_name"], fields["address"], position, legal_entity, point_of_care, department,
                start, end]

    def feed(self, rows: list[list[str]], *, header: list[str] | None = None, name: str | None = None) -> Path:
        self._files += 1
        path = self.folder / (name or f"feed{self._files}.csv")
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header or HR_HEADER)
            writer.writerows(rows)
        return path

    def load(self, rows: list[list[str]], *, at: datetime, mode: Literal["snapshot", "delta"] = "snapshot",
             **options: Any) -> ImportReport:
        return self.import_file(self.feed(rows), at=at, mode=mode, **options)

    def import_file(self, path: Path, *, at: datetime, mode: Literal["snapshot", "delta"] = "snapshot",
                    **options: Any) -> ImportReport:
        return import_hr_file(self.runtime.sessions, path, mode=mode, actor="tests", at=at, bus=self.runtime.bus,
                              **options)

    def tick(self, at: datetime) -> TickResult:
        with self.runtime.sessions.begin() as session:
            return run_tick(session, at=at, bus=self.runtime.bus)

    def facts(self, n: int, at: datetime) -> SubjectFacts:
        with self.runtime.sessions() as session:
            facts = subject_facts(session, national_id=STAFF[n].national_id, at=at)
        assert facts is not None
        return facts

    def roles(self, n: int, at: datetime) -> set[tuple[str, str, bool]]:
        """(role, unit, suspended) of every grant in force at ``at`` (whatever the account status)."""
        person_id = self.facts(n, at).person_id
        with self.runtime.sessions() as session:
            return {(g.role, g.unit_id, g.suspended) for g in grants_in_force(session, at=at, person_id=person_id)}


@pytest.fixture
def world(runtime: Runtime, tmp_path: Path) -> World:
    return World(runtime, tmp_path)


@pytest.fixture(scope="session")
def small_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A generated region at scale 0.01 (400 staff), shared read-only by the tests."""
    folder = tmp_path_factory.mktemp("region")
    generate(folder, scale=0.01, seed=7)
    yield folder
