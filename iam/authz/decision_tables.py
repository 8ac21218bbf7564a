"""Decision tables: policy test suites kept as YAML under ``policies/tests/`` (``iam policy test``).

A table declares a small world (organisation units, people with roles, patients with care relationships,
restrictions, consents and emergency declarations, and the time "now") and a list of cases, each a request
with the expected decision, reason, rule, next steps and obligations. :func:`run_tables` decides every
case twice, with the compiled engine and with stock ``casbin.Enforcer`` over the same files, and reports
a case as failed when the engine differs from the expectation or from Casbin.

The world is a :class:`StaticFacts`, a fact source read from the table instead of the database, so policy
authors can test a policy change without a running service. Format: see policies/tests/README.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from iam.authz.catalogue import PolicyError
from iam.authz.conditions import EvalContext
from iam.authz.engine import DecisionEngine
from iam.authz.model import (
    Assignment,
    CareRelationship,
    Consent,
    DecisionRequest,
    EmergencyDeclaration,
    OrgTree,
    OrgUnit,
    PatientFacts,
    Restriction,
    Subject,
    SubjectRef,
)
from iam.authz.policy import CompiledPolicy, stock_enforcer

__all__ = ["CaseResult", "StaticFacts", "load_table", "run_tables"]


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise PolicyError(f"{where}: time {value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise PolicyError(f"{where}: time {value!r} needs a time zone (e.g. Z)")
    return parsed.astimezone(UTC)


def _optional_time(value: Any, where: str) -> datetime | None:
    return None if value is None else _time(value, where)


class StaticFacts:
    """A fact source built from a decision table's world (implements the engine's FactSource)."""

    def __init__(self, *, units: Iterable[OrgUnit], subjects: Iterable[Subject],
                 patients: Iterable[PatientFacts]) -> None:
        self._org = OrgTree(units)
        self._subjects = {s.person_id: s for s in subjects}
        self._by_hpr = {s.hpr_number: s for s in self._subjects.values() if s.hpr_number}
        self._by_nid = {s.national_id: s for s in self._subjects.values()}
        self._patients = {p.patient: p for p in patients}

    @property
    def org(self) -> OrgTree:
        return self._org

    def subject(self, ref: SubjectRef) -> Subject | None:
        index = {"person": self._subjects, "hpr": self._by_hpr, "national_id": self._by_nid}[ref.kind]
        return index.get(ref.value)

    def patient(self, patient: str) -> PatientFacts:
        return self._patients.get(patient) or PatientFacts(patient=patient)

    def assignments(self) -> list[tuple[str, Assignment]]:
        return [(s.person_id, a) for s in self._subjects.values() for a in s.assignments]


@dataclass(frozen=True)
class Case:
    name: str
    user: str
    request: DecisionRequest
    expect: dict[str, Any]


@dataclass
class CaseResult:
    table: str
    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    decision: bool | None = None
    reason: str = ""
    rule: str = ""


def _patient(patient: str, data: dict[str, Any], where: str) -> PatientFacts:
    rels = tuple(CareRelationship(
        id=str(r["id"]), patient=patient, kind=r["kind"], unit_id=r.get("unit"), person_id=r.get("person"),
        practitioner_hpr=r.get("hpr"), team_id=r.get("team"), valid_from=_time(r["from"], where),
        valid_to=_optional_time(r.get("to"), where)) for r in data.get("relationships", []))
    restrictions = tuple(Restriction(
        id=str(r["id"]), patient=patient, kind=r["kind"], person_id=r.get("person"), hpr_number=r.get("hpr"),
        unit_id=r.get("unit"), item_id=r.get("item")) for r in data.get("restrictions", []))
    consents = tuple(Consent(
        id=str(c["id"]), restriction_id=str(c["restriction"]), person_id=c.get("person"),
        hpr_number=c.get("hpr"), unit_id=c.get("unit"), valid_from=_time(c["from"], where),
        valid_to=_optional_time(c.get("to"), where)) for c in data.get("consents", []))
    emergencies = tuple(EmergencyDeclaration(
        id=str(e["id"]), patient=patient, person_id=str(e["person"]), purpose=e.get("purpose", "BTG"),
        reason_code=e.get("reason_code", "life_threatening"), declared_at=_time(e["from"], where),
        expires_at=_time(e["to"], where)) for e in data.get("emergencies", []))
    return PatientFacts(patient=patient, relationships=rels, restrictions=restrictions, consents=consents,
                        emergencies=emergencies, confidential_address=bool(data.get("confidential_address")),
                        well_known=bool(data.get("well_known")))


def load_table(path: Path) -> tuple[StaticFacts, list[Case]]:
    """Read one decision table; raise PolicyError naming the file and the entry on malformed input."""
    where = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        now = _time(data["now"], where)
        units = [OrgUnit(unit_id=str(u["id"]), parent_id=u.get("parent"), level=u["level"], kind=u["kind"],
                         name=u.get("name", str(u["id"]))) for u in data["units"]]
        people: dict[str, Subject] = {}
        for key, person in data["people"].items():
            people[key] = Subject(
                person_id=str(person["person_id"]), national_id=str(person.get("national_id", "")),
                hpr_number=person.get("hpr"), display_name=person.get("name", key),
                account_status=person.get("status", "active"),
                assignments=tuple(Assignment(role=r["role"], unit_id=str(r["unit"]),
                                             licence_ok=bool(r.get("licence_ok", True)))
                                  for r in person.get("roles", [])),
                teams=frozenset(person.get("teams", [])))
        patients = [_patient(str(pid), facts or {}, where) for pid, facts in data.get("patients", {}).items()]
        cases = []
        for number, case in enumerate(data["cases"], start=1):
            user = case["user"]
            ref = (SubjectRef("person", people[user].person_id) if user in people
                   else SubjectRef("person", str(user)))
            request = DecisionRequest(
                subject=ref, patient=str(case["patient"]), section=case["section"], action=case["action"],
                purpose=case["purpose"], acting_unit=case.get("unit"), item=case.get("item"),
                data_owner=case.get("data_owner"), at=_time(case.get("at", now), where))
            cases.append(Case(name=case.get("name", f"case {number}"), user=user, request=request,
                              expect=case["expect"]))
    except (KeyError, TypeError, AttributeError) as exc:
        raise PolicyError(f"{where}: malformed decision table ({type(exc).__name__}: {exc})") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{where}: cannot be read: {exc}") from None
    return StaticFacts(units=units, subjects=people.values(), patients=patients), cases


def _stock_decision(policy: CompiledPolicy, enforcer: Any, facts: StaticFacts, request: DecisionRequest) -> bool:
    subject = facts.subject(request.subject)
    if subject is None:
        return False
    purpose = policy.catalogue.purposes[request.purpose]
    units = ((request.acting_unit,) if request.acting_unit is not None
             else tuple(dict.fromkeys(a.unit_id for a in subject.assignments)))
    assert request.at is not None
    for unit in units:
        ctx = EvalContext(request=request, subject=subject, facts=facts.patient(request.patient), unit=unit,
                          purpose=purpose, org=facts.org, acute_kinds=policy.catalogue.acute_unit_kinds,
                          at=request.at)
        if enforcer.enforce(subject.person_id, unit, request.section, request.action, request.purpose, ctx):
            return True
    return False


def _check(case: Case, actual: dict[str, Any]) -> list[str]:
    problems = []
    for key, expected in case.expect.items():
        value = actual.get(key)
        if key in ("next", "obligations"):
            expected = list(expected)
        if value != expected:
            problems.append(f"{key}: expected {expected!r}, got {value!r}")
    return problems


def run_tables(policy: CompiledPolicy, paths: Iterable[Path], *, with_casbin: bool = True) -> list[CaseResult]:
    """Decide every case of every table with the compiled engine (and stock Casbin); report each case."""
    results = []
    for path in paths:
        facts, cases = load_table(path)
        engine = DecisionEngine(policy, facts)
        enforcer = stock_enforcer(policy, org=facts.org, assignments=facts.assignments()) if with_casbin else None
        for case in cases:
            decision = engine.decide(case.request)
            actual = {"decision": "permit" if decision.allowed else "deny", "reason": decision.reason,
                      "rule": decision.rule, "next": list(decision.next_steps),
                      "obligations": list(decision.obligations), "role": decision.role,
                      "unit": decision.acting_unit}
            problems = _check(case, actual)
            if with_casbin:
                stock = _stock_decision(policy, enforcer, facts, case.request)
                if stock != decision.allowed:
                    problems.append(f"stock Casbin says {'permit' if stock else 'deny'}, the compiled engine "
                                    f"says {actual['decision']}")
            results.append(CaseResult(table=path.name, name=case.name, passed=not problems, problems=problems,
                                      decision=decision.allowed, reason=decision.reason, rule=decision.rule))
    return results
