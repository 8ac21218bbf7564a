"""Boundary shapes of the APIs that maintain the decision engine's facts (pydantic v2, unknown fields refused).

Separate create / public shapes per fact: care relationships, care-team members, patient restrictions and
the consents that open them, patient flags, emergency declarations. Identifiers are checked for shape here
(national id check digits, HPR number shape); whether a unit or person exists is the service's check.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from iam.identifiers import hpr_number_error, national_id_error

__all__ = [
    "CareRelationshipCreate",
    "CareRelationshipEnd",
    "CareRelationshipView",
    "ConsentCreate",
    "ConsentView",
    "EmergencyCreate",
    "EmergencyView",
    "Page",
    "PatientFlags",
    "RestrictionCreate",
    "RestrictionLift",
    "RestrictionView",
    "TeamMemberView",
]


@lru_cache(maxsize=200_000)
def _national_id(value: str) -> str:
    # Cached: bulk loads repeat each patient several times, and the check digits cost tens of microseconds.
    problem = national_id_error(value)
    if problem is not None:
        raise ValueError(f"not a valid national id: {problem}")
    return value


def _hpr(value: str | None) -> str | None:
    if value is not None and (problem := hpr_number_error(value)) is not None:
        raise ValueError(f"not a valid HPR number: {problem}")
    return value


NationalId = Annotated[str, AfterValidator(_national_id)]
HprNumber = Annotated[str | None, AfterValidator(_hpr)]
UnitId = Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
PersonId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$")]
Text = Annotated[str, StringConstraints(max_length=2000)]
RelationshipKind = Literal["admission", "appointment", "referral", "home_care", "gp_list"]
RestrictionKind = Literal["block_person", "restrict_unit", "lock_item", "object_sharing"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class CareRelationshipCreate(_In):
    """A care relationship between a patient and a department, a named practitioner or a care team."""

    id: Identifier | None = Field(None, description="The clinical system's own id; generated when left out.")
    patient: NationalId
    kind: RelationshipKind
    unit_id: UnitId | None = Field(None, description="Department (or other unit) of the organisation register.")
    person_id: PersonId | None = Field(None, description="A named practitioner by our person id.")
    practitioner_hpr: HprNumber = Field(None, description="A named practitioner by HPR number.")
    team_id: Identifier | None = Field(None, description="A care team (see /authz/v1/care-teams).")
    valid_from: datetime | None = Field(None, description="Start (UTC); now when left out.")
    valid_to: datetime | None = Field(None, description="End, exclusive (UTC); open when left out.")

    @model_validator(mode="after")
    def _target(self) -> CareRelationshipCreate:
        if not (self.unit_id or self.person_id or self.practitioner_hpr or self.team_id):
            raise ValueError("name at least one of unit_id, person_id, practitioner_hpr or team_id")
        return self


class CareRelationshipEnd(_In):
    ended_at: datetime | None = Field(None, description="When it ended (UTC); now when left out.")
    reason: Text = ""


class CareRelationshipView(_Out):
    id: str
    patient: str
    kind: str
    unit_id: str | None
    person_id: str | None
    practitioner_hpr: str | None
    team_id: str | None
    valid_from: datetime
    valid_to: datetime | None
    source: str
    created_at: datetime
    created_by: str
    ended_at: datetime | None
    end_reason: str | None


class TeamMemberView(_Out):
    team_id: str
    person_id: str
    added_at: datetime
    added_by: str


class RestrictionCreate(_In):
    """A patient's restriction. ``block_person`` names a person (id or HPR number); ``restrict_unit`` a unit
    (department, point of care or a whole organisation); ``lock_item`` a record item; ``object_sharing``
    nothing (the patient objects to sharing across organisations)."""

    patient: NationalId
    kind: RestrictionKind
    person_id: PersonId | None = None
    hpr_number: HprNumber = None
    unit_id: UnitId | None = None
    item_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    reason: Text = ""
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Who asked for it: the patient, or the proxy acting for them.")

    @model_validator(mode="after")
    def _target(self) -> RestrictionCreate:
        given = {name for name in ("person_id", "hpr_number", "unit_id", "item_id") if getattr(self, name)}
        allowed = {"block_person": {"person_id", "hpr_number"}, "restrict_unit": {"unit_id"},
                   "lock_item": {"item_id"}, "object_sharing": set()}[self.kind]
        if given - allowed:
            raise ValueError(f"a {self.kind} restriction takes no {', '.join(sorted(given - allowed))}")
        if allowed and not given:
            raise ValueError(f"a {self.kind} restriction needs {' or '.join(sorted(allowed))}")
        return self


class RestrictionLift(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class RestrictionView(_Out):
    id: str
    patient: str
    kind: str
    person_id: str | None
    hpr_number: str | None
    unit_id: str | None
    item_id: str | None
    reason: str
    requested_by: str
    created_at: datetime
    created_by: str
    lifted_at: datetime | None
    lift_reason: str | None


class ConsentCreate(_In):
    """The patient's consent opening one restriction for a person or a unit, recorded with a reference."""

    person_id: PersonId | None = None
    hpr_number: HprNumber = None
    unit_id: UnitId | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = Field(None, description="Consent ends here (UTC); open when left out.")
    reference: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Where the consent is documented (e.g. the journal document id).")

    @model_validator(mode="after")
    def _grantee(self) -> ConsentCreate:
        if not (self.person_id or self.hpr_number or self.unit_id):
            raise ValueError("name the grantee: person_id, hpr_number or unit_id")
        return self


class ConsentView(_Out):
    id: str
    restriction_id: str
    patient: str
    person_id: str | None
    hpr_number: str | None
    unit_id: str | None
    valid_from: datetime
    valid_to: datetime | None
    reference: str
    recorded_at: datetime
    recorded_by: str
    revoked_at: datetime | None


class PatientFlags(_In):
    confidential_address: bool = False
    well_known: bool = False


class EmergencyCreate(_In):
    """A clinician declares an emergency (breaks the glass) for one patient."""

    user: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The clinician: our person id, 'hpr:<HPR number>' or 'pid:<national id>'.")
    patient: NationalId
    purpose_of_use: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "BTG"
    reason_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason_text: Text = ""
    acting_unit: UnitId | None = Field(None, description="The unit the clinician acts for, if known.")


class EmergencyView(_Out):
    id: str
    patient: str
    person_id: str
    purpose: str
    reason_code: str
    declared_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    review_task_id: str | None
    sections: list[str] = Field(default_factory=list,
                                description="Sections the policy opens under it while in force; none once over.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null at the end.")
