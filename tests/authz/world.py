"""A small health region for the decision tests, provisioned through provisioning's own engine.

Units: a health trust with a hospital (medical ward, surgical ward, psychiatry, A&E) and an ambulance
service (one station), and a GP company (office, one department). People are hired by HR records with
valid HPR authorisations, so their roles are real birthright grants. Patients have synthetic national ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from iam.authz.model import SubjectRef
from iam.db.base import utc_now
from iam.identifiers import make_national_id, make_org_number
from iam.runtime import Runtime
from provisioning.accounts import suspend_account
from provisioning.apply import apply_plan
from provisioning.feed import EmploymentRecord, Origin, PersonRecord
from provisioning.hpr import LicenceRecord, sync_licences
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations
from provisioning.planner import build_plan

AUTHORISATION = {"physician": "LE", "nurse": "SP", "psychologist": "PS", "health_secretary": "HE",
                 "ambulance_worker": "AA"}


def org_number(prefix: str) -> str:
    for last in range(10):
        try:
            return make_org_number(f"{prefix}{last}")
        except ValueError:
            continue
    raise AssertionError(f"no organisation number starts with {prefix}")


def national_id(number: int) -> str:
    for individual in range(100 + number * 7 % 400, 120 + number * 7 % 400):
        try:
            return make_national_id(date(1970, 1, 1) + timedelta(days=number * 3), individual)
        except ValueError:
            continue
    raise AssertionError(f"no national id for {number}")


@dataclass(frozen=True)
class Units:
    trust: str = org_number("9700000")
    hospital: str = org_number("9700001")
    ward: str = org_number("9700002")
    surgery: str = org_number("9700003")
    psychiatry: str = org_number("9700004")
    emergency: str = org_number("9700005")
    ambulance: str = org_number("9700006")
    station: str = org_number("9700007")
    gp_company: str = org_number("9710000")
    gp_office: str = org_number("9710001")
    gp_department: str = org_number("9710002")


@dataclass(frozen=True)
class Person:
    person_id: str
    national_id: str
    hpr_number: str
    name: str


@dataclass
class World:
    units: Units
    people: dict[str, Person] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Person:
        return self.people[key]


#: key -> (position, department attribute of Units)
STAFF = {
    "dr_ward": ("physician", "ward"),
    "nurse_ward": ("nurse", "ward"),
    "secretary": ("health_secretary", "ward"),
    "dr_surgery": ("physician", "surgery"),
    "psychologist": ("psychologist", "psychiatry"),
    "nurse_psych": ("nurse", "psychiatry"),
    "dr_ae": ("physician", "emergency"),
    "paramedic": ("ambulance_worker", "station"),
    "gp": ("physician", "gp_department"),
}


def _organisations(units: Units, folder: Path) -> Path:
    u = units
    rows = [
        (u.trust, "", "legal_entity", "Helse Testvik HF", "hospital", "health_trust"),
        (u.hospital, u.trust, "point_of_care", "Testvik sykehus", "hospital", "hospital"),
        (u.ward, u.hospital, "department", "Medisinsk sengepost", "hospital", "ward"),
        (u.surgery, u.hospital, "department", "Kirurgisk sengepost", "hospital", "ward"),
        (u.psychiatry, u.hospital, "department", "Psykoseenhet", "hospital", "psychiatry"),
        (u.emergency, u.hospital, "department", "Akuttmottak", "hospital", "emergency"),
        (u.ambulance, u.trust, "point_of_care", "Ambulansetjenesten Testvik", "ambulance", "ambulance_service"),
        (u.station, u.ambulance, "department", "Ambulansestasjon Testvik", "hospital", "ambulance_station"),
        (u.gp_company, "", "legal_entity", "Fjordlegene AS", "gp", "private_practice"),
        (u.gp_office, u.gp_company, "point_of_care", "Fjordlegene legekontor", "gp", "gp_office"),
        (u.gp_department, u.gp_office, "department", "Fjordlegene", "gp", "gp_office"),
    ]
    path = folder / "organisations.csv"
    path.write_text("unit_id,parent_id,level,name,sector,unit_kind,municipality\n"
                    + "".join(f"{a},{b},{c},{d},{e},{f},Testvik\n" for a, b, c, d, e, f in rows))
    return path


def build_world(runtime: Runtime, folder: Path, *, staff: dict[str, tuple[str, str]] | None = None) -> World:
    """Load the units and hire ``staff`` (default :data:`STAFF`) in one provisioning run."""
    units = Units()
    with runtime.sessions.begin() as session:
        org_plan = plan_organisations(session, read_organisations(_organisations(units, folder)))
        apply_organisations(session, org_plan, actor="tests", bus=runtime.bus)
    world = World(units=units)
    records, licences, numbers = [], [], {}
    for number, (key, (position, department)) in enumerate((staff or STAFF).items(), start=1):
        nid, hpr = national_id(number), str(9_200_000 + number)
        unit = getattr(units, department)
        legal_entity = units.gp_company if unit == units.gp_department else units.trust
        point_of_care = {units.gp_department: units.gp_office, units.station: units.ambulance}.get(unit, units.hospital)
        employment = EmploymentRecord(position_code=position, legal_entity=legal_entity, point_of_care=point_of_care,
                                      department=unit, start_date=date.today() - timedelta(days=30), end_date=None,
                                      origin=Origin("tests"))
        given = key.replace("_", " ").title()
        records.append(PersonRecord(employee_id=f"E{number}", national_id=nid, hpr_number=hpr, given_name=given,
                                    family_name="Testesen", address="Testveien 1", employments=(employment,),
                                    origin=Origin("tests")))
        licences.append(LicenceRecord(hpr_number=hpr, national_id=nid, authorisation=AUTHORISATION[position],
                                      status="valid", valid_from=date(2000, 1, 1), valid_to=None))
        numbers[key] = (nid, hpr, f"{given} Testesen")
    now = utc_now()
    with runtime.sessions.begin() as session:
        sync_licences(session, licences, source="tests", at=now)
        plan = build_plan(session, records, mode="delta", at=now)
        assert not plan.rejected, plan.rejected
        apply_plan(session, plan, actor="tests", source="tests", bus=runtime.bus)
    for key, (nid, hpr, name) in numbers.items():
        subject = runtime.authz.pip.subject(SubjectRef("hpr", hpr))
        assert subject is not None, key
        world.people[key] = Person(person_id=subject.person_id, national_id=nid, hpr_number=hpr, name=name)
    return world


def suspend(runtime: Runtime, person: Person) -> None:
    with runtime.sessions.begin() as session:
        suspend_account(session, int(person.person_id), reason="investigation", at=utc_now(), actor="tests",
                        bus=runtime.bus)
