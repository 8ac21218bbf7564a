"""Role rules as data: the shipped file covers the feed's positions and unit kinds; bad files say why."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from iam.region.positions import POSITIONS, STAFFING
from provisioning.rules import Birthright, RulesError, default_rules, load_rules


def test_shipped_rules_cover_every_position_and_department_kind_of_the_feed() -> None:
    rules = default_rules()

    assert sorted(POSITIONS) == list(rules.positions)
    assert all(rules.knows_unit_kind(kind) for kind in STAFFING)
    assert all(rules.birthright(code, kind) for code in POSITIONS for kind in STAFFING)


def test_shipped_rules_scope_licence_and_grace_as_documented() -> None:
    rules = default_rules()

    assert rules.birthright("physician", "ward") == (Birthright("physician", "department"),)
    assert rules.birthright("nurse", "home_care") == (Birthright("nurse", "point_of_care"),)
    assert rules.authorisations("nurse_assistant") == frozenset({"HF", "HP"})
    assert rules.authorisations("care_assistant") == frozenset()
    assert rules.mover_grace("physician") == timedelta(days=14)
    assert rules.mover_grace("care_assistant") == timedelta(0)


@pytest.mark.parametrize(("content", "message"), [
    ("version: 1\nroles: {a: {}}\nscopes: {}\npositions: {p: [{role: b}]}\n",
     "positions.p.0.role 'b' is not in roles"),
    ("version: 1\nroles: {a: {mover_grace: soon}}\nscopes: {}\npositions: {}\n",
     "roles.a.mover_grace has value 'soon': Input should be a valid timedelta, invalid digit in "
     "duration"),
    ("version: 2\nroles: {a: {}}\nscopes: {}\npositions: {}\n", "version has value 2: Input should be 1"),
    ("version: 1\nroles: {a: {}}\nscopes: {ward: everywhere}\npositions: {}\n",
     "scopes.ward has value 'everywhere': Input should be 'legal_entity', 'point_of_care' or 'department'"),
])
def test_a_bad_rules_file_is_refused_naming_the_key_and_value(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(RulesError) as refused:
        load_rules(path)

    assert str(refused.value) == f"role rules file '{path}': {message}"
