"""OpenID AuthZEN Authorization API 1.0: request and response shapes, and our profile of them.

No web framework and no database here; :mod:`iam.authz.routes` adapts this to HTTP.

Spec sections: information model (§5: Subject, Resource, Action, Context, Decision), Access Evaluation
(§6), Access Evaluations with ``options.evaluations_semantic`` (§7), Search APIs with opaque page tokens
(§8), PDP metadata at ``/.well-known/authzen-configuration`` (§9), HTTPS JSON binding (§10). As §10.1
requires, unknown fields are ignored (unlike our other APIs) and a missing required attribute is 400.

Our profile (what the entities mean here)
* subject ``{"type": "user", "id": ...}``: ``id`` is our person id, ``hpr:<HPR number>`` or
  ``pid:<national id>``.
* resource ``{"type": "patient_record", "id": <patient's national id>, "properties": {"section": ...,
  "item": optional record item id, "legal_entity": optional organisation number holding the data}}``.
* action ``{"name": "read" | "write" | ...}`` (policies/sections.yaml).
* context: ``purpose_of_use`` (a code, or ``{"code": ...}``; also read from the trust-framework
  attestation's ``care_relationship.purpose_of_use``) and, where the caller has it, the attestation's
  ``practitioner`` (``legal_entity``, ``point_of_care``, ``department``: the unit the user acts for,
  each a string or ``{"id": ...}``; ``authorization``: the HPR authorisation code).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from iam.authz.model import Decision, DecisionRequest, SubjectRef
from iam.errors import APIError
from iam.identifiers import national_id_error

__all__ = [
    "RESOURCE_TYPE",
    "SUBJECT_TYPE",
    "Action",
    "ActionSearchRequest",
    "AuthZenRequestError",
    "Entity",
    "Evaluation",
    "EvaluationRequest",
    "EvaluationsRequest",
    "PageRequest",
    "ResourceSearchRequest",
    "SubjectSearchRequest",
    "decision_request",
    "decode_page_token",
    "encode_page_token",
    "evaluation_response",
    "merge_evaluation",
    "parse",
    "pdp_metadata",
    "purpose_of",
    "subject_ref",
]

SUBJECT_TYPE = "user"
RESOURCE_TYPE = "patient_record"
MAX_EVALUATIONS = 1000
_ITEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,149}$")
_UNIT = re.compile(r"^[0-9]{9}$")
_PERSON = re.compile(r"^[0-9]{1,20}$")
_HPR = re.compile(r"^[0-9]{7,9}$")


class AuthZenRequestError(APIError):
    """A request that does not follow AuthZEN 1.0 or our profile of it (400 invalid_request)."""


class _Lenient(BaseModel):
    # AuthZEN §10.1: "receivers MUST ignore unknown fields present in request or response bodies".
    model_config = ConfigDict(extra="ignore")


class Entity(_Lenient):
    type: str = Field(min_length=1, max_length=64)
    id: str = Field(min_length=1, max_length=128)
    properties: dict[str, Any] | None = None


class SearchEntity(_Lenient):
    type: str = Field(min_length=1, max_length=64)
    id: str | None = None
    properties: dict[str, Any] | None = None


class Action(_Lenient):
    name: str = Field(min_length=1, max_length=64)
    properties: dict[str, Any] | None = None


class EvaluationRequest(_Lenient):
    subject: Entity
    action: Action
    resource: Entity
    context: dict[str, Any] | None = None


class EvaluationItem(_Lenient):
    subject: Entity | None = None
    action: Action | None = None
    resource: Entity | None = None
    context: dict[str, Any] | None = None


class Options(_Lenient):
    evaluations_semantic: Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"] = "execute_all"


class EvaluationsRequest(_Lenient):
    subject: Entity | None = None
    action: Action | None = None
    resource: Entity | None = None
    context: dict[str, Any] | None = None
    evaluations: list[EvaluationItem] | None = Field(None, max_length=MAX_EVALUATIONS)
    options: Options | None = None


class PageRequest(_Lenient):
    token: str | None = Field(None, max_length=512)
    next_token: str | None = Field(None, max_length=512, description="Earlier drafts' name for token.")
    limit: StrictInt | None = Field(None, ge=1, le=1000)  # "5" is refused, not read as 5


class SubjectSearchRequest(_Lenient):
    subject: SearchEntity
    action: Action
    resource: Entity
    context: dict[str, Any] | None = None
    page: PageRequest | None = None


class ResourceSearchRequest(_Lenient):
    subject: Entity
    action: Action
    resource: SearchEntity
    context: dict[str, Any] | None = None
    page: PageRequest | None = None


class ActionSearchRequest(_Lenient):
    subject: Entity
    resource: Entity
    context: dict[str, Any] | None = None
    page: PageRequest | None = None


M = TypeVar("M", bound=BaseModel)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(part) for part in error.get("loc", ())) or "body"
        message = error.get("msg", "invalid")
        if error.get("type") == "json_invalid":
            location, message = "body", f"not valid JSON ({error.get('ctx', {}).get('error', 'syntax error')})"
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


def parse(model: type[M], body: bytes) -> M:
    """Parse a JSON request body; raise AuthZenRequestError naming each bad field."""
    if not body.strip():
        raise AuthZenRequestError("the request body is empty; send a JSON object")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise AuthZenRequestError(_describe(exc)) from None


def subject_ref(subject: Entity | SearchEntity, *, field: str = "subject") -> SubjectRef:
    if subject.type != SUBJECT_TYPE:
        raise AuthZenRequestError(f"{field}.type '{subject.type}' is not supported; expected '{SUBJECT_TYPE}'")
    value = subject.id or ""
    if value.startswith("hpr:") and _HPR.match(value[4:]):
        return SubjectRef("hpr", value[4:])
    if value.startswith("pid:") and national_id_error(value[4:]) is None:
        return SubjectRef("national_id", value[4:])
    if _PERSON.match(value):
        return SubjectRef("person", value)
    raise AuthZenRequestError(f"{field}.id {value[:40]!r} is not a person id, 'hpr:<HPR number>' or "
                              "'pid:<national id>'")


def _code(value: Any) -> Any:
    return value.get("code") if isinstance(value, dict) else value


def _unit_id(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def purpose_of(context: dict[str, Any] | None, *, default: str | None = None) -> str:
    context = context or {}
    value = _code(context.get("purpose_of_use"))
    if value is None:
        relationship = context.get("care_relationship")
        if isinstance(relationship, dict):
            value = _code(relationship.get("purpose_of_use"))
    if value is None:
        if default is not None:
            return default
        raise AuthZenRequestError("context.purpose_of_use is required (a purpose code such as 'TREAT')")
    if not isinstance(value, str) or not value:
        raise AuthZenRequestError("context.purpose_of_use must be a purpose code string or {\"code\": ...}")
    return value


def _acting_unit(context: dict[str, Any] | None) -> str | None:
    practitioner = (context or {}).get("practitioner")
    if practitioner is None:
        return None
    if not isinstance(practitioner, dict):
        raise AuthZenRequestError("context.practitioner must be an object")
    for level in ("department", "point_of_care", "legal_entity"):
        value = _unit_id(practitioner.get(level))
        if value is None:
            continue
        if not isinstance(value, str) or not _UNIT.match(value):
            raise AuthZenRequestError(f"context.practitioner.{level} {value!r} is not a 9-digit organisation number")
        return value
    return None


def _resource(resource: Entity | SearchEntity, *, field: str = "resource") -> tuple[str | None, dict[str, Any]]:
    if resource.type != RESOURCE_TYPE:
        raise AuthZenRequestError(f"{field}.type '{resource.type}' is not supported; expected '{RESOURCE_TYPE}'")
    properties = resource.properties or {}
    return resource.id, properties


def patient_id(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or (problem := national_id_error(value)) is not None:
        reason = "not a string" if not isinstance(value, str) else problem
        raise AuthZenRequestError(f"{field} is not a patient's national id: {reason}")
    return value


def section_of(properties: dict[str, Any], *, field: str = "resource.properties.section") -> str:
    section = properties.get("section")
    if section is not None and not isinstance(section, str):
        raise AuthZenRequestError(f"{field} must be a string: a record section such as 'notes', not "
                                  f"{json.dumps(section)}")
    if not section:
        raise AuthZenRequestError(f"{field} is required: the record section (e.g. 'notes')")
    return section


def decision_request(subject: Entity, action: Action, resource: Entity, context: dict[str, Any] | None, *,
                     section: str | None = None, default_purpose: str | None = None) -> DecisionRequest:
    """Map one AuthZEN 4-tuple onto our decision request; raise AuthZenRequestError naming the bad field."""
    ref = subject_ref(subject)
    patient, properties = _resource(resource)
    patient = patient_id(patient, field="resource.id")
    item = properties.get("item")
    if item is not None and (not isinstance(item, str) or not _ITEM.match(item)):
        raise AuthZenRequestError("resource.properties.item must be an item id of letters, digits and ._:/- "
                                  "(at most 150)")
    owner = _unit_id(properties.get("legal_entity"))
    if owner is not None and (not isinstance(owner, str) or not _UNIT.match(owner)):
        raise AuthZenRequestError(f"resource.properties.legal_entity {owner!r} is not a 9-digit organisation number")
    return DecisionRequest(
        subject=ref, patient=patient, section=section or section_of(properties), action=action.name,
        purpose=purpose_of(context, default=default_purpose), acting_unit=_acting_unit(context), item=item,
        data_owner=owner)


class Evaluation(NamedTuple):
    """One evaluation of a batch with the batch's defaults filled in (§7.1.1)."""

    subject: Entity
    action: Action
    resource: Entity
    context: dict[str, Any] | None


def merge_evaluation(request: EvaluationsRequest, item: EvaluationItem, index: int) -> Evaluation:
    """§7.1.1: top-level subject, action, resource and context are defaults for each evaluation. A named
    tuple, not a request model: building and validating a model per item cost 3 µs of a decision."""
    subject = item.subject or request.subject
    action = item.action or request.action
    resource = item.resource or request.resource
    if subject is None or action is None or resource is None:
        missing = [name for name, value in (("subject", subject), ("action", action), ("resource", resource))
                   if value is None]
        raise AuthZenRequestError(f"evaluations.{index}: {', '.join(missing)} missing and no top-level default")
    return Evaluation(subject, action, resource, item.context if item.context is not None else request.context)


def evaluation_response(decision: Decision, explanation: dict[str, Any]) -> dict[str, Any]:
    """§6.2 response: ``decision`` plus a ``context`` with the reason object (§6.2.2) and our details."""
    return {
        "decision": decision.allowed,
        "context": {
            "id": decision.decision_id,
            "decision_id": decision.decision_id,
            "policy_rule": decision.rule,
            "reason_code": decision.reason,
            "reason_user": explanation["reason_user"],
            "reason_admin": {"en": f"rule {decision.rule}, reason {decision.reason}"},
            "facts": explanation["facts"],
            "next_steps": explanation["next_steps"],
            "obligations": explanation["obligations"],
            "emergency": decision.emergency,
        },
    }


def _fingerprint(query: BaseModel) -> str:
    data = query.model_dump(mode="json", exclude={"page"})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_page_token(query: BaseModel, position: str, limit: int) -> str:
    payload = json.dumps({"p": position, "l": limit, "q": _fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(query: BaseModel, token: str) -> tuple[str, int]:
    """(position, limit) from a page token; the query must be the one the token was issued for (§8.2)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        position, limit, fingerprint = str(payload["p"]), int(payload["l"]), str(payload["q"])
    except (ValueError, KeyError, TypeError):
        raise AuthZenRequestError("page.token is not a token this PDP issued; pass next_token unchanged") from None
    if fingerprint != _fingerprint(query):
        raise AuthZenRequestError("page.token belongs to a different query: subject, action, resource, context "
                                  "and limit must stay the same while paging")
    return position, limit


def pdp_metadata(base_url: str) -> dict[str, Any]:
    """§9 metadata; ``base_url`` is the PDP identifier (our issuer URL)."""
    return {
        "policy_decision_point": base_url,
        "access_evaluation_endpoint": f"{base_url}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base_url}/access/v1/evaluations",
        "search_subject_endpoint": f"{base_url}/access/v1/search/subject",
        "search_resource_endpoint": f"{base_url}/access/v1/search/resource",
        "search_action_endpoint": f"{base_url}/access/v1/search/action",
    }
