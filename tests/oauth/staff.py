"""Staff for the token tests, provisioned through provisioning's own engine (no rows written by hand).

One hospital (legal entity -> point of care -> department); people hired into its department with an
HPR authorisation, so the decision engine and the token exchange see real accounts and roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from iam.db.base import utc_now
from iam.identifiers import make_national_id, make_org_number
from iam.runtime import Runtime
from provisioning.accounts import disable_account, suspend_account
from provisioning.apply import apply_plan
from provisioning.feed import EmploymentRecord, Origin, PersonRecord
from provisioning.hpr import LicenceRecord, sync_licences
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations
from provisioning.planner import build_plan


@dataclass(frozen=True)
class Hospital:
    legal_entity: str
    point_of_care: str
    department: str
    other_department: str


@dataclass(frozen=True)
class Staff:
    person_id: int
    national_id: str
    hpr_number: str
    name: str


def _org(prefix: str) -> str:
    for last in range(10):
        try:
            return make_org_number(f"{prefix}{last}")
        except ValueError:
            continue
    raise AssertionError(f"no organisation number starts with {prefix}")


def open_hospital(runtime: Runtime, folder: Path) -> Hospital:
    hospital = Hospital(legal_entity=_org("9830000"), point_of_care=_org("9830001"), department=_org("9830002"),
                        other_department=_org("9830003"))
    path = folder / "organisations.csv"
    path.write_text(
        "unit_id,parent_id,level,name,sector,unit_kind,municipality\n"
        f"{hospital.legal_entity},,legal_entity,Helse Test HF,hospital,health_trust,Testvik\n"
        f"{hospital.point_of_care},{hospital.legal_entity},point_of_care,Testvik sykehus,hospital,hospital,Testvik\n"
        f"{hospital.department},{hospital.point_of_care},department,Medisinsk sengepost,hospital,ward,Testvik\n"
        f"{hospital.other_department},{hospital.point_of_care},department,Kirurgisk sengepost,hospital,ward,"
        "Testvik\n")
    with runtime.sessions.begin() as session:
        plan = plan_organisations(session, read_organisations(path))
        apply_organisations(session, plan, actor="tests", bus=runtime.bus)
    return hospital


def national_id(number: int) -> str:
    """A synthetic national id, distinct per ``number`` (about 1 in 11 individual numbers has no check digit)."""
    for individual in range(100 + number * 20, 120 + number * 20):
        try:
            return make_national_id(date(1980, 1, 1) + timedelta(days=number), individual)
        except ValueError:
            continue
    raise AssertionError(f"no national id for {number}")


def hpr_number(number: int) -> str:
    return str(9_100_000 + number)


def hire(runtime: Runtime, hospital: Hospital, number: int, *, name: str = "Kari Lege",
         position: str = "physician", authorisation: str | None = "LE") -> Staff:
    """Hire person ``number`` into the hospital's department, with an authorisation in HPR."""
    given, family = name.split(" ", 1)
    nid, hpr = national_id(number), hpr_number(number)
    employment = EmploymentRecord(position_code=position, legal_entity=hospital.legal_entity,
                                  point_of_care=hospital.point_of_care, department=hospital.department,
                                  start_date=date.today() - timedelta(days=30), end_date=None,
                                  origin=Origin("tests"))
    record = PersonRecord(employee_id=f"E{number}", national_id=nid, hpr_number=hpr, given_name=given,
                          family_name=family, address="Testveien 1", employments=(employment,),
                          origin=Origin("tests"))
    now = utc_now()
    with runtime.sessions.begin() as session:
        if authorisation is not None:
            sync_licences(session, [LicenceRecord(hpr_number=hpr, national_id=nid, authorisation=authorisation,
                                                  status="valid", valid_from=date(2000, 1, 1), valid_to=None)],
                          source="tests", at=now)
        plan = build_plan(session, [record], mode="delta", at=now)
        assert not plan.rejected, plan.rejected
        result = apply_plan(session, plan, actor="tests", source="tests", bus=runtime.bus)
    return Staff(person_id=next(iter(result.created.values())), national_id=nid, hpr_number=hpr, name=name)


def disable(runtime: Runtime, staff: Staff) -> None:
    with runtime.sessions.begin() as session:
        disable_account(session, staff.person_id, reason="left", at=utc_now(), bus=runtime.bus)


def suspend(runtime: Runtime, staff: Staff) -> None:
    with runtime.sessions.begin() as session:
        suspend_account(session, staff.person_id, reason="investigation", at=utc_now(), actor="tests",
                        bus=runtime.bus)
