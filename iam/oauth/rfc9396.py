"""RFC 9396 Rich Authorization Requests: the ``authorization_details`` of a token exchange.

One type is supported, the Norwegian trust framework's ``nhn:tillitsrammeverk:parameters`` (see
``iam/oauth/TOKENS.md``)::

    {"type": "nhn:tillitsrammeverk:parameters",
     "practitioner": {"legal_entity": {"id": "..."}, "point_of_care": {"id": "..."},
                      "department": {"id": "..."}, "authorization": {"code": "LE"}},
     "care_relationship": {"purpose_of_use": {"code": "TREAT"}, "purpose_of_use_details": {...},
                           "healthcare_service": {...}, "decision_ref": {"id": "...", "user_selected": true}},
     "patients": [{"identifier": {"value": "<national id>"}, "point_of_care": {...}, "department": {...}}]}

What the client sends is a *request*: the practitioner's unit selects which of the user's roles the token
is for, and is checked against our records; the issued token carries the attested context that
:func:`attested_details` builds from our records, not the client's words. Without authorization_details
the same request can be made with the documented plain parameters ``patient``, ``purpose_of_use`` and
``unit`` (:func:`care_request_from_params`). No web framework and no database here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iam.identifiers import is_valid_org_number, national_id_error
from iam.oauth.errors import InvalidAuthorizationDetails

__all__ = [
    "AUTHORIZATION_SYSTEM",
    "NATIONAL_ID_SYSTEM",
    "TRUST_FRAMEWORK_TYPE",
    "CareContextRequest",
    "Practitioner",
    "attested_details",
    "care_request_from_params",
    "parse_authorization_details",
]

TRUST_FRAMEWORK_TYPE = "nhn:tillitsrammeverk:parameters"
NATIONAL_ID_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
ORGANISATION_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.101"
AUTHORIZATION_SYSTEM = "urn:oid:2.16.578.1.12.4.1.1.9060"
PURPOSE_OF_USE_SYSTEM = "urn:oid:2.16.840.1.113883.1.11.20448"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Code(_Strict):
    code: str = Field(min_length=1, max_length=100)
    system: str | None = Field(None, max_length=200)
    text: str | None = Field(None, max_length=500)


class Unit(_Strict):
    id: str = Field(min_length=1, max_length=100)
    system: str | None = Field(None, max_length=200)
    name: str | None = Field(None, max_length=300)


class PatientIdentifier(_Strict):
    value: str = Field(min_length=1, max_length=50)
    system: Literal["urn:oid:2.16.578.1.12.4.1.4.1"] = "urn:oid:2.16.578.1.12.4.1.4.1"


class PractitionerIn(_Strict):
    authorization: Code | None = None
    legal_entity: Unit | None = None
    point_of_care: Unit | None = None
    department: Unit | None = None


class DecisionRef(_Strict):
    id: str | None = Field(None, max_length=200)
    user_selected: bool | None = None


class CareRelationshipIn(_Strict):
    healthcare_service: Code | None = None
    purpose_of_use: Code | None = None
    purpose_of_use_details: Code | None = None
    decision_ref: DecisionRef | None = None


class PatientIn(_Strict):
    identifier: PatientIdentifier | None = None
    point_of_care: Unit | None = None
    department: Unit | None = None


class TrustFrameworkDetails(_Strict):
    type: Literal["nhn:tillitsrammeverk:parameters"]
    practitioner: PractitionerIn | None = None
    care_relationship: CareRelationshipIn | None = None
    # The trust framework allows a list; a token is for one patient at most (dropped on patient switch).
    patients: list[PatientIn] = Field(default_factory=list, max_length=1)


@dataclass(frozen=True)
class CareContextRequest:
    """What the client asks for; every field is checked against our records before it is attested."""

    patient: str | None = None  # national id
    purpose_of_use: str | None = None
    unit: str | None = None  # the unit (department, point of care or legal entity) the user acts in
    authorization: str | None = None  # HPR authorisation code, e.g. LE
    purpose_of_use_details: dict[str, Any] | None = None
    healthcare_service: dict[str, Any] | None = None
    decision_ref: dict[str, Any] | None = None


@dataclass(frozen=True)
class Practitioner:
    """The practitioner as our records show them, for the token."""

    hpr_number: str | None
    authorization: str | None
    legal_entity: str | None
    point_of_care: str | None
    department: str | None


def _check_patient(value: str | None) -> str | None:
    if value is None:
        return None
    problem = national_id_error(value)
    if problem:
        raise InvalidAuthorizationDetails(f"patient '{value}' is not a valid national id: {problem}")
    return value


def parse_authorization_details(raw: str) -> CareContextRequest:
    """Parse the JSON array of §2; raise InvalidAuthorizationDetails naming what is wrong."""
    try:
        entries = json.loads(raw)
    except ValueError:
        raise InvalidAuthorizationDetails("authorization_details is not valid JSON") from None
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise InvalidAuthorizationDetails(
            f"authorization_details must be a JSON array with one object of type '{TRUST_FRAMEWORK_TYPE}'")
    kind = entries[0].get("type")
    if kind != TRUST_FRAMEWORK_TYPE:
        raise InvalidAuthorizationDetails(f"authorization_details type {kind!r} is not supported; expected "
                                          f"'{TRUST_FRAMEWORK_TYPE}'")
    try:
        details = TrustFrameworkDetails.model_validate(entries[0])
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidAuthorizationDetails(f"authorization_details {where}: {error['msg']}") from None
    practitioner = details.practitioner or PractitionerIn()
    care = details.care_relationship or CareRelationshipIn()
    patient = details.patients[0] if details.patients else None
    unit = practitioner.department or practitioner.point_of_care or practitioner.legal_entity
    return CareContextRequest(
        patient=_check_patient(patient.identifier.value if patient and patient.identifier else None),
        purpose_of_use=care.purpose_of_use.code if care.purpose_of_use else None,
        unit=unit.id if unit else None,
        authorization=practitioner.authorization.code if practitioner.authorization else None,
        purpose_of_use_details=care.purpose_of_use_details.model_dump(exclude_none=True)
        if care.purpose_of_use_details else None,
        healthcare_service=care.healthcare_service.model_dump(exclude_none=True)
        if care.healthcare_service else None,
        decision_ref=care.decision_ref.model_dump(exclude_none=True) if care.decision_ref else None,
    )


def care_request_from_params(params: dict[str, str]) -> CareContextRequest | None:
    """The documented plain alternative: ``patient``, ``purpose_of_use``, ``unit`` form parameters."""
    if "authorization_details" in params:
        if {"patient", "purpose_of_use", "unit"} & params.keys():
            raise InvalidAuthorizationDetails(
                "give the care context either as authorization_details or as the plain parameters "
                "patient, purpose_of_use and unit, not both")
        return parse_authorization_details(params["authorization_details"])
    if not {"patient", "purpose_of_use", "unit"} & params.keys():
        return None
    return CareContextRequest(patient=_check_patient(params.get("patient") or None),
                              purpose_of_use=params.get("purpose_of_use") or None,
                              unit=params.get("unit") or None)


def _unit(unit_id: str | None) -> dict[str, str] | None:
    """A unit reference; the organisation-number system is named only when the id is one."""
    if unit_id is None:
        return None
    return {"id": unit_id, "system": ORGANISATION_SYSTEM} if is_valid_org_number(unit_id) else {"id": unit_id}


def attested_details(*, practitioner: Practitioner, request: CareContextRequest,
                     care_basis: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``authorization_details`` claim of an issued token: our records, the client's purpose."""
    practitioner_claim = {
        "authorization": None if practitioner.authorization is None
        else {"code": practitioner.authorization, "system": AUTHORIZATION_SYSTEM},
        "legal_entity": _unit(practitioner.legal_entity),
        "point_of_care": _unit(practitioner.point_of_care),
        "department": _unit(practitioner.department),
    }
    care: dict[str, Any] = {
        "purpose_of_use": None if request.purpose_of_use is None
        else {"code": request.purpose_of_use, "system": PURPOSE_OF_USE_SYSTEM},
        "purpose_of_use_details": request.purpose_of_use_details,
        "healthcare_service": request.healthcare_service,
        "decision_ref": request.decision_ref,
        "basis": care_basis,
    }
    entry: dict[str, Any] = {
        "type": TRUST_FRAMEWORK_TYPE,
        "practitioner": {key: value for key, value in practitioner_claim.items() if value is not None},
        "care_relationship": {key: value for key, value in care.items() if value is not None},
    }
    if request.patient is not None:
        entry["patients"] = [{"identifier": {"value": request.patient, "system": NATIONAL_ID_SYSTEM},
                              "point_of_care": _unit(practitioner.point_of_care),
                              "department": _unit(practitioner.department)}]
    return [entry]
