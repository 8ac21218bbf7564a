"""The organisation tree of the synthetic region: legal entity -> point of care -> department.

``build_region`` draws the whole tree (a few thousand units, so it lives in memory) and
``write_organisations`` writes ``organisations.csv`` parents-first. Every unit gets its own unique,
valid organisation number in Tenor's synthetic range (starting with 3), so none can be a real
Norwegian organisation.

Shape at scale 1.0 (the reference region in docs/domain.md): 5 health trusts with 2-4 hospitals
each and one ambulance service each; 66 municipalities with home care, nursing homes, an emergency
clinic (legevakt) and a health station; 170 GP offices, 140 contract specialists and 340
physiotherapists, each a small company with one point of care and one department. Municipality
sizes follow a Zipf curve (one city, many small places) and size the municipal services.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from iam.identifiers import make_org_number

from .model import REFERENCE, Department, Municipality, Region, Trust, Unit, scaled
from .names import (
    NURSING_HOME_WARDS,
    OUTPATIENT_CLINICS,
    PSYCHIATRY_UNITS,
    SPECIALIST_PRACTICES,
    WARDS,
    place_names,
    street_names,
)
from .positions import STAFFING
from .writer import csv_file

__all__ = ["ORGANISATION_COLUMNS", "build_region", "write_organisations"]

ORGANISATION_COLUMNS = (
    "unit_id",
    "parent_id",
    "level",
    "name",
    "sector",
    "unit_kind",
    "municipality",
)

#: Psychologists are about 30 % of contract specialists.
_PSYCHOLOGIST_SHARE = 0.3


class _OrgNumbers:
    """Unique organisation numbers 3xxxxxxxK, drawn from a seeded RNG."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def next(self) -> str:
        while True:
            try:
                number = make_org_number(f"3{self._rng.randrange(10_000_000):07d}")
            except ValueError:  # no control digit exists for these eight digits: draw again
                continue
            if number not in self._used:
                self._used.add(number)
                return number


def _department_names(base: Sequence[str], n: int) -> list[str]:
    """``n`` department names from ``base``; a second round gets " 2", and so on."""
    return [base[i % len(base)] + ("" if i < len(base) else f" {i // len(base) + 1}") for i in range(n)]


def _largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (Hamilton's method; ties go to the lower index)."""
    whole = sum(weights)
    quotas = [w * total / whole for w in weights]
    counts = [int(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


class _Builder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.numbers = _OrgNumbers(rng)
        self.units: list[Unit] = []
        self.departments: list[Department] = []
        self.by_kind: dict[str, list[int]] = {kind: [] for kind in STAFFING}

    def unit(
        self, parent: str, level: str, name: str, sector: str, kind: str, municipality: str
    ) -> str:
        unit_id = self.numbers.next()
        self.units.append(Unit(unit_id, parent, level, name, sector, kind, municipality))
        return unit_id

    def department(
        self,
        *,
        legal_entity: str,
        point_of_care: str,
        name: str,
        kind: str,
        municipality: Municipality,
        trust: int,
        primary: str | None = None,
    ) -> int:
        staffing = STAFFING[kind]
        self.unit(point_of_care, "department", name, staffing.sector, kind, municipality.name)
        primary = primary or staffing.primary
        mix = staffing.mix
        if primary != staffing.primary:
            mix = tuple((primary if code == staffing.primary else code, w) for code, w in mix)
        index = len(self.departments)
        self.departments.append(
            Department(
                index=index,
                unit=self.units[-1],
                legal_entity=legal_entity,
                point_of_care=point_of_care,
                municipality=municipality.index,
                trust=trust,
                primary=primary,
                mix=mix,
                headcount=staffing.headcount,
            )
        )
        self.by_kind[kind].append(index)
        municipality.departments.setdefault(kind, []).append(index)
        return index


def _municipalities(
    rng: random.Random, scale: float, n_trusts: int, names: Sequence[str]
) -> list[Municipality]:
    n = len(names)
    people = scaled(REFERENCE["patients"], scale)
    # Zipf sizes: at scale 1.0 the largest place has about 150,000 people, most have a few thousand.
    weights = [1.0 / (i + 1) for i in range(n)]
    total = sum(weights)
    result = []
    for i in range(n):
        population = people * weights[i] / total
        n_streets = max(20, min(480, int(population / 150)))
        result.append(
            Municipality(
                index=i,
                name=names[i],
                population=population,
                # 7000-9990 first (as in Trøndelag), then 1000 upwards; unique up to 900 places.
                postcode_base=1000 + (6000 + 10 * i) % 9000,
                trust=i % n_trusts,
                streets=street_names(rng, n_streets),
            )
        )
    return result


def _hospitals(
    b: _Builder, trust: Trust, trust_name: str, munis: list[Municipality], shrink: float
) -> None:
    """A trust's hospitals and ambulance service.

    ``shrink`` (<= 1) is ``5 * scale / trusts``: when rounding gives more trusts than the scale
    warrants (one trust at scale 0.01), each gets proportionally fewer hospitals and departments,
    so staff per department stay realistic in small regions.
    """
    rng = b.rng

    def sized(n: int) -> int:
        return max(1, int(n * shrink + 0.5))

    own = [munis[i] for i in trust.municipalities] or [munis[trust.index % len(munis)]]
    n_hospitals = sized(rng.randint(2, 4))
    for h in range(n_hospitals):
        muni = own[h % len(own)]
        main = h == 0
        name = f"{muni.name} {'universitetssykehus' if main else 'sykehus'}"
        if h >= len(own):
            name = f"{muni.name} sykehus, avdeling {h // len(own) + 1}"
        poc = b.unit(trust.unit_id, "point_of_care", name, "hospital", "hospital", muni.name)
        plan = {
            "ward": _department_names(WARDS, sized(30 if main else rng.randint(10, 14))),
            "maternity": ["Føde- og barselavdeling"] if main or rng.random() < 0.7 else [],
            "outpatient": _department_names(OUTPATIENT_CLINICS, sized(26 if main else rng.randint(10, 14))),
            "emergency": ["Akuttmottak"],
            "psychiatry": _department_names(PSYCHIATRY_UNITS, sized(10 if main else rng.randint(3, 6))),
        }
        local: dict[str, list[int]] = {}
        for kind, dept_names in plan.items():
            local[kind] = [
                b.department(
                    legal_entity=trust.unit_id,
                    point_of_care=poc,
                    name=dept_name,
                    kind=kind,
                    municipality=muni,
                    trust=trust.index,
                )
                for dept_name in dept_names
            ]
        trust.local.append(local)
    service = b.unit(
        trust.unit_id, "point_of_care", f"Ambulansetjenesten {trust_name}", "ambulance",
        "ambulance_service", own[0].name,
    )
    n_stations = sized(max(2, min(10, len(own) // 2 + 1)))
    for s in range(n_stations):
        muni = own[s % len(own)]
        trust.ambulance_stations.append(
            b.department(
                legal_entity=trust.unit_id,
                point_of_care=service,
                name=f"Ambulansestasjon {muni.name}" + (f" {s // len(own) + 1}" if s >= len(own) else ""),
                kind="ambulance_station",
                municipality=muni,
                trust=trust.index,
            )
        )


def _municipal_services(b: _Builder, muni: Municipality, places: Callable[[], str]) -> str:
    rng = b.rng
    le = b.unit("", "legal_entity", f"{muni.name} kommune", "municipality", "municipality", muni.name)

    def poc(name: str, kind: str) -> str:
        return b.unit(le, "point_of_care", name, "municipality", kind, muni.name)

    def dept(parent: str, name: str, kind: str) -> None:
        b.department(
            legal_entity=le, point_of_care=parent, name=name, kind=kind, municipality=muni,
            trust=muni.trust,
        )

    home = poc(f"Hjemmetjenesten {muni.name}", "home_care")
    for zone in range(max(1, round(muni.population / 10_000))):
        dept(home, f"Hjemmetjenesten {muni.name}, sone {zone + 1}", "home_care")
    for _ in range(max(1, round(muni.population / 8_000))):
        home_name = f"{places()} sykehjem"
        nursing_home = poc(home_name, "nursing_home")
        for ward in _department_names(NURSING_HOME_WARDS, rng.randint(2, 5)):
            dept(nursing_home, f"{home_name}, {ward.lower()}", "nursing_home")
    clinic = poc(f"{muni.name} legevakt", "emergency_clinic")
    dept(clinic, f"{muni.name} legevakt", "emergency_clinic")
    station = poc(f"{muni.name} helsestasjon", "health_station")
    dept(station, "Helsestasjon 0-5 år", "health_station")
    dept(station, "Skolehelsetjenesten", "health_station")
    if muni.population > 40_000:
        dept(station, "Helsestasjon for ungdom", "health_station")
    return le


def _practices(
    b: _Builder,
    kind: str,
    count: int,
    munis: list[Municipality],
    places: Callable[[], str],
    *,
    minimum_one_each: bool,
) -> None:
    rng = b.rng
    sector = STAFFING[kind].sector
    weights = [m.population for m in munis]
    if minimum_one_each and count >= len(munis):
        per_muni = [1 + extra for extra in _largest_remainder(weights, count - len(munis))]
    else:
        per_muni = _largest_remainder(weights, count)
    for muni, n in zip(munis, per_muni, strict=True):
        for _ in range(n):
            primary = None
            if kind == "gp_office":
                name = f"{places()} legesenter"
            elif kind == "physiotherapy_practice":
                name = f"{places()} fysioterapi"
            elif rng.random() < _PSYCHOLOGIST_SHARE:
                name, primary = f"{places()} psykologpraksis", "psychologist"
            else:
                name, primary = f"{places()} {rng.choice(SPECIALIST_PRACTICES)}", "physician"
            le = b.unit("", "legal_entity", f"{name} AS", sector, "private_practice", muni.name)
            poc = b.unit(le, "point_of_care", name, sector, kind, muni.name)
            b.department(
                legal_entity=le, point_of_care=poc, name=name, kind=kind, municipality=muni,
                trust=muni.trust, primary=primary,
            )


def build_region(rng: random.Random, scale: float) -> Region:
    """Draw the organisation tree for ``scale`` (already validated) from ``rng``."""
    n_trusts = scaled(REFERENCE["health_trusts"], scale)
    n_munis = scaled(REFERENCE["municipalities"], scale)
    # One draw of distinct names: municipalities first, then trusts, then the names of nursing
    # homes and private practices (which may repeat once the pool is used up).
    names = place_names(rng, n_munis + n_trusts + 1200)
    munis = _municipalities(rng, scale, n_trusts, names[:n_munis])
    trust_names = names[n_munis : n_munis + n_trusts]
    pool = names[n_munis + n_trusts :]
    cursor = itertools.count()

    def places() -> str:
        return pool[next(cursor) % len(pool)]

    b = _Builder(rng)
    trusts = [Trust(index=t, unit_id="", municipalities=[]) for t in range(n_trusts)]
    for muni in munis:
        trusts[muni.trust].municipalities.append(muni.index)
    for trust, trust_name in zip(trusts, trust_names, strict=True):
        seat = munis[trust.municipalities[0]] if trust.municipalities else munis[0]
        trust.unit_id = b.unit(
            "", "legal_entity", f"Helse {trust_name} HF", "hospital", "health_trust", seat.name
        )
        _hospitals(b, trust, trust_name, munis, min(1.0, REFERENCE["health_trusts"] * scale / n_trusts))
    for muni in munis:
        _municipal_services(b, muni, places)
    counts = {
        "health_trusts": n_trusts,
        "municipalities": len(munis),
        "gp_offices": scaled(REFERENCE["gp_offices"], scale),
        "specialist_practices": scaled(REFERENCE["specialist_practices"], scale),
        "physiotherapy_practices": scaled(REFERENCE["physiotherapy_practices"], scale),
    }
    _practices(b, "gp_office", counts["gp_offices"], munis, places, minimum_one_each=True)
    _practices(
        b, "specialist_practice", counts["specialist_practices"], munis, places,
        minimum_one_each=False,
    )
    _practices(
        b, "physiotherapy_practice", counts["physiotherapy_practices"], munis, places,
        minimum_one_each=False,
    )
    counts["ambulance_services"] = n_trusts
    counts["hospitals"] = sum(len(t.local) for t in trusts)
    for level, key in (
        ("legal_entity", "legal_entities"),
        ("point_of_care", "points_of_care"),
        ("department", "departments"),
    ):
        counts[key] = sum(1 for u in b.units if u.level == level)
    return Region(
        units=b.units,
        departments=b.departments,
        municipalities=munis,
        trusts=trusts,
        by_kind=b.by_kind,
        counts=counts,
    )


def write_organisations(region: Region, path: Path) -> int:
    """Write organisations.csv (parents before children) to ``path``; return the number of rows."""
    with csv_file(path, ORGANISATION_COLUMNS) as writer:
        for u in region.units:
            writer.writerow(
                (u.unit_id, u.parent_id, u.level, u.name, u.sector, u.unit_kind, u.municipality)
            )
    return len(region.units)
