"""Reason texts name the units, sections and purposes of each decision, also when many decisions share them
and after the organisation register or the policy vocabulary is reloaded."""

from __future__ import annotations

from datetime import UTC, datetime

from iam.authz.catalogue import load_catalogue
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
    return Decision(allowed=reason == "care_relationship", decision_id="d", rule="r", reason=reason,
                    request=request, at=datetime.now(UTC), params={"unit": unit, "role": "physician", **params})


def test_each_decision_gets_the_texts_of_its_own_unit_kind_and_reason() -> None:
    catalogue, org = load_catalogue(), _org()
    admission = reason_texts(_decision("care_relationship", kind="admission"), catalogue, org)
    assert admission == {
        "nb": "Tilgang gitt: pasienten har et aktivt behandlingsforhold (admission) med Medisinsk sengepost.",
        "en": "Access granted: the patient has an active care relationship (admission) with Medisinsk sengepost."}
    referral = reason_texts(_decision("care_relationship", kind="referral", unit=SURGERY), catalogue, org)
    assert referral["en"] == ("Access granted: the patient has an active care relationship (referral) with "
                              "Kirurgisk sengepost.")
    denied = reason_texts(_decision("no_care_relationship"), catalogue, org)
    assert denied["en"] == "The patient has no active care relationship with you or Medisinsk sengepost."
    # The same decision again gives the same texts, and what one caller does to its copy does not reach the next.
    admission["en"] = "changed by a caller"
    assert reason_texts(_decision("care_relationship", kind="admission"), catalogue, org)["en"].startswith(
        "Access granted")


def test_texts_follow_a_reloaded_register_and_vocabulary() -> None:
    catalogue = load_catalogue()
    decision = _decision("no_care_relationship")
    assert "Medisinsk sengepost" in reason_texts(decision, catalogue, _org())["nb"]
    # The register reloads as a new tree: the unit's new name shows at once.
    assert "Hjertemedisinsk sengepost" in reason_texts(decision, catalogue, _org("Hjertemedisinsk sengepost"))["nb"]
    reloaded = load_catalogue()
    assert reason_texts(decision, reloaded, _org())["en"] == (
        "The patient has no active care relationship with you or Medisinsk sengepost.")
