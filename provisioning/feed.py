"""The common shape every HR source is turned into: :class:`PersonRecord` with its employments.

The file feed (:mod:`provisioning.hrfile`), SCIM and LDAP each parse their input into these records and hand
them to :func:`provisioning.plan.build_plan`; that is what makes a person provisioned by any source identical.

Checks split in two:

* :func:`check_person` is pure: identifiers (national id check digits, HPR number shape, organisation number
  check digits), required names, dates (end not before start) and duplicate employments within the record.
* What needs the database or the role rules (position code known, units in the organisation register and
  consistent with each other, one person per national id) is checked by ``build_plan``.

Every problem is a :class:`Problem` naming where (``origin``: file and line, or a request and a JSON
pointer), the field and the reason. Reasons never contain a national id, so they are safe to log.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from iam.identifiers import hpr_number_error, national_id_error, org_number_error

__all__ = [
    "EmploymentRecord",
    "Origin",
    "PersonRecord",
    "Problem",
    "check_person",
    "parse_date",
]


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from: a file and line (1-based, the header is line 1), or a request."""

    source: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.source}:{self.line}" if self.line else self.source


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a record cannot be applied."""

    origin: Origin
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class EmploymentRecord:
    """One employment as a source states it. The legal entity and point of care must match the
    department's place in the organisation register."""

    position_code: str
    legal_entity: str
    point_of_care: str
    department: str
    start_date: date
    end_date: date | None
    origin: Origin
    # Field name prefix for problems, e.g. "employments[1]." in JSON; "" in CSV where fields are columns.
    path: str = ""

    @property
    def key(self) -> tuple[str, str, date]:
        """What identifies an employment of one person across imports: department, position, start."""
        return (self.department, self.position_code, self.start_date)


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One person as a source states it, with *all* of their employments at that source.

    ``employee_id`` is the HR system's key for the person (matched first, so a corrected national id or
    name updates the person); ``national_id`` is matched next (a rehire under a new employee id reuses the
    person). An empty ``employments`` tuple means the person no longer works here (a leaver).
    """

    employee_id: str | None
    national_id: str
    hpr_number: str | None
    given_name: str
    family_name: str
    address: str
    employments: tuple[EmploymentRecord, ...]
    origin: Origin
    # Raw identifiers of the record (even if invalid), so a rejected person is never taken for a leaver.
    aliases: tuple[str, ...] = field(default=())

    @property
    def display_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


def parse_date(value: str) -> date | None:
    """An ISO ``YYYY-MM-DD`` date, or None when ``value`` is not one."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# Every employment names three units out of a few thousand: check each organisation number once.
_org_number_error = lru_cache(maxsize=65536)(org_number_error)


def check_person(record: PersonRecord, *, known_national_ids: Container[str] = ()) -> list[Problem]:
    """Every problem of ``record`` that needs no database: identifiers, names, dates, duplicates.

    National ids in ``known_national_ids`` (already in the register, so checked when stored) are not checked
    again: that is most of a re-import's work otherwise.
    """
    problems: list[Problem] = []
    origin = record.origin

    def add(where: Origin, name: str, reason: str) -> None:
        problems.append(Problem(where, name, reason))

    if record.employee_id is not None and not record.employee_id.strip():
        add(origin, "employee_id", "is empty")
    reason = None if record.national_id in known_national_ids else national_id_error(record.national_id)
    if reason is not None:
        add(origin, "national_id", f"invalid national id: {reason}")
    if record.hpr_number is not None:
        reason = hpr_number_error(record.hpr_number)
        if reason is not None:
            add(origin, "hpr_number", f"invalid HPR number: {reason}")
    if not record.given_name.strip():
        add(origin, "given_name", "is empty")
    if not record.family_name.strip():
        add(origin, "family_name", "is empty")
    seen: dict[tuple[str, str, date], EmploymentRecord] = {}
    for job in record.employments:
        for name in ("legal_entity", "point_of_care", "department"):
            reason = _org_number_error(getattr(job, name))
            if reason is not None:
                add(job.origin, job.path + name, f"invalid organisation number: {reason}")
        if not job.position_code.strip():
            add(job.origin, job.path + "position_code", "is empty")
        if job.end_date is not None and job.end_date < job.start_date:
            add(job.origin, job.path + "end_date",
                f"end date {job.end_date.isoformat()} is before start date {job.start_date.isoformat()}")
        earlier = seen.get(job.key)
        if earlier is not None:
            add(job.origin, job.path + "department",
                f"duplicate employment: same department, position and start date as {earlier.origin}")
        seen[job.key] = job
    return problems
