"""Admin API for identities and grants under ``/admin/v1`` (scope ``admin``). HTTP only: the services decide.

Reads: persons (search), one person with account, employments and current roles, employments, accounts with
status history, grants in force at any moment (``as_of``: a date means 00:00 Oslo time) and each grant's
history. Changes (manual grant and revocation, account suspension, reinstatement, disabling) need a reason,
write an admin event and notify the decision engine and token service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from iam.errors import NotFound
from iam.http.middleware import request_id_of
from iam.notify import ChangeBus
from iam.oauth.bearer import require_scope
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime
from provisioning.accounts import disable_account, reinstate_account, suspend_account
from provisioning.clock import hr_date
from provisioning.directory import find_persons, get_account, get_person, list_employments
from provisioning.grants import get_grant, grant_role, revoke_grant
from provisioning.register import grant_history, grants_in_force
from provisioning.schemas import (
    AccountOut,
    EmploymentOut,
    GrantCreate,
    GrantOut,
    GrantPage,
    PersonDetail,
    PersonOut,
    PersonPage,
    ReasonIn,
    parse_as_of,
)

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1", tags=["provisioning"])
Admin = Depends(require_scope("admin"))
AS_OF = Query(None, description="A date (00:00 Oslo time) or an ISO 8601 date-time with zone; default now.")


class AccountChanger(Protocol):
    def __call__(self, session: Session, person_id: int, /, *, reason: str, at: datetime, actor: str,
                 bus: ChangeBus | None, request_id: str | None) -> str: ...


def _actor(claims: AccessTokenClaims) -> str:
    return f"client:{claims.client_id}"


@router.get("/persons", summary="Find persons")
def list_persons(
    national_id: str | None = None, hpr_number: str | None = None, employee_id: str | None = None,
    name: str | None = Query(None, description="Part of the full name, case-insensitive."),
    after: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000),
    _: AccessTokenClaims = Admin, runtime: Runtime = Depends(get_runtime),
) -> PersonPage:
    with runtime.sessions() as session:
        people = find_persons(session, national_id=national_id, hpr_number=hpr_number, employee_id=employee_id,
                              name=name, after_id=after, limit=limit)
    return PersonPage(items=[PersonOut.of(p) for p in people],
                      next_after=people[-1].id if len(people) == limit else None)


@router.get("/persons/{person_id}", summary="One person with account, employments and current roles")
def read_person(person_id: int, _: AccessTokenClaims = Admin, runtime: Runtime = Depends(get_runtime)) -> PersonDetail:
    now = utc_now()
    with runtime.sessions() as session:
        person = get_person(session, person_id)
        try:
            account = AccountOut.of(get_account(session, person_id))
        except NotFound:
            account = None
        employments = [EmploymentOut.of(e) for e in list_employments(session, person_id, today=hr_date(now))]
        roles = [GrantOut.of(g, at=now) for g in grants_in_force(session, at=now, person_id=person_id)]
    return PersonDetail(**PersonOut.of(person).model_dump(), account=account, employments=employments, roles=roles)


@router.get("/persons/{person_id}/employments", summary="Every employment of a person, removed ones included")
def read_employments(person_id: int, _: AccessTokenClaims = Admin,
                     runtime: Runtime = Depends(get_runtime)) -> list[EmploymentOut]:
    with runtime.sessions() as session:
        return [EmploymentOut.of(e) for e in list_employments(session, person_id, today=hr_date(utc_now()))]


@router.get("/persons/{person_id}/account", summary="A person's account and its status history")
def read_account(person_id: int, _: AccessTokenClaims = Admin, runtime: Runtime = Depends(get_runtime)) -> AccountOut:
    with runtime.sessions() as session:
        return AccountOut.of(get_account(session, person_id))


def _change_account(change: AccountChanger, person_id: int, body: ReasonIn, request: Request,
                    claims: AccessTokenClaims, runtime: Runtime) -> AccountOut:
    with runtime.sessions.begin() as session:
        change(session, person_id, reason=body.reason, at=utc_now(), actor=_actor(claims), bus=runtime.bus,
               request_id=request_id_of(request.scope) or None)
    with runtime.sessions() as session:
        return AccountOut.of(get_account(session, person_id))


@router.post("/persons/{person_id}/account/suspend", summary="Suspend an account: tokens die, roles stop")
def suspend(person_id: int, body: ReasonIn, request: Request, claims: AccessTokenClaims = Admin,
            runtime: Runtime = Depends(get_runtime)) -> AccountOut:
    return _change_account(suspend_account, person_id, body, request, claims, runtime)


@router.post("/persons/{person_id}/account/reinstate", summary="Lift an administrator's suspension or disabling")
def reinstate(person_id: int, body: ReasonIn, request: Request, claims: AccessTokenClaims = Admin,
              runtime: Runtime = Depends(get_runtime)) -> AccountOut:
    return _change_account(reinstate_account, person_id, body, request, claims, runtime)


@router.post("/persons/{person_id}/account/disable", summary="Disable an account until reinstated")
def disable(person_id: int, body: ReasonIn, request: Request, claims: AccessTokenClaims = Admin,
            runtime: Runtime = Depends(get_runtime)) -> AccountOut:
    return _change_account(disable_account, person_id, body, request, claims, runtime)


@router.get("/persons/{person_id}/grants", summary="A person's grants: in force at as_of, or the whole history")
def read_person_grants(
    person_id: int, as_of: str | None = AS_OF,
    history: bool = Query(False, description="Every grant ever, with its revocations and suspensions."),
    _: AccessTokenClaims = Admin, runtime: Runtime = Depends(get_runtime),
) -> GrantPage:
    at = parse_as_of(as_of, default=utc_now())
    with runtime.sessions() as session:
        get_person(session, person_id)
        if history:
            items = [GrantOut.of(view, at=at, changes=changes)
                     for view, changes in grant_history(session, person_id=person_id, at=at)]
        else:
            items = [GrantOut.of(view, at=at) for view in grants_in_force(session, at=at, person_id=person_id)]
    return GrantPage(as_of=at, items=items, next_after=None)


@router.get("/grants", summary="Who held which role where at as_of")
def read_grants(
    as_of: str | None = AS_OF, person_id: int | None = None, role: str | None = None,
    unit_id: str | None = Query(None, description="Exact unit the grant is scoped to."),
    after: int = Query(0, ge=0), limit: int = Query(500, ge=1, le=5000),
    _: AccessTokenClaims = Admin, runtime: Runtime = Depends(get_runtime),
) -> GrantPage:
    at = parse_as_of(as_of, default=utc_now())
    with runtime.sessions() as session:
        views = grants_in_force(session, at=at, person_id=person_id, role=role, unit_id=unit_id, after_id=after,
                                limit=limit)
    return GrantPage(as_of=at, items=[GrantOut.of(v, at=at) for v in views],
                     next_after=views[-1].id if len(views) == limit else None)


@router.get("/grants/{grant_id}", summary="One grant with its history")
def read_grant(grant_id: int, as_of: str | None = AS_OF, _: AccessTokenClaims = Admin,
               runtime: Runtime = Depends(get_runtime)) -> GrantOut:
    at = parse_as_of(as_of, default=utc_now())
    with runtime.sessions() as session:
        view, changes = get_grant(session, grant_id, at=at)
    return GrantOut.of(view, at=at, changes=changes)


@router.post("/grants", status_code=201, summary="Grant a role by hand (reason required)")
def create_grant(body: GrantCreate, request: Request, claims: AccessTokenClaims = Admin,
                 runtime: Runtime = Depends(get_runtime)) -> GrantOut:
    at = utc_now()
    with runtime.sessions.begin() as session:
        view = grant_role(session, person_id=body.person_id, role=body.role, unit_id=body.unit_id,
                          reason=body.reason, actor=_actor(claims), purpose=body.purpose,
                          valid_from=body.valid_from, valid_to=body.valid_to, at=at, bus=runtime.bus,
                          request_id=request_id_of(request.scope) or None)
    return GrantOut.of(view, at=max(at, view.valid_from), changes=[])


@router.post("/grants/{grant_id}/revoke", summary="Revoke a manual grant now (reason required)")
def revoke(grant_id: int, body: ReasonIn, request: Request, claims: AccessTokenClaims = Admin,
           runtime: Runtime = Depends(get_runtime)) -> GrantOut:
    at = utc_now()
    with runtime.sessions.begin() as session:
        revoke_grant(session, grant_id, reason=body.reason, actor=_actor(claims), at=at, bus=runtime.bus,
                     request_id=request_id_of(request.scope) or None)
        view, changes = get_grant(session, grant_id, at=at)
    return GrantOut.of(view, at=at, changes=changes)
