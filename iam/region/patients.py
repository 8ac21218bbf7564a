"""Inhabitants of the synthetic region, generated household by household; writes patients.csv.

``generate_patients`` writes exactly ``round(720,000 * scale)`` patients:

1. staff households first: every staff member living in the region is a patient under the same
   national id, name and address, and 55 % of them live with a partner and/or children, who share
   the address and usually the family name ("family links" for log review);
2. then ordinary households (singles, couples, families, single parents) in municipalities drawn
   by population until the target is reached (the last household may be cut short).

Every household has its own address string (addresses.py). About 0.1 % of patients, whole
households, have a confidential address ("strengt fortrolig adresse"): their ``address`` is empty.
About 0.05 % are flagged ``well_known``. Everyone is on a GP list in their own municipality; a GP is
never on their own list, and a list may have no GP at all (a vacant list) at very small scales.
Rows stream to disk; only a compact per-patient index is kept for care relationships.
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .addresses import AddressBook
from .model import REFERENCE, Region, scaled
from .names import draw_family_name, draw_given_name
from .people import birth_ordinal, new_national_id
from .staff import Staff, StaffMember
from .writer import IsoDates, csv_file

__all__ = ["PATIENT_COLUMNS", "PatientIndex", "generate_patients"]

PATIENT_COLUMNS = (
    "national_id", "given_name", "family_name", "birth_date", "sex", "address", "municipality",
    "confidential_address", "well_known", "gp_unit",
)

_STAFF_FAMILY_SHARE = 0.55
_CONFIDENTIAL_SHARE = 0.001
_WELL_KNOWN_SHARE = 0.0005
_D_NUMBER_SHARE = 0.005
_MEAN_HOUSEHOLD = 2.05
#: (household type, weight): about 2.05 people per household, close to Norway's 2.1. Together with
#: the age weights below this gives roughly Norway's age pyramid: 26 % under 20, 15 % over 70.
_HOUSEHOLD_TYPES = (("single", 40), ("couple", 33), ("family", 22), ("single_parent", 5))
_HOUSEHOLD_CUM = list(itertools.accumulate(w for _, w in _HOUSEHOLD_TYPES))
_CHILDREN = (1, 2, 3, 4)
_CHILDREN_CUM = {"family": (42, 82, 97, 100), "single_parent": (55, 90, 100, 100)}


def _adult_weight(age: int) -> float:
    # Singles and couples: parents of young children come from the "family" households instead.
    if age < 30:
        return 1.25
    if age < 60:
        return 0.6
    if age < 75:
        return 1.3
    return max(0.01, 1.15 - (age - 75) * 0.06)


_ADULT_AGES = range(18, 105)
_ADULT_CUM = list(itertools.accumulate(_adult_weight(a) for a in _ADULT_AGES))


@dataclass(slots=True)
class PatientIndex:
    """What care relationships need per patient, in patients.csv order (compact arrays)."""

    national_ids: list[str]
    birth: array[int]
    female: array[int]
    municipality: array[int]
    gp_department: array[int]
    gp_hpr: list[str]
    counts: dict[str, int]


@dataclass(slots=True)
class _Person:
    given: str
    family: str
    age: int
    female: bool
    national_id: str = ""
    birth: int = 0


class _Households:
    """Draws the members of one household with plausible ages, sexes and family names."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def adult_age(self) -> int:
        return self.rng.choices(_ADULT_AGES, cum_weights=_ADULT_CUM)[0]

    def partner(self, age: int, female: bool, family: str) -> _Person:
        rng = self.rng
        partner_female = (not female) if rng.random() < 0.92 else female
        partner_age = max(18, min(104, age + rng.randint(-5, 5)))
        surname = family if rng.random() < 0.6 else draw_family_name(rng)
        return _Person(draw_given_name(rng, female=partner_female), surname, partner_age, partner_female)

    def children(self, parent_age: int, family: str, kind: str) -> Iterator[_Person]:
        """Children living at home: aged 0-19, born when the parent was 20 to 45."""
        rng = self.rng
        youngest, oldest = max(0, parent_age - 45), min(19, parent_age - 20)
        if oldest < youngest:
            return
        for _ in range(rng.choices(_CHILDREN, cum_weights=_CHILDREN_CUM[kind])[0]):
            female = rng.random() < 0.49
            age = rng.randint(youngest, oldest)
            yield _Person(draw_given_name(rng, female=female), family, age, female)

    def ordinary(self) -> list[_Person]:
        rng = self.rng
        kind = rng.choices(_HOUSEHOLD_TYPES, cum_weights=_HOUSEHOLD_CUM)[0][0]
        female = rng.random() < 0.5
        family = draw_family_name(rng)
        parents = kind in ("family", "single_parent")
        age = rng.randint(27, 58) if parents else self.adult_age()
        head = _Person(draw_given_name(rng, female=female), family, age, female)
        members = [head]
        if kind in ("couple", "family"):
            members.append(self.partner(age, female, family))
        if kind in ("family", "single_parent"):
            members.extend(self.children(age, family, kind))
        return members


def _staff_household(h: _Households, member: StaffMember, as_of: int) -> list[_Person]:
    """The staff member's relatives living with them (possibly none)."""
    rng = h.rng
    if rng.random() >= _STAFF_FAMILY_SHARE:
        return []
    age = (as_of - member.birth) // 365
    relatives: list[_Person] = []
    if rng.random() < 0.75:
        relatives.append(h.partner(age, member.female, member.family_name))
    if 27 <= age <= 58 and (not relatives or rng.random() < 0.7):
        # Children mostly carry the staff member's family name, otherwise the partner's.
        surname = member.family_name
        if relatives and rng.random() < 0.2:
            surname = relatives[0].family
        relatives.extend(h.children(age, surname, "family" if relatives else "single_parent"))
    return relatives


def generate_patients(
    *,
    rng: random.Random,
    region: Region,
    scale: float,
    as_of: date,
    used_ids: set[str],
    book: AddressBook,
    staff: Staff,
    out_dir: Path,
    progress: Callable[[int, int], None],
) -> PatientIndex:
    """Draw the patients and write patients.csv into ``out_dir``; return the index for care."""
    today = as_of.toordinal()
    n = scaled(REFERENCE["patients"], scale)
    h = _Households(rng)
    munis = region.municipalities
    muni_cum = list(itertools.accumulate(m.population for m in munis))
    all_gp = region.by_kind["gp_office"]
    well_known = set(rng.sample(range(n), max(1, round(n * _WELL_KNOWN_SHARE))))
    iso = IsoDates()
    index = PatientIndex([], array("i"), array("b"), array("i"), array("i"), [], {})
    counts = dict.fromkeys(
        ("patients", "patients_confidential", "patients_well_known", "staff_patients"), 0
    )

    # Patients choose among the GPs of their municipality, not among offices, so list lengths
    # stay even (about 1,000 per GP at scale 1.0) however the GPs are spread over offices.
    everyone = [(o, hpr, nid) for o in all_gp for hpr, nid in staff.practitioners.get(o, ())]
    local_gps = [
        [(o, hpr, nid) for o in m.departments.get("gp_office", ()) for hpr, nid in staff.practitioners.get(o, ())]
        for m in munis
    ]

    gp_ids = {nid for _, _, nid in everyone}

    def gp_for(national_id: str, muni: int) -> tuple[int, str]:
        """(GP office department, GP's HPR number); "" when no other GP exists (a vacant list)."""
        gps = local_gps[muni]
        if gps and national_id not in gp_ids:  # the common case, kept cheap
            office, hpr, _ = gps[rng.randrange(len(gps))]
            return office, hpr
        for gps in (local_gps[muni], everyone):
            others = len(gps) - sum(1 for _, _, nid in gps if nid == national_id)
            if others:
                k = rng.randrange(len(gps))
                while gps[k][2] == national_id:  # a GP is never on their own list
                    k = (k + 1) % len(gps)
                return gps[k][0], gps[k][1]
        return rng.choice(munis[muni].departments.get("gp_office") or all_gp), ""

    with csv_file(out_dir / "patients.csv", PATIENT_COLUMNS) as writer:

        def emit(person: _Person, address: str, muni: int, confidential: bool) -> bool:
            i = len(index.national_ids)
            if i >= n:
                return False
            if not person.national_id:
                d_number = person.age >= 18 and rng.random() < _D_NUMBER_SHARE
                person.national_id, person.birth = new_national_id(
                    rng, used_ids, birth_ordinal(rng, today, person.age),
                    female=person.female, d_number=d_number,
                )
            office, hpr = gp_for(person.national_id, muni)
            flagged = i in well_known
            writer.writerow(
                (
                    person.national_id, person.given, person.family, iso(person.birth),
                    "female" if person.female else "male", "" if confidential else address,
                    munis[muni].name, "true" if confidential else "false",
                    "true" if flagged else "false", region.departments[office].unit.unit_id,
                )
            )
            index.national_ids.append(person.national_id)
            index.birth.append(person.birth)
            index.female.append(person.female)
            index.municipality.append(muni)
            index.gp_department.append(office)
            index.gp_hpr.append(hpr)
            counts["patients_confidential"] += confidential
            counts["patients_well_known"] += flagged
            if i % 1024 == 0:
                progress(i, n)
            return True

        for member in staff.members:
            if member.municipality < 0:
                continue
            me = _Person(
                member.given_name, member.family_name, (today - member.birth) // 365,
                member.female, member.national_id, member.birth,
            )
            if not emit(me, member.address, member.municipality, False):
                break
            counts["staff_patients"] += 1
            for relative in _staff_household(h, member, today):
                emit(relative, member.address, member.municipality, False)

        remaining = n - len(index.national_ids)
        expected_households = max(1, int(remaining / _MEAN_HOUSEHOLD * 0.8))
        confidential = set(
            rng.sample(range(expected_households), min(
                expected_households, max(1, round(remaining * _CONFIDENTIAL_SHARE / _MEAN_HOUSEHOLD))
            ))
        )
        for household in itertools.count():
            if len(index.national_ids) >= n:
                break
            muni = rng.choices(range(len(munis)), cum_weights=muni_cum)[0]
            address = book.new(rng, muni)
            secret = household in confidential
            for person in h.ordinary():
                emit(person, address, muni, secret)
    progress(n, n)
    counts["patients"] = len(index.national_ids)
    index.counts = counts
    return index
