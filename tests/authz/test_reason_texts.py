"""Reason texts are kept by what fills them: each decision still gets the texts of its own section, purpose,
unit and parameters, and a reloaded organisation register or policy vocabulary shows at once. (The texts
themselves are checked through the API in test_evaluation_api.py.)"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from iam.authz.catalogue import DEFAULT_POLICY_DIR, load_catalogue
from iam.authz.model import Decision, DecisionRequest, OrgTree, OrgUnit, SubjectRef
from iam.authz.reasons import reason_texts

WARD, SURGERY = "974589095", "974589109"


def _org(ward_name: str = "Medisinsk sengepost") -> OrgTree:
    return OrgTree([OrgUnit(WARD, None, "department", "ward", ward_name),
                    OrgUnit(SURGERY, None, "department", "ward", "Kirurgisk sengepost")])


def _decision(reason: str, *, unit: str = WARD, section: str = "notes", purpose: str = "TREAT",
              **params: str) -> Decision:
    request = DecisionRequest(subject=SubjectRef("person", "1"), patient="01017012345", section=section,
                              action="read", purpose=purpose)
    return Decision(allowed=False, decision_id="d", rule="r", reason=reason, request=request, at=datetime.now(UTC),
                    params={"unit": unit, "role": "physician", **params})


def test_decisions_that_differ_in_one_filler_each_get_their_own_texts() -> None:
    catalogue, org = load_catalogue(), _org()
    notes = reason_texts(_decision("section_not_permitted"), catalogue, org)["en"]
    medication = reason_texts(_decision("section_not_permitted", section="medication"), catalogue, org)["en"]
    coordination = reason_texts(_decision("section_not_permitted", purpose="COC"), catalogue, org)["en"]
    assert "clinical notes" in notes and "Treatment (TREAT)" in notes
    assert "medication" in medication and "clinical notes" not in medication
    assert "Coordination of care (COC)" in coordination and "Treatment (TREAT)" not in coordination
    ward = reason_texts(_decision("no_care_relationship"), catalogue, org)["nb"]
    surgery = reason_texts(_decision("no_care_relationship", unit=SURGERY), catalogue, org)["nb"]
    assert "Medisinsk sengepost" in ward and "Kirurgisk sengepost" in surgery
    admission = reason_texts(_decision("care_relationship", kind="admission"), catalogue, org)["en"]
    referral = reason_texts(_decision("care_relationship", kind="referral"), catalogue, org)["en"]
    assert "(admission)" in admission and "(referral)" in referral
    # Asked again, the same texts; what one caller does to its copy does not reach the next.
    first = reason_texts(_decision("section_not_permitted"), catalogue, org)
    assert first["en"] == notes
    first["en"] = "changed by a caller"
    assert reason_texts(_decision("section_not_permitted"), catalogue, org)["en"] == notes


def test_a_reloaded_register_or_vocabulary_shows_at_once(tmp_path: Path) -> None:
    catalogue, org = load_catalogue(), _org()
    decision = _decision("no_care_relationship")
    assert "Medisinsk sengepost" in reason_texts(decision, catalogue, org)["nb"]
    # The register reloads as a new tree: the unit's new name shows.
    assert "Hjertemedisinsk sengepost" in reason_texts(decision, catalogue, _org("Hjertemedisinsk sengepost"))["nb"]
    # The policy vocabulary reloads with a reworded text, over the same register.
    policies = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY_DIR, policies)
    reasons = policies / "reasons.yaml"
    reasons.write_text(reasons.read_text(encoding="utf-8").replace(
        "The patient has no active care relationship with you or {unit}.",
        "No active care relationship with you or {unit}."), encoding="utf-8")
    reworded = load_catalogue(policies)
    assert reason_texts(decision, catalogue, org)["en"].startswith("The patient has")
    assert reason_texts(decision, reworded, org)["en"] == "No active care relationship with you or Medisinsk sengepost."
