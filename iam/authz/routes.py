"""HTTP binding of the decision API: AuthZEN 1.0 (§10) and break the glass. Thin: parse, call, render.

* ``GET /.well-known/authzen-configuration``: PDP metadata (open, like other discovery documents).
* ``POST /access/v1/evaluation`` / ``evaluations`` / ``search/{subject,resource,action}``: scope ``authz``.
  A deny is ``200 {"decision": false, ...}``; a malformed request is 400 ``invalid_request`` naming the field.
* ``POST /access/v1/emergency`` (201), ``GET`` / ``DELETE /access/v1/emergency/{id}``: scope ``emergency``.

The two evaluation endpoints are hot routes (:mod:`iam.http.hot`): served beneath the framework, ``async``
end to end, JSON rendered once without response models. Their FastAPI routes only document them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from iam.authz import authzen
from iam.authz.authzen import AuthZenRequestError, EvaluationRequest
from iam.authz.engine import InvalidDecisionRequest
from iam.authz.model import Decision, DecisionRequest
from iam.authz.pdp import Caller
from iam.authz.reasons import explain
from iam.authz.schemas import EmergencyCreate, EmergencyView
from iam.authz.service import Actor
from iam.errors import APIError
from iam.http.hot import HotRequest, HotResponse, HotRoute, json_response, serve_through_framework
from iam.http.middleware import request_id_of
from iam.oauth.bearer import bearer_token, require_scope, verify_bearer
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime

__all__ = ["HOT_ROUTES", "router"]

router = APIRouter(tags=["access decisions (AuthZEN)"])
_authz_scope = require_scope("authz")
_emergency_scope = require_scope("emergency")


async def _authz(request: Request) -> AccessTokenClaims:
    return _authz_scope(request, bearer_token(request), get_runtime(request))


async def _emergency(request: Request) -> AccessTokenClaims:
    return _emergency_scope(request, bearer_token(request), get_runtime(request))


def _caller(request: Request | HotRequest, claims: AccessTokenClaims) -> Caller:
    client = request.scope.get("client")
    return Caller(client_id=claims.client_id, token_jti=claims.jti, source_address=client[0] if client else None,
                  request_id=request_id_of(request.scope) or None)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), status_code=status,
                    media_type="application/json", headers={"Cache-Control": "no-store"})


def _render(runtime: Runtime, decision: Decision) -> dict[str, Any]:
    authz = runtime.authz
    return authzen.evaluation_response(decision, explain(decision, authz.policy.catalogue, authz.pip.org))


def _body_doc(name: str) -> dict[str, Any]:
    schemas: dict[str, type[BaseModel]] = {
               "EvaluationRequest": authzen.EvaluationRequest, "EvaluationsRequest": authzen.EvaluationsRequest,
               "SubjectSearchRequest": authzen.SubjectSearchRequest,
               "ResourceSearchRequest": authzen.ResourceSearchRequest,
               "ActionSearchRequest": authzen.ActionSearchRequest}
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": schemas[name].model_json_schema(ref_template="#/components/schemas/{model}")}}}}


@router.get("/.well-known/authzen-configuration", summary="AuthZEN PDP metadata (§9)")
async def metadata(request: Request) -> Response:
    return _json(authzen.pdp_metadata(get_runtime(request).settings.issuer_url))


async def evaluation(request: HotRequest) -> HotResponse:
    """POST /access/v1/evaluation (AuthZEN §6)."""
    claims = verify_bearer(request, "authz")
    runtime: Runtime = request.app.state.runtime
    query = authzen.parse(EvaluationRequest, request.body)
    decision_request = authzen.decision_request(query.subject, query.action, query.resource, query.context)
    decisions = await runtime.authz.pdp.evaluate([decision_request], _caller(request, claims))
    return json_response(_render(runtime, decisions[0]))


async def evaluations(request: HotRequest) -> HotResponse:
    """POST /access/v1/evaluations (AuthZEN §7): boxcarred evaluations with the three semantics."""
    claims = verify_bearer(request, "authz")
    runtime: Runtime = request.app.state.runtime
    query = authzen.parse(authzen.EvaluationsRequest, request.body)
    caller = _caller(request, claims)
    pdp = runtime.authz.pdp
    if not query.evaluations:
        if query.subject is None or query.action is None or query.resource is None:
            raise AuthZenRequestError("give an evaluations array, or subject, action and resource")
        single = authzen.decision_request(query.subject, query.action, query.resource, query.context)
        return json_response(_render(runtime, (await pdp.evaluate([single], caller))[0]))
    semantic = query.options.evaluations_semantic if query.options else "execute_all"
    items: list[DecisionRequest | APIError] = []
    for index, item in enumerate(query.evaluations):
        merged = authzen.merge_evaluation(query, item, index)
        try:
            mapped = authzen.decision_request(merged.subject, merged.action, merged.resource, merged.context)
            pdp.engine.check(mapped)
            items.append(mapped)
        except (AuthZenRequestError, InvalidDecisionRequest) as exc:
            items.append(exc)
    results: list[dict[str, Any]] = []
    pending: list[DecisionRequest] = []

    async def run_pending() -> bool:
        """Decide the pending requests; True when the semantic stopped early."""
        if not pending:
            return False
        decisions = await pdp.evaluate(pending, caller, semantic)
        results.extend(_render(runtime, d) for d in decisions)
        last = decisions[-1]
        stopped = len(decisions) < len(pending) or (semantic == "deny_on_first_deny" and not last.allowed) or (
            semantic == "permit_on_first_permit" and last.allowed)
        pending.clear()
        return stopped

    for entry in items:
        if isinstance(entry, APIError):
            if await run_pending():
                break
            results.append({"decision": False,
                            "context": {"error": {"status": entry.status, "message": entry.message}}})
            if semantic == "deny_on_first_deny":
                break
        else:
            pending.append(entry)
    else:
        await run_pending()
    return json_response({"evaluations": results})


HOT_ROUTES = (HotRoute("POST", "/access/v1/evaluation", evaluation),
              HotRoute("POST", "/access/v1/evaluations", evaluations, max_body=4 << 20))


@router.post("/access/v1/evaluation", summary="Access evaluation (AuthZEN §6)",
             openapi_extra=_body_doc("EvaluationRequest"))
async def evaluation_documented(request: Request) -> Response:
    return await serve_through_framework(evaluation, request)


@router.post("/access/v1/evaluations", summary="Access evaluations, boxcarred (AuthZEN §7)",
             openapi_extra=_body_doc("EvaluationsRequest"))
async def evaluations_documented(request: Request) -> Response:
    return await serve_through_framework(evaluations, request)


async def _search(request: Request, claims: AccessTokenClaims, kind: str) -> Response:
    runtime = get_runtime(request)
    body = await request.body()
    search = runtime.authz.search
    caller = _caller(request, claims)
    if kind == "subject":
        result = await run_in_threadpool(search.subjects, authzen.parse(authzen.SubjectSearchRequest, body), caller)
    elif kind == "resource":
        result = await run_in_threadpool(search.resources, authzen.parse(authzen.ResourceSearchRequest, body),
                                         caller)
    else:
        result = await run_in_threadpool(search.actions, authzen.parse(authzen.ActionSearchRequest, body), caller)
    await runtime.audit.record_many_async(result.events)
    return _json({"page": {"next_token": result.next_token, "count": len(result.results)},
                  "results": result.results})


@router.post("/access/v1/search/subject", summary="Who may act on a patient's record (AuthZEN §8.4)",
             openapi_extra=_body_doc("SubjectSearchRequest"))
async def search_subject(request: Request, claims: AccessTokenClaims = Depends(_authz)) -> Response:
    return await _search(request, claims, "subject")


@router.post("/access/v1/search/resource", summary="Which sections or patients a user may act on (AuthZEN §8.5)",
             openapi_extra=_body_doc("ResourceSearchRequest"))
async def search_resource(request: Request, claims: AccessTokenClaims = Depends(_authz)) -> Response:
    return await _search(request, claims, "resource")


@router.post("/access/v1/search/action", summary="Which actions a user may take (AuthZEN §8.6)",
             openapi_extra=_body_doc("ActionSearchRequest"))
async def search_action(request: Request, claims: AccessTokenClaims = Depends(_authz)) -> Response:
    return await _search(request, claims, "action")


def _actor(request: Request, claims: AccessTokenClaims) -> Actor:
    return Actor(actor=claims.client_id, client_id=claims.client_id, request_id=request_id_of(request.scope) or None)


@router.post("/access/v1/emergency", status_code=201, tags=["break the glass"],
             summary="Declare an emergency for one patient (break the glass)")
def declare_emergency(body: EmergencyCreate, request: Request, claims: AccessTokenClaims = Depends(_emergency),
                      runtime: Runtime = Depends(get_runtime)) -> EmergencyView:
    """Time-boxed access (``IAM_EMERGENCY_ACCESS_HOURS``, default 4) to the sections the policy opens under the
    emergency purpose; opens a review task; every access under it is flagged. Refused (403) when a named
    block applies."""
    return runtime.authz.emergency.declare(body, actor=_actor(request, claims))


@router.get("/access/v1/emergency/{declaration_id}", tags=["break the glass"], summary="One emergency declaration")
def get_emergency(declaration_id: str, claims: AccessTokenClaims = Depends(_emergency),
                  runtime: Runtime = Depends(get_runtime)) -> EmergencyView:
    return runtime.authz.emergency.get(declaration_id)


@router.delete("/access/v1/emergency/{declaration_id}", tags=["break the glass"],
               summary="End an emergency declaration before it expires")
def end_emergency(declaration_id: str, request: Request, claims: AccessTokenClaims = Depends(_emergency),
                  runtime: Runtime = Depends(get_runtime)) -> EmergencyView:
    return runtime.authz.emergency.end(declaration_id, actor=_actor(request, claims))
