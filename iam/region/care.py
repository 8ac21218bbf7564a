"""Care relationships between patients and units; writes care_relationships.csv.

Each row says: this patient had, has or will have a relationship of this ``kind`` with this
department from ``start`` to ``end`` (inclusive; empty end = still open). What is generated, per
patient, with the unit it points to:

=============  ===================================================================  ==============
kind           when and where                                                       window
=============  ===================================================================  ==============
gp_list        everyone: a GP office in the own municipality, with the GP's HPR     open
               number; 8 % also have an earlier, ended list membership
appointment    hospital outpatient clinics (55 %, 1-3 each), the municipal          booked .. visit
               emergency clinic (legevakt, 12 %), the health station (children),
               contract specialists and physiotherapists (with their HPR number)
admission      hospital wards, psychiatry, maternity (more often for the old);      admitted .. discharged
               A&E contacts (emergency department, 0-1 day); long-term nursing      (open while admitted)
               home stays for the very old
referral       to a hospital outpatient or psychiatry department, or to a contract  received .. closed
               specialist (with HPR number); 35 % still open
home_care      a home-care zone of the own municipality, mostly for people over 67  decision .. end
=============  ===================================================================  ==============

Hospital care goes to the patient's local hospital (70 %) or the trust's main hospital. Windows
lie around ``as_of``: most ended, some open, future visits booked up to 90 days ahead. No window
starts before the patient's birth, and every ``end`` is on or after its ``start``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from .model import Region
from .patients import PatientIndex
from .staff import Staff
from .writer import IsoDates, csv_file

__all__ = ["CARE_COLUMNS", "CARE_KINDS", "generate_care"]

CARE_COLUMNS = ("relationship_id", "patient", "kind", "unit_id", "practitioner_hpr", "start", "end")
CARE_KINDS = ("admission", "appointment", "referral", "home_care", "gp_list")

_DAYS_PER_YEAR = 365.2425


def generate_care(
    *,
    rng: random.Random,
    region: Region,
    as_of: date,
    patients: PatientIndex,
    staff: Staff,
    out_dir: Path,
    progress: Callable[[int, int], None],
) -> dict[str, int]:
    """Write care_relationships.csv into ``out_dir``; return row counts (total and per kind)."""
    today = as_of.toordinal()
    iso = IsoDates()
    rnd = rng.random
    choice = rng.choice
    unit_ids = [d.unit.unit_id for d in region.departments]
    munis = region.municipalities
    practitioners = staff.practitioners

    # Per municipality: its local hospital and the trust's main hospital (kind -> departments).
    local_hospital: list[dict[str, list[int]]] = []
    main_hospital: list[dict[str, list[int]]] = []
    for place in munis:
        trust = region.trusts[place.trust]
        position = trust.municipalities.index(place.index)
        local_hospital.append(trust.local[position % len(trust.local)])
        main_hospital.append(trust.local[0])

    def services(muni: int, kind: str) -> Sequence[int]:
        return munis[muni].departments.get(kind) or region.by_kind[kind]

    counts = dict.fromkeys(CARE_KINDS, 0)
    counts["care_relationships"] = 0
    n = len(patients.national_ids)
    next_id = 1

    with csv_file(out_dir / "care_relationships.csv", CARE_COLUMNS) as writer:
        write = writer.writerow

        def row(patient: str, kind: str, dept: int, hpr: str, start: int, end: int | None, birth: int) -> None:
            nonlocal next_id
            start = max(start, birth)
            if end is not None and end < start:
                return  # the visit would have been before the patient was born
            write((f"CR{next_id:08d}", patient, kind, unit_ids[dept], hpr, iso(start), iso.optional(end)))
            next_id += 1
            counts[kind] += 1

        def practitioner(dept: int, patient: str) -> str:
            doctors = [hpr for hpr, nid in practitioners.get(dept, ()) if nid != patient]
            return choice(doctors) if doctors else ""

        def hospital(muni: int, kind: str) -> int:
            site = local_hospital[muni] if rnd() < 0.7 else main_hospital[muni]
            return choice(site.get(kind) or site["ward"])

        # One pass over the patients with local names and no per-kind functions: this loop runs
        # 720,000 times at scale 1.0 and dominates the generator's run time.
        for i in range(n):
            nid = patients.national_ids[i]
            birth = patients.birth[i]
            muni = patients.municipality[i]
            age = int((today - birth) / _DAYS_PER_YEAR)
            adult = birth + int(18 * _DAYS_PER_YEAR)

            # GP list: the current one (from patients.csv) and sometimes an earlier one.
            gp_start = max(birth, today - int(rnd() * 4400))
            if gp_start - birth > 400 and rnd() < 0.08:
                office = choice(services(muni, "gp_office"))
                previous_start = gp_start - 1 - int(rnd() * 3000)
                row(nid, "gp_list", office, practitioner(office, nid), previous_start, gp_start - 1, birth)
            row(nid, "gp_list", patients.gp_department[i], patients.gp_hpr[i], gp_start, None, birth)

            # Outpatient appointments: booked a week to three months ahead, up to 90 days from now.
            r = rnd()
            for _ in range(0 if r < 0.45 else 1 if r < 0.75 else 2 if r < 0.9 else 3):
                visit = today - 540 + int(rnd() * 631)
                booked = min(visit - 7 - int(rnd() * 84), today)
                row(nid, "appointment", hospital(muni, "outpatient"), "", booked, visit, birth)
            if rnd() < 0.12:
                visit = today - int(rnd() * 365)
                row(nid, "appointment", choice(services(muni, "emergency_clinic")), "", visit, visit, birth)
            if (age < 6 and rnd() < 0.9) or (6 <= age <= 16 and rnd() < 0.2):
                visit = today - 90 + int(rnd() * 150)
                station = choice(services(muni, "health_station"))
                row(nid, "appointment", station, "", min(visit - 30, today), visit, birth)
            for kind, share in (("specialist_practice", 0.06), ("physiotherapy_practice", 0.08)):
                if age >= 5 and rnd() < share:
                    practice = choice(services(muni, kind))
                    visit = today - 360 + int(rnd() * 451)
                    booked = min(visit - 14 - int(rnd() * 120), today)
                    row(nid, "appointment", practice, practitioner(practice, nid), booked, visit, birth)

            # Hospital admissions and A&E contacts; open while the patient is still in.
            if rnd() < (0.25 if age >= 70 else 0.08):
                if patients.female[i] and 18 <= age <= 45 and rnd() < 0.3:
                    ward = hospital(muni, "maternity")
                else:
                    ward = hospital(muni, "psychiatry" if rnd() < 0.15 else "ward")
                admitted = today - int(rnd() * 700)
                discharged = admitted + 1 + int(rng.expovariate(0.2))
                still_in = discharged >= today
                row(nid, "admission", ward, "", admitted, None if still_in else discharged, birth)
            if rnd() < 0.05:
                arrived = today - int(rnd() * 700)
                row(nid, "admission", hospital(muni, "emergency"), "", arrived, arrived + int(rnd() * 2), birth)

            # Referrals: to the hospital or to a contract specialist.
            if rnd() < 0.2:
                received = today - int(rnd() * 400)
                closed: int | None = None if rnd() < 0.35 else received + 7 + int(rnd() * 120)
                if closed is not None and closed >= today:
                    closed = None
                if rnd() < 0.3:
                    practice = choice(services(muni, "specialist_practice"))
                    row(nid, "referral", practice, practitioner(practice, nid), received, closed, birth)
                else:
                    target = hospital(muni, "psychiatry" if rnd() < 0.25 else "outpatient")
                    row(nid, "referral", target, "", received, closed, birth)

            # Municipal care for the old: home care, then perhaps a nursing home.
            nursing = (age >= 85 and rnd() < 0.15) or (75 <= age < 85 and rnd() < 0.04)
            home_care = (age >= 80 and rnd() < 0.25) or (67 <= age < 80 and rnd() < 0.06)
            home_care = home_care or nursing or (age >= 18 and rnd() < 0.005)
            moved_in = today - int(rnd() * 1500)
            if home_care:
                zone = choice(services(muni, "home_care"))
                if nursing:
                    started = max(adult, moved_in - 30 - int(rnd() * 1500))
                    row(nid, "home_care", zone, "", started, moved_in - 1, birth)
                else:
                    started = max(adult, today - int(rnd() * 2000))
                    ended: int | None = None
                    if rnd() < 0.2 and started + 30 < today:
                        ended = min(today - 1, started + 30 + int(rnd() * 700))
                    row(nid, "home_care", zone, "", started, ended, birth)
            if nursing:
                stay_end: int | None = None
                if rnd() < 0.1 and moved_in < today:
                    stay_end = min(today - 1, moved_in + int(rnd() * 300))
                row(nid, "admission", choice(services(muni, "nursing_home")), "", moved_in, stay_end, birth)

            if i % 1024 == 0:
                progress(i, n)
    progress(n, n)
    counts["care_relationships"] = next_id - 1
    return counts
