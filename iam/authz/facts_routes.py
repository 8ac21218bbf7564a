"""HTTP API maintaining the decision engine's facts, for clinical systems and the patient portal (scope
``authz``): care relationships, care-team members, patient restrictions and consents, patient flags, and
the policy in force. Thin: each route calls :class:`iam.authz.service.CareFacts` and returns its view.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from iam.authz.schemas import (
    CareRelationshipCreate,
    CareRelationshipEnd,
    CareRelationshipView,
    ConsentCreate,
    ConsentView,
    NationalId,
    Page,
    PatientFlags,
    RestrictionCreate,
    RestrictionLift,
    RestrictionView,
    TeamMemberView,
)
from iam.authz.service import Actor, CareFacts
from iam.http.middleware import request_id_of
from iam.oauth.bearer import require_scope
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime

__all__ = ["router"]

router = APIRouter(prefix="/authz/v1", tags=["care relationships and restrictions"])
Claims = Annotated[AccessTokenClaims, Depends(require_scope("authz"))]


def _facts(runtime: Runtime = Depends(get_runtime)) -> CareFacts:
    return runtime.authz.facts


Facts = Annotated[CareFacts, Depends(_facts)]


def _actor(request: Request, claims: AccessTokenClaims) -> Actor:
    return Actor(actor=claims.client_id, client_id=claims.client_id, request_id=request_id_of(request.scope) or None)


@router.post("/care-relationships", status_code=201, summary="Register a care relationship")
def register_relationship(body: CareRelationshipCreate, request: Request, claims: Claims,
                          facts: Facts) -> CareRelationshipView:
    return facts.register_relationship(body, actor=_actor(request, claims))


@router.get("/care-relationships", summary="List care relationships of a patient or a unit")
def list_relationships(claims: Claims, facts: Facts, patient: str | None = None,
                       unit_id: Annotated[str | None, Query(pattern=r"^[0-9]{9}$")] = None,
                       active: bool = False, cursor: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> Page[CareRelationshipView]:
    return facts.list_relationships(patient=patient, unit_id=unit_id, active=active, cursor=cursor, limit=limit)


@router.get("/care-relationships/{relationship_id}", summary="One care relationship")
def get_relationship(relationship_id: str, claims: Claims, facts: Facts) -> CareRelationshipView:
    return facts.get_relationship(relationship_id)


@router.post("/care-relationships/{relationship_id}/end", summary="End a care relationship")
def end_relationship(relationship_id: str, body: CareRelationshipEnd, request: Request, claims: Claims,
                     facts: Facts) -> CareRelationshipView:
    return facts.end_relationship(relationship_id, body, actor=_actor(request, claims))


@router.get("/care-teams/{team_id}/members", summary="Members of a care team")
def list_team_members(team_id: str, claims: Claims, facts: Facts) -> list[TeamMemberView]:
    return facts.list_team_members(team_id)


@router.put("/care-teams/{team_id}/members/{person_id}", summary="Add a person to a care team")
def add_team_member(team_id: str, person_id: str, request: Request, claims: Claims, facts: Facts) -> TeamMemberView:
    return facts.add_team_member(team_id, person_id, actor=_actor(request, claims))


@router.delete("/care-teams/{team_id}/members/{person_id}", status_code=204,
               summary="Remove a person from a care team")
def remove_team_member(team_id: str, person_id: str, request: Request, claims: Claims, facts: Facts) -> Response:
    facts.remove_team_member(team_id, person_id, actor=_actor(request, claims))
    return Response(status_code=204)


@router.post("/restrictions", status_code=201, summary="Create a patient restriction")
def create_restriction(body: RestrictionCreate, request: Request, claims: Claims, facts: Facts) -> RestrictionView:
    return facts.create_restriction(body, actor=_actor(request, claims))


@router.get("/restrictions", summary="A patient's restrictions")
def list_restrictions(patient: str, claims: Claims, facts: Facts,
                      include_lifted: bool = False) -> list[RestrictionView]:
    return facts.list_restrictions(patient, include_lifted=include_lifted)


@router.post("/restrictions/{restriction_id}/lift", summary="Lift a patient restriction")
def lift_restriction(restriction_id: str, body: RestrictionLift, request: Request, claims: Claims,
                     facts: Facts) -> RestrictionView:
    return facts.lift_restriction(restriction_id, body, actor=_actor(request, claims))


@router.post("/restrictions/{restriction_id}/consents", status_code=201,
             summary="Record the patient's consent opening a restriction")
def record_consent(restriction_id: str, body: ConsentCreate, request: Request, claims: Claims,
                   facts: Facts) -> ConsentView:
    return facts.record_consent(restriction_id, body, actor=_actor(request, claims))


@router.get("/restrictions/{restriction_id}/consents", summary="Consents recorded for a restriction")
def list_consents(restriction_id: str, claims: Claims, facts: Facts) -> list[ConsentView]:
    return facts.list_consents(restriction_id)


@router.post("/restrictions/{restriction_id}/consents/{consent_id}/revoke", summary="Revoke a consent")
def revoke_consent(restriction_id: str, consent_id: str, request: Request, claims: Claims,
                   facts: Facts) -> ConsentView:
    return facts.revoke_consent(restriction_id, consent_id, actor=_actor(request, claims))


@router.put("/patients/{patient}/flags", summary="Set a patient's confidential-address and well-known flags")
def set_flags(patient: NationalId, body: PatientFlags, request: Request, claims: Claims,
              facts: Facts) -> PatientFlags:
    return facts.set_flags(patient, body, actor=_actor(request, claims))


@router.get("/policy", summary="The policy in force on this node")
def policy(claims: Claims, runtime: Runtime = Depends(get_runtime)) -> dict[str, Any]:
    compiled = runtime.authz.policy
    catalogue = compiled.catalogue
    return {"version": compiled.version, "published_version_id": runtime.authz.policy_version_id,
            "lines": len(compiled.lines), "purposes": list(catalogue.purposes), "sections": list(catalogue.sections),
            "actions": list(catalogue.actions), "roles": list(catalogue.roles)}
