"""``build_plan``: compare person records from any HR source with the stored state and plan every change.

Contract
--------
``build_plan(session, records, *, mode, today=None, at=None, rules=None, protected=())``

* ``mode="snapshot"``: the records are the complete staff list; everyone else with an employment leaves.
  ``mode="delta"``: only the people listed change; each record still lists *all* that person's employments
  (an employment left out is removed; a record without employments makes the person a leaver).
* ``at`` is the moment the changes take effect (default now), ``today`` the HR date that start and end dates
  are compared with (default: the Oslo date of ``at``).
* Matching: by ``employee_id`` first (so a corrected national id or name updates the person), then by national
  id (a rehire under a new employee id reuses the person).
* Records with problems (see :func:`provisioning.feed.check_person`, plus: position code not in the role
  rules, unit not in the organisation register or not where the record says, a national id / HPR number /
  employee id that another record or another person holds) are left out and listed in ``plan.rejected``;
  the caller decides whether to apply the rest. In a snapshot, people whose records were rejected (and those
  whose identifiers are in ``protected``: rows the file parser rejected) are left untouched, never taken for
  leavers.
* Takes the provisioning lock for the caller's transaction (one run at a time across nodes) and reads the
  state inside it. The caller owns the transaction: build and apply in the same one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Literal

from sqlalchemy.orm import Session

from iam.db.base import utc_now
from provisioning.clock import hr_date
from provisioning.feed import PersonRecord, Problem, check_person
from provisioning.locking import lock_provisioning
from provisioning.plan import EmploymentUpdate, NewEmployment, NewPerson, PersonUpdate, Plan, Rejection
from provisioning.reconcile import Current, Reconciler
from provisioning.rules import RoleRules, default_rules
from provisioning.state import PersonScope, State, load_state

__all__ = ["build_plan"]

#: Above this many records a delta loads the whole state (one query per table) instead of a filtered part.
_SCOPED_LIMIT = 2000
_IDENTIFIERS = (("employee_id", "employee id"), ("national_id", "national id"), ("hpr_number", "HPR number"))


def build_plan(session: Session, records: Sequence[PersonRecord], *, mode: Literal["snapshot", "delta"],
               today: date | None = None, at: datetime | None = None, rules: RoleRules | None = None,
               protected: Collection[str] = ()) -> Plan:
    """Plan the changes ``records`` imply; see the module docstring."""
    if mode not in ("snapshot", "delta"):
        raise ValueError(f"mode {mode!r} is not 'snapshot' or 'delta'")
    at = at or utc_now()
    today = today or hr_date(at)
    rules = rules or default_rules()
    lock_provisioning(session)
    scope = None
    if mode == "delta" and len(records) <= _SCOPED_LIMIT:
        scope = PersonScope(
            employee_ids={r.employee_id for r in records if r.employee_id},
            national_ids={r.national_id for r in records},
            hpr_numbers={r.hpr_number for r in records if r.hpr_number},
            unit_ids={u for r in records for j in r.employments
                      for u in (j.department, j.point_of_care, j.legal_entity)},
        )
    state = load_state(session, at=at, scope=scope)
    plan = Plan(mode=mode, today=today, at=at, records=len(records))
    accepted = _validate(records, state, rules, plan)
    reconciler = Reconciler(state, plan, rules=rules)
    matched: set[int] = set()
    for record, person_id in accepted:
        label = f"{record.employee_id or record.national_id[:6] + '*****'} {record.display_name}"
        if person_id is None:
            ref = -(len(plan.new_persons) + 1)
            plan.new_persons.append(NewPerson(ref, record.national_id, record.hpr_number, record.employee_id,
                                              record.given_name, record.family_name, record.address))
            employments = _employments(plan, state, ref, record)
            reconciler.reconcile(ref, employments=employments, hpr_number=record.hpr_number, label=label,
                                 new=True)
            continue
        matched.add(person_id)
        _person_update(plan, state, person_id, record)
        employments = _employments(plan, state, person_id, record)
        reconciler.reconcile(person_id, employments=employments, hpr_number=record.hpr_number, label=label)
    if mode == "snapshot":
        keep = _protected_people(state, plan, protected)
        for person_id, person in state.persons.items():
            if person_id in matched or person_id in keep:
                continue
            for job in state.employments.get(person_id, []):
                if not job.removed:
                    plan.employment_updates.append(EmploymentUpdate(
                        job.id, person_id, job.end_date, job.legal_entity_id, job.point_of_care_id, True,
                        "not in the snapshot"))
            reconciler.reconcile(person_id, employments=[], hpr_number=person.hpr_number, label=person.label)
    return plan


def _protected_people(state: State, plan: Plan, protected: Collection[str]) -> set[int]:
    names = set(protected)
    for rejection in plan.rejected:
        record = rejection.record
        names.update(record.aliases)
        names.update(v for v in (record.employee_id, record.national_id, record.hpr_number) if v)
    keep: set[int] = set()
    for name in names:
        for index in (state.by_employee, state.by_national, state.by_hpr):
            person_id = index.get(name)
            if person_id is not None:
                keep.add(person_id)
    return keep


def _validate(records: Sequence[PersonRecord], state: State, rules: RoleRules,
              plan: Plan) -> list[tuple[PersonRecord, int | None]]:
    """Check every record; put the bad ones in ``plan.rejected``; return the good ones with their person."""
    problems: dict[int, list[Problem]] = defaultdict(list)
    for i, record in enumerate(records):
        problems[i].extend(check_person(record, known_national_ids=state.by_national))
    for name, label in _IDENTIFIERS:
        first: dict[str, int] = {}
        for i, record in enumerate(records):
            value = getattr(record, name)
            if not value:
                continue
            j = first.setdefault(value, i)
            if j != i:
                problems[i].append(Problem(record.origin, name, f"duplicate person: the same {label} as "
                                                                f"{records[j].origin}"))
                problems[j].append(Problem(records[j].origin, name, f"duplicate person: the same {label} as "
                                                                    f"{record.origin}"))
    claimed: dict[int, int] = {}
    matches: list[int | None] = []
    for i, record in enumerate(records):
        found = _match(record, state, problems[i])
        matches.append(found)
        if found is not None:
            j = claimed.setdefault(found, i)
            if j != i:
                problems[i].append(Problem(record.origin, "national_id", "duplicate person: the same person as "
                                                                         f"{records[j].origin}"))
        _check_units(record, state, rules, problems[i])
    accepted: list[tuple[PersonRecord, int | None]] = []
    for i, record in enumerate(records):
        if problems[i]:
            plan.rejected.append(Rejection(record, tuple(problems[i])))
        else:
            accepted.append((record, matches[i]))
    return accepted


def _who(state: State, person_id: int) -> str:
    person = state.persons[person_id]
    return f"employee {person.employee_id}" if person.employee_id else f"person {person_id}"


def _match(record: PersonRecord, state: State, problems: list[Problem]) -> int | None:
    by_employee = state.by_employee.get(record.employee_id) if record.employee_id else None
    by_national = state.by_national.get(record.national_id)
    person_id = by_employee if by_employee is not None else by_national
    if by_national is not None and by_national != person_id:
        problems.append(Problem(record.origin, "national_id",
                                f"national id belongs to another person ({_who(state, by_national)})"))
    if record.hpr_number:
        by_hpr = state.by_hpr.get(record.hpr_number)
        if by_hpr is not None and by_hpr != person_id:
            problems.append(Problem(record.origin, "hpr_number",
                                    f"HPR number belongs to another person ({_who(state, by_hpr)})"))
    return person_id


def _check_units(record: PersonRecord, state: State, rules: RoleRules, problems: list[Problem]) -> None:
    for job in record.employments:
        if not rules.knows_position(job.position_code):
            problems.append(Problem(job.origin, job.path + "position_code",
                                    f"position code '{job.position_code}' is not in the role rules"))
        unit = state.units.get(job.department)
        if unit is None or unit.closed:
            state_word = "closed in" if unit is not None else "not in"
            problems.append(Problem(job.origin, job.path + "department",
                                    f"unit {job.department} is {state_word} the organisation register"))
            continue
        if unit.level != "department":
            problems.append(Problem(job.origin, job.path + "department",
                                    f"unit {job.department} is a {unit.level.replace('_', ' ')}, not a department"))
            continue
        if not rules.knows_unit_kind(unit.kind):
            problems.append(Problem(job.origin, job.path + "department",
                                    f"department kind '{unit.kind}' of unit {job.department} has no scope in "
                                    "the role rules"))
        for name, given, actual in (("point_of_care", job.point_of_care, unit.point_of_care_id),
                                    ("legal_entity", job.legal_entity, unit.legal_entity_id)):
            if given == actual:
                continue
            if given not in state.units:
                reason = f"unit {given} is not in the organisation register"
            else:
                reason = (f"department {job.department} belongs to {name.replace('_', ' ')} {actual}, "
                          f"not {given}")
            problems.append(Problem(job.origin, job.path + name, reason))


def _person_update(plan: Plan, state: State, person_id: int, record: PersonRecord) -> None:
    person = state.persons[person_id]
    if (person.national_id, person.hpr_number, person.given_name, person.family_name, person.address) == \
            (record.national_id, record.hpr_number, record.given_name, record.family_name, record.address) \
            and (not record.employee_id or record.employee_id == person.employee_id):
        return
    changes: list[tuple[str, str | None, str | None]] = []
    for name in ("national_id", "hpr_number", "given_name", "family_name", "address"):
        old, new = getattr(person, name), getattr(record, name)
        if old != new:
            changes.append((name, old, new))
    if record.employee_id and record.employee_id != person.employee_id:
        changes.append(("employee_id", person.employee_id, record.employee_id))
    if changes:
        plan.person_updates.append(PersonUpdate(person_id, tuple(changes)))


def _employments(plan: Plan, state: State, ref: int, record: PersonRecord) -> list[Current]:
    """The person's employments after the plan, adding the operations that get them there."""
    existing = state.employments.get(ref, []) if ref > 0 else []
    current = {job.key: job for job in existing if not job.removed}
    removed = {job.key: job for job in existing if job.removed}
    result: list[Current] = []
    for job in record.employments:
        unit = state.units[job.department]
        legal_entity, point_of_care = unit.legal_entity_id, unit.point_of_care_id or job.point_of_care
        result.append(Current(job.position_code, legal_entity, point_of_care, job.department, job.start_date,
                              job.end_date))
        stored = current.pop(job.key, None)
        if stored is not None:
            if (stored.end_date, stored.legal_entity_id, stored.point_of_care_id) != \
                    (job.end_date, legal_entity, point_of_care):
                what = [f"end date {job.end_date.isoformat() if job.end_date else 'none'}"] \
                    if stored.end_date != job.end_date else []
                what += [f"{name} {new}" for name, old, new in (
                    ("legal entity", stored.legal_entity_id, legal_entity),
                    ("point of care", stored.point_of_care_id, point_of_care)) if old != new]
                plan.employment_updates.append(EmploymentUpdate(
                    stored.id, ref, job.end_date, legal_entity, point_of_care, False, ", ".join(what)))
            continue
        again = removed.get(job.key)
        if again is not None:
            plan.employment_updates.append(EmploymentUpdate(
                again.id, ref, job.end_date, legal_entity, point_of_care, False, "listed again"))
            continue
        plan.new_employments.append(NewEmployment(ref, job.position_code, legal_entity, point_of_care,
                                                  job.department, job.start_date, job.end_date))
    for stored in current.values():
        plan.employment_updates.append(EmploymentUpdate(
            stored.id, ref, stored.end_date, stored.legal_entity_id, stored.point_of_care_id, True, "removed"))
    return result
