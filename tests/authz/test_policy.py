"""The Casbin policy files: decision tables, equivalence with stock Casbin, validation, purposes as data."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from iam.authz.catalogue import DEFAULT_POLICY_DIR, PolicyError
from iam.authz.conditions import EvalContext
from iam.authz.decision_tables import load_table, run_tables
from iam.authz.engine import DecisionEngine
from iam.authz.model import DecisionRequest, SubjectRef
from iam.authz.policy import load_policy, stock_enforcer

TABLES = sorted((DEFAULT_POLICY_DIR / "tests").glob("*.yaml"))


def test_every_decision_table_case_holds_and_stock_casbin_agrees() -> None:
    results = run_tables(load_policy(), TABLES)
    assert len(results) >= 40
    assert [(r.name, r.problems) for r in results if not r.passed] == []


def test_the_compiled_engine_equals_stock_casbin_over_the_whole_request_space() -> None:
    """Every person x patient x section x action x purpose of the core table, both engines."""
    policy = load_policy()
    facts, cases = load_table(DEFAULT_POLICY_DIR / "tests" / "core_rules.yaml")
    engine = DecisionEngine(policy, facts)
    enforcer = stock_enforcer(policy, org=facts.org, assignments=facts.assignments())
    catalogue = policy.catalogue
    at = cases[0].request.at
    assert at is not None
    people = [*sorted({a[0] for a in facts.assignments()}), "404"]
    patients = sorted({case.request.patient for case in cases})
    differences = []
    compared = permits = 0
    for person, patient, section, action, purpose in itertools.product(
            people, patients, catalogue.sections, catalogue.actions, catalogue.purposes):
        request = DecisionRequest(subject=SubjectRef("person", person), patient=patient,
                                  section=section, action=action, purpose=purpose, at=at)
        compiled = engine.decide(request).allowed
        subject = facts.subject(request.subject)
        stock = False
        if subject is not None:
            for unit in dict.fromkeys(a.unit_id for a in subject.assignments):
                ctx = EvalContext(request=request, subject=subject, facts=facts.patient(patient), unit=unit,
                                  purpose=catalogue.purposes[purpose], org=facts.org,
                                  acute_kinds=catalogue.acute_unit_kinds, at=at)
                stock = stock or enforcer.enforce(person, unit, section, action, purpose, ctx)
        compared += 1
        permits += compiled
        if stock != compiled:
            differences.append((person, patient, section, action, purpose, stock, compiled))
    assert (compared > 3000, permits > 100) == (True, True)
    assert differences == []


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, folder)
    return folder


def test_a_new_purpose_of_use_needs_data_files_only(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    with (folder / "purposes.yaml").open("a") as handle:
        handle.write("  - code: PATADMIN\n    system: local\n    name: {nb: \"Pasientadministrasjon\", "
                     "en: \"Patient administration\"}\n    relationship_kinds: [appointment]\n    emergency: false\n")
    with (folder / "policy.csv").open("a") as handle:
        handle.write("p, health_secretary, administrative, read, PATADMIN, care_relationship, allow, patadmin\n")
    table = (folder / "tests" / "core_rules.yaml").read_text()
    (folder / "tests" / "core_rules.yaml").write_text(table + """
  - name: the new purpose opens administrative data for an appointment only
    user: secretary
    patient: "01010112345"
    section: administrative
    action: read
    purpose: PATADMIN
    expect: {decision: deny, reason: no_care_relationship}
  - name: the new purpose with an appointment at the unit
    user: nurse_poc
    patient: "01010112345"
    section: administrative
    action: read
    purpose: PATADMIN
    expect: {decision: deny, reason: section_not_permitted}
""")
    results = run_tables(load_policy(folder), sorted((folder / "tests").glob("*.yaml")))
    assert [(r.name, r.problems) for r in results if not r.passed] == []
    assert "PATADMIN" in load_policy(folder).catalogue.purposes


@pytest.mark.parametrize(("line", "message"), [
    ("p, *, notes, read, TREAT, care_relationship, allow, open-to-all",
     "an allow line must name its role, section and purpose (no '*'), so that nothing is opened by a wildcard"),
    ("p, surgeon, notes, read, TREAT, care_relationship, allow, x", "role 'surgeon' is not in roles.yaml"),
    ("p, nurse, diary, read, TREAT, care_relationship, allow, x", "section 'diary' is not in sections.yaml"),
    ("p, nurse, notes, read, TREAT, is_friday, allow, x",
     "condition 'is_friday' is not an allow condition; expected one of ['acute_setting', 'care_relationship', "
     "'emergency_declaration']"),
    ("p, nurse, notes, read, TREAT, care_relationship, maybe, x", "effect 'maybe' must be allow or deny"),
    ("p, nurse, notes, read, TREAT, care_relationship, allow", "expected 7 fields (role, section, action, purpose, "
     "condition, effect, rule), found 6"),
    ("g, 42, nurse, 974749025", "only 'p' lines belong here ('g' found); roles come from the grant register"),
    ("p, nurse, notes, read, TREAT, care_relationship, allow, Bad_Rule",
     "rule id 'Bad_Rule' must be lower-case letters, digits and '-'"),
])
def test_a_bad_policy_line_is_refused_naming_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    folder = _copy(tmp_path)
    text = (folder / "policy.csv").read_text()
    number = len(text.splitlines()) + 1
    (folder / "policy.csv").write_text(text + line + "\n")
    with pytest.raises(PolicyError) as raised:
        load_policy(folder)
    assert str(raised.value) == f"policy.csv line {number}: {message}"


def test_a_changed_matcher_is_refused_because_the_compiler_would_not_match_it(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    model = (folder / "model.conf").read_text().replace("&& holds(p.cond, r.ctx)", "")
    (folder / "model.conf").write_text(model)
    with pytest.raises(PolicyError) as raised:
        load_policy(folder)
    assert str(raised.value).startswith("model.conf: matcher is ")
    assert "the engine compiles exactly" in str(raised.value)


def test_vocabulary_files_are_cross_checked(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    text = (folder / "sections.yaml").read_text().replace("sensitivity: special_category", "sensitivity: secret")
    (folder / "sections.yaml").write_text(text)
    with pytest.raises(PolicyError) as raised:
        load_policy(folder)
    assert str(raised.value) == ("sections.yaml: section 'mental_health_notes' has sensitivity 'secret'; "
                                 "expected one of ['normal', 'sensitive', 'special_category']")
