"""Staff of the synthetic region: people, employments and HPR authorisations.

``generate_staff`` places ``round(40,000 * scale)`` people in departments and writes the HR feed
(``hr_staff.csv`` and ``hr_staff.json``) and the register extract ``hpr.csv``. What it guarantees:

* every department gets one person in its ``primary`` position first (while people last), with an
  open-ended employment that started before ``as_of`` and a valid authorisation: each GP office has
  a GP, each ward a nurse;
* everyone else is placed in proportion to the department's head-count weight and gets a position
  from the department's mix (so every position appears only in sectors where it belongs);
* exact shares, drawn without replacement so small scales still have at least one of each: 2 %
  start after ``as_of`` (joiners), 3 % ended before ``as_of`` (leavers), 4 % fixed-term contracts
  that end after ``as_of``, 2 % movers (an earlier employment elsewhere ending the day before the
  current one starts), 5 % hold a second concurrent employment; 0.3 % of licensed people have a
  lapsed and 0.2 % a suspended authorisation;
* 3 % have D-numbers (foreign workers, living outside the region); 8 % more live outside the
  region; the rest live in the region and are also patients (patients.py).

Dates are ordinals (``date.toordinal()``) in memory and ISO strings in the files.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .addresses import AddressBook
from .hr_files import write_staff_files
from .model import REFERENCE, Department, Region, scaled
from .names import draw_family_name, draw_given_name
from .people import birth_ordinal, new_national_id
from .positions import POSITIONS, STAFFING

__all__ = [
    "Authorisation",
    "Employment",
    "Staff",
    "StaffMember",
    "generate_staff",
]

_FUTURE_SHARE = 0.02
_LEAVER_SHARE = 0.03
_FIXED_TERM_SHARE = 0.04
_MOVER_SHARE = 0.02
_SECOND_JOB_SHARE = 0.05
_LAPSED_SHARE = 0.003
_SUSPENDED_SHARE = 0.002
_D_NUMBER_SHARE = 0.03
_OUTSIDE_SHARE = 0.08
_WORKS_WHERE_LIVES = 0.8
_MEAN_TENURE_DAYS = 2200
_RETIREMENT_AGE = 67
_DAYS_PER_YEAR = 365.2425
#: Where people take a second job (extra shifts at the legevakt, a nursing home doctor's hours...).
_SECOND_JOB_KINDS = {
    "physician": ("emergency_clinic", "nursing_home", "gp_office"),
    "nurse": ("emergency_clinic", "home_care", "nursing_home"),
    "nurse_assistant": ("nursing_home", "home_care"),
    "care_assistant": ("nursing_home", "home_care"),
    "midwife": ("health_station",),
    "ambulance_worker": ("ambulance_station",),
    "paramedic": ("ambulance_station",),
    "physiotherapist": ("physiotherapy_practice", "nursing_home"),
    "psychologist": ("specialist_practice", "psychiatry"),
    "health_secretary": ("gp_office", "specialist_practice"),
}
#: Seeding order: small units that are useless without their one professional come first.
_SEED_ORDER = (
    "gp_office", "specialist_practice", "physiotherapy_practice", "emergency_clinic", "home_care",
    "health_station", "emergency", "maternity", "ambulance_station", "nursing_home", "ward",
    "outpatient", "psychiatry",
)


@dataclass(slots=True)
class Employment:
    """One employment: position code, department index, inclusive ordinal dates (end None = open)."""

    position: str
    department: int
    start: int
    end: int | None


@dataclass(slots=True)
class Authorisation:
    """One HPR authorisation (9060 code) with its status on ``as_of`` and ordinal validity dates."""

    code: str
    status: str
    valid_from: int
    valid_to: int | None


@dataclass(slots=True)
class StaffMember:
    """One person of the HR feed. ``municipality`` is -1 for people living outside the region."""

    employee_id: str
    national_id: str
    hpr_number: str
    given_name: str
    family_name: str
    address: str
    municipality: int
    birth: int
    female: bool
    employments: list[Employment] = field(default_factory=list)
    authorisations: list[Authorisation] = field(default_factory=list)


@dataclass(slots=True)
class Staff:
    """The generated staff, the practitioners who hold patient lists, and counts for the summary.

    ``practitioners`` maps a GP office, specialist or physiotherapy department to the
    ``(hpr_number, national_id)`` of people in its primary position employed there on ``as_of``.
    """

    members: list[StaffMember]
    practitioners: dict[int, list[tuple[str, str]]]
    counts: dict[str, int]


def _exact(rng: random.Random, pool: Sequence[int], share: float, total: int) -> list[int]:
    """``round(total * share)`` (at least 1) members of ``pool`` without replacement."""
    return rng.sample(pool, min(len(pool), max(1, round(total * share))))


class _StaffBuilder:
    """Draws one person at a time; holds the look-up tables the draws need."""

    def __init__(
        self, rng: random.Random, region: Region, as_of: int, used_ids: set[str], book: AddressBook
    ) -> None:
        self.rng = rng
        self.region = region
        self.as_of = as_of
        self.used_ids = used_ids
        self.book = book
        self.hpr_used: set[int] = set()
        self.muni_cum = list(itertools.accumulate(m.population for m in region.municipalities))
        self.mix_cum: dict[tuple[tuple[str, int], ...], list[int]] = {}
        # Position -> unit kinds it occurs in (dicts, not sets: the order must not depend on hashing).
        kinds: dict[str, dict[str, None]] = {}
        for kind, staffing in STAFFING.items():
            for code in (staffing.primary, *(c for c, _ in staffing.mix)):
                kinds.setdefault(code, {})[kind] = None
        kinds["psychologist"]["specialist_practice"] = None
        self.compatible = {
            code: [d for k in ks for d in region.by_kind[k]] for code, ks in kinds.items()
        }
        self.second = {
            code: [d for k in ks for d in region.by_kind[k]]
            for code, ks in _SECOND_JOB_KINDS.items()
        }

    def position(self, dept: Department, seed: bool) -> str:
        if seed:
            return dept.primary
        cum = self.mix_cum.get(dept.mix)
        if cum is None:
            cum = self.mix_cum[dept.mix] = list(itertools.accumulate(w for _, w in dept.mix))
        return self.rng.choices(dept.mix, cum_weights=cum)[0][0]

    def person(self, i: int, dept: Department, code: str, seed: bool) -> tuple[StaffMember, int]:
        """Person ``i`` without employments, and the first day they can work in ``code``."""
        rng = self.rng
        position = POSITIONS[code]
        female = rng.random() < position.female_share
        d_number = not seed and rng.random() < _D_NUMBER_SHARE
        age = rng.randint(position.min_age + 1, _RETIREMENT_AGE - 1)
        national_id, birth = new_national_id(
            rng, self.used_ids, birth_ordinal(rng, self.as_of, age), female=female,
            d_number=d_number,
        )
        muni, address = self.residence(dept, d_number)
        member = StaffMember(
            employee_id=f"E{i + 1:06d}",
            national_id=national_id,
            hpr_number=self.hpr_number() if position.authorisation else "",
            given_name=draw_given_name(rng, female=female),
            family_name=draw_family_name(rng),
            address=address,
            municipality=muni,
            birth=birth,
            female=female,
        )
        return member, birth + int(position.min_age * _DAYS_PER_YEAR)

    def main_job(self, code: str, dept: int, earliest: int, dates: str) -> Employment:
        """The employment in the planned department; ``dates`` says which window it gets."""
        rng, today = self.rng, self.as_of
        tenure = min(int(rng.expovariate(1 / _MEAN_TENURE_DAYS)) + 1, max(1, today - earliest))
        if dates == "future":
            return Employment(code, dept, today + rng.randint(1, 120), None)
        if dates == "leaver":
            end = max(earliest + 30, today - rng.randint(1, 365))
            return Employment(code, dept, max(earliest, end - tenure), end)
        if dates == "fixed_term":
            start = max(earliest, today - rng.randint(1, 700))
            return Employment(code, dept, start, today + rng.randint(1, 240))
        return Employment(code, dept, max(earliest, today - tenure), None)

    def previous_job(self, job: Employment, earliest: int) -> Employment | None:
        """A mover's earlier employment elsewhere, ending the day before ``job`` starts."""
        dept = self.region.departments[job.department]
        previous = self.other_department(self.compatible[job.position], dept)
        if previous is None or job.start - 200 <= earliest:
            return None
        start = max(earliest, job.start - 1 - self.rng.randint(180, 3000))
        return Employment(job.position, previous, start, job.start - 1)

    def second_job(self, job: Employment, earliest: int) -> Employment | None:
        """A concurrent second employment, open-ended or fixed-term."""
        rng, today = self.rng, self.as_of
        dept = self.region.departments[job.department]
        candidates = self.second.get(job.position, self.compatible[job.position])
        extra = self.other_department(candidates, dept)
        if extra is None:
            return None
        start = max(earliest, today - rng.randint(30, 3000))
        end = today + rng.randint(1, 365) if rng.random() < 0.3 else None
        return Employment(job.position, extra, start, end)

    def other_department(self, candidates: Sequence[int], current: Department) -> int | None:
        """A department from ``candidates``, preferably in another legal entity; None if none."""
        choices = [d for d in candidates if d != current.index]
        if not choices:
            return None
        pick = self.rng.choice(choices)
        for _ in range(5):
            if self.region.departments[pick].legal_entity != current.legal_entity:
                break
            pick = self.rng.choice(choices)
        return pick

    def hpr_number(self) -> str:
        while True:
            number = self.rng.randrange(1_000_000, 10_000_000)
            if number not in self.hpr_used:
                self.hpr_used.add(number)
                return str(number)

    def residence(self, dept: Department, d_number: bool) -> tuple[int, str]:
        """(municipality index or -1 outside the region, household address)."""
        rng = self.rng
        if d_number or rng.random() < _OUTSIDE_SHARE:
            return -1, self.book.outside(rng)
        if rng.random() < _WORKS_WHERE_LIVES:
            muni = dept.municipality
        else:
            muni = rng.choices(range(len(self.muni_cum)), cum_weights=self.muni_cum)[0]
        return muni, self.book.new(rng, muni)


def _plan_departments(rng: random.Random, region: Region, n: int) -> list[tuple[int, bool]]:
    """(department, is_seed) for each of ``n`` people, in employee order."""
    order = {kind: i for i, kind in enumerate(_SEED_ORDER)}
    seeds = sorted(range(len(region.departments)), key=lambda d: order[region.departments[d].kind])
    seeds = seeds[:n]
    cum = list(itertools.accumulate(d.headcount for d in region.departments))
    rest = rng.choices(range(len(region.departments)), cum_weights=cum, k=n - len(seeds))
    plan = [(d, True) for d in seeds] + [(d, False) for d in rest]
    rng.shuffle(plan)
    return plan


def generate_staff(
    *,
    rng: random.Random,
    region: Region,
    scale: float,
    as_of: date,
    used_ids: set[str],
    book: AddressBook,
    out_dir: Path,
    progress: Callable[[int, int], None],
) -> Staff:
    """Draw the staff and write hr_staff.csv, hr_staff.json and hpr.csv into ``out_dir``."""
    today = as_of.toordinal()
    n = scaled(REFERENCE["staff"], scale)
    b = _StaffBuilder(rng, region, today, used_ids, book)
    plan = _plan_departments(rng, region, n)
    # Seeds keep ordinary, open-ended employments; the special cases are drawn from everyone else.
    ordinary = [i for i, (_, seed) in enumerate(plan) if not seed]
    shares = {"future": _FUTURE_SHARE, "leaver": _LEAVER_SHARE, "fixed_term": _FIXED_TERM_SHARE}
    dated = _exact(rng, ordinary, sum(shares.values()), n)
    windows: dict[int, str] = {}
    for window, share in shares.items():
        take = max(1, round(len(dated) * share / sum(shares.values())))
        windows.update(dict.fromkeys(dated[:take], window))
        dated = dated[take:]
    movers = set(_exact(rng, ordinary, _MOVER_SHARE, n))
    second = set(_exact(rng, ordinary, _SECOND_JOB_SHARE, n))

    members: list[StaffMember] = []
    for i, (dept_index, seed) in enumerate(plan):
        dept = region.departments[dept_index]
        code = b.position(dept, seed)
        member, earliest = b.person(i, dept, code, seed)
        job = b.main_job(code, dept_index, earliest, windows.get(i, "open"))
        extra = [
            b.previous_job(job, earliest) if i in movers else None,
            b.second_job(job, earliest) if i in second else None,
        ]
        member.employments = sorted(
            [job, *(e for e in extra if e is not None)], key=lambda e: (e.start, e.department)
        )
        members.append(member)
        progress(i + 1, n)

    _authorise(rng, members, plan, today)
    practitioners = _practitioners(region, members, today)
    counts = write_staff_files(members, region, as_of, out_dir)
    return Staff(members=members, practitioners=practitioners, counts=counts)


def _authorise(
    rng: random.Random, members: list[StaffMember], plan: list[tuple[int, bool]], today: int
) -> None:
    """Give every licensed person their 9060 authorisations; lapse or suspend an exact few."""
    licensed = [i for i, m in enumerate(members) if m.hpr_number and not plan[i][1]]
    total = sum(1 for m in members if m.hpr_number)
    lapsed = set(_exact(rng, licensed, _LAPSED_SHARE, total))
    suspended = set(_exact(rng, [i for i in licensed if i not in lapsed], _SUSPENDED_SHARE, total))
    for i, member in enumerate(members):
        if not member.hpr_number:
            continue
        position = POSITIONS[member.employments[0].position]
        first_start = member.employments[0].start
        qualified = member.birth + int(position.min_age * _DAYS_PER_YEAR)
        valid_from = max(qualified, min(first_start, today) - rng.randint(0, 400))
        valid_from = min(valid_from, first_start, today)
        if i in lapsed or i in suspended:
            valid_from = min(valid_from, today - 365)  # so the end below is after the start
        main = position.authorisation
        if main == "HF" and date.fromordinal(member.birth).year < 1975:
            main = "HP"
        valid_to: int | None
        if i in lapsed:
            status, valid_to = "lapsed", max(valid_from, today - rng.randint(1, 300))
        elif i in suspended:
            status, valid_to = "suspended", max(valid_from, today - rng.randint(1, 200))
        elif int(member.national_id[:2]) > 40 and rng.random() < 0.5:
            # Foreign-trained staff (D-numbers: day + 40) often hold a time-limited licence (lisens).
            status, valid_to = "valid", today + rng.randint(30, 700)
        else:
            status, valid_to = "valid", None
        member.authorisations.append(Authorisation(main, status, valid_from, valid_to))
        for extra in position.extra_authorisations:
            member.authorisations.append(Authorisation(extra, "valid", valid_from, None))


def _practitioners(
    region: Region, members: list[StaffMember], today: int
) -> dict[int, list[tuple[str, str]]]:
    kinds = {"gp_office", "specialist_practice", "physiotherapy_practice"}
    result: dict[int, list[tuple[str, str]]] = {}
    for member in members:
        for job in member.employments:
            dept = region.departments[job.department]
            if (
                dept.kind in kinds
                and job.position == dept.primary
                and member.hpr_number
                and job.start <= today
                and (job.end is None or job.end >= today)
            ):
                result.setdefault(job.department, []).append((member.hpr_number, member.national_id))
    return result
