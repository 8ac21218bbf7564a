"""AuthZEN search (§8): which users may act on a patient's record, which sections or patients a user may
act on, which actions a user may take. Every result is a permit of the decision engine, so feeding it back
into an evaluation gives ``decision: true`` (§8.1).

* **subject search** -- candidates are the people the patient's active relationships name (persons, HPR
  numbers, care-team members), the people with an emergency declaration for the patient, and everyone
  holding a role at, or above, a unit the patient has an active relationship with; each is decided.
* **resource search** -- with ``resource.properties.patient``: the sections of that record; without: the
  patients with an active relationship to the user's units (and the units below them), the user or their
  teams, decided for ``resource.properties.section``.
* **action search** -- the actions of the policy's vocabulary, decided one by one.

Each search writes one ``search`` event to the access log (who asked, about which patient), not one per
candidate. Paging: opaque tokens bound to the query (a changed query is refused), ``page.limit`` up to
1000 (default 50). Sync and database-bound: the routes run these in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from audit.events import AccessEvent
from iam.authz import authzen, store
from iam.authz.authzen import (
    ActionSearchRequest,
    AuthZenRequestError,
    ResourceSearchRequest,
    SubjectSearchRequest,
)
from iam.authz.model import DecisionRequest, SubjectRef
from iam.authz.pdp import Caller, PolicyDecisionPoint
from iam.authz.pip import PolicyInformationPoint

__all__ = ["DEFAULT_LIMIT", "Search", "SearchResult"]

DEFAULT_LIMIT = 50
_SCAN_BATCH = 200


@dataclass(frozen=True, slots=True)
class SearchResult:
    results: list[dict[str, Any]]
    next_token: str
    events: list[AccessEvent]


def _page(query: Any) -> tuple[str | None, int]:
    page = query.page
    limit = (page.limit if page is not None else None) or DEFAULT_LIMIT
    token = page.token or page.next_token if page is not None else None
    if token:
        position, token_limit = authzen.decode_page_token(query, token)
        if page is not None and page.limit is not None and page.limit != token_limit:
            raise AuthZenRequestError("page.limit must stay the same while paging")
        return position, token_limit
    return None, limit


class Search:
    def __init__(self, *, sessions: sessionmaker[Session], pip: PolicyInformationPoint,
                 pdp: PolicyDecisionPoint) -> None:
        self._sessions = sessions
        self._pip = pip
        self._pdp = pdp

    def _event(self, *, caller: Caller, patient: str | None, user: SubjectRef | None, data_item: str,
               purpose: str) -> AccessEvent:
        subject = self._pip.subject(user) if user is not None else None
        return AccessEvent(
            action="search", outcome="permit", patient=patient, data_item=data_item, purpose_of_use=purpose,
            user_id=subject.person_id if subject else None, user_hpr_number=subject.hpr_number if subject else None,
            user_national_id=subject.national_id if subject else None,
            user_name=subject.display_name if subject else None, client_id=caller.client_id,
            token_jti=caller.token_jti, source_address=caller.source_address, request_id=caller.request_id)

    @staticmethod
    def _offset_page(items: list[Any], query: Any, render: Callable[[Any], dict[str, Any]]) -> tuple[
            list[dict[str, Any]], str]:
        position, limit = _page(query)
        start = int(position) if position and position.isdigit() else 0
        chunk = items[start:start + limit]
        more = start + limit < len(items)
        token = authzen.encode_page_token(query, str(start + limit), limit) if more else ""
        return [render(item) for item in chunk], token

    def subjects(self, query: SubjectSearchRequest, caller: Caller) -> SearchResult:
        if query.subject.type != authzen.SUBJECT_TYPE:
            raise AuthZenRequestError(f"subject.type '{query.subject.type}' is not supported; expected "
                                      f"'{authzen.SUBJECT_TYPE}'")
        template = authzen.decision_request(
            authzen.Entity(type=authzen.SUBJECT_TYPE, id="0"), query.action, query.resource, query.context,
            default_purpose="TREAT")
        self._pdp.engine.check(template)
        now = datetime.now(UTC)
        facts = self._pip.patient(template.patient)
        with self._sessions() as session:
            persons, hprs, _ = store.people_named_for(session, template.patient, now=now)
        for hpr in hprs:
            found = self._pip.subject(SubjectRef("hpr", hpr))
            if found is not None:
                persons.add(found.person_id)
        units = {rel.unit_id for rel in facts.relationships if rel.unit_id is not None and rel.active(now)}
        persons |= self._pip.people_in_scope_of(units)
        decide = self._pdp.engine.decide
        permitted = []
        for person in sorted(persons, key=lambda p: (len(p), p)):
            request = DecisionRequest(subject=SubjectRef("person", person), patient=template.patient,
                                      section=template.section, action=template.action, purpose=template.purpose,
                                      item=template.item, data_owner=template.data_owner, at=now)
            decision = decide(request)
            if decision.allowed and decision.subject is not None:
                permitted.append(decision.subject)
        results, token = self._offset_page(permitted, query, lambda s: {
            "type": authzen.SUBJECT_TYPE, "id": s.person_id,
            "properties": {"name": s.display_name, "hpr_number": s.hpr_number}})
        event = self._event(caller=caller, patient=template.patient, user=None, purpose=template.purpose,
                            data_item=f"{template.section}/who-may-{template.action}")
        return SearchResult(results=results, next_token=token, events=[event])

    def resources(self, query: ResourceSearchRequest, caller: Caller) -> SearchResult:
        user = authzen.subject_ref(query.subject)
        if query.resource.type != authzen.RESOURCE_TYPE:
            raise AuthZenRequestError(f"resource.type '{query.resource.type}' is not supported; expected "
                                      f"'{authzen.RESOURCE_TYPE}'")
        properties = query.resource.properties or {}
        purpose = authzen.purpose_of(query.context, default="TREAT")
        # "Which sections of this patient" names the patient as the resource's id or as a property.
        field = "resource.id" if query.resource.id is not None else "resource.properties.patient"
        patient = query.resource.id if query.resource.id is not None else properties.get("patient")
        if patient is not None:
            return self._sections(query, caller, user, authzen.patient_id(patient, field=field), purpose)
        return self._patients(query, caller, user, authzen.section_of(properties), purpose)

    def _sections(self, query: ResourceSearchRequest, caller: Caller, user: SubjectRef, patient: str,
                  purpose: str) -> SearchResult:
        catalogue = self._pdp.engine.policy.catalogue
        now = datetime.now(UTC)
        permitted = []
        for section in catalogue.sections:
            request = authzen.decision_request(
                query.subject, query.action,
                authzen.Entity(type=authzen.RESOURCE_TYPE, id=patient, properties={"section": section}),
                {**(query.context or {}), "purpose_of_use": purpose})
            if self._pdp.engine.decide(DecisionRequest(
                    subject=request.subject, patient=patient, section=section, action=request.action,
                    purpose=purpose, acting_unit=request.acting_unit, at=now)).allowed:
                permitted.append(section)
        results, token = self._offset_page(permitted, query, lambda s: {
            "type": authzen.RESOURCE_TYPE, "id": patient, "properties": {"section": s}})
        event = self._event(caller=caller, patient=patient, user=user, purpose=purpose,
                            data_item=f"sections/{query.action.name}")
        return SearchResult(results=results, next_token=token, events=[event])

    def _patients(self, query: ResourceSearchRequest, caller: Caller, user: SubjectRef, section: str,
                  purpose: str) -> SearchResult:
        subject = self._pip.subject(user)
        position, limit = _page(query)
        results: list[dict[str, Any]] = []
        cursor = position
        more = False
        if subject is not None and subject.active:
            engine = self._pdp.engine
            org = self._pip.org
            units = sorted({unit for a in subject.assignments if a.licence_ok for unit in org.subtree(a.unit_id)})
            now = datetime.now(UTC)
            while len(results) < limit:
                with self._sessions() as session:
                    batch = store.patients_with_relationships(
                        session, unit_ids=units, person_id=subject.person_id, hpr_number=subject.hpr_number,
                        teams=subject.teams, now=now, after=cursor, limit=_SCAN_BATCH)
                if not batch:
                    more = False
                    break
                for patient in batch:
                    cursor = patient
                    request = DecisionRequest(subject=user, patient=patient, section=section,
                                              action=query.action.name, purpose=purpose, at=now)
                    if engine.decide(request).allowed:
                        results.append({"type": authzen.RESOURCE_TYPE, "id": patient,
                                        "properties": {"section": section}})
                        if len(results) >= limit:
                            break
                more = len(batch) == _SCAN_BATCH or patient != batch[-1]
                if len(results) >= limit:
                    break
        token = authzen.encode_page_token(query, cursor or "", limit) if more and cursor else ""
        event = self._event(caller=caller, patient=None, user=user, purpose=purpose,
                            data_item=f"patients/{section}/{query.action.name}")
        return SearchResult(results=results, next_token=token, events=[event])

    def actions(self, query: ActionSearchRequest, caller: Caller) -> SearchResult:
        catalogue = self._pdp.engine.policy.catalogue
        now = datetime.now(UTC)
        permitted = []
        template: DecisionRequest | None = None
        for action in catalogue.actions:
            request = authzen.decision_request(query.subject, authzen.Action(name=action), query.resource,
                                               query.context, default_purpose="TREAT")
            template = request
            if self._pdp.engine.decide(DecisionRequest(
                    subject=request.subject, patient=request.patient, section=request.section, action=action,
                    purpose=request.purpose, acting_unit=request.acting_unit, item=request.item,
                    data_owner=request.data_owner, at=now)).allowed:
                permitted.append(action)
        results, token = self._offset_page(permitted, query, lambda a: {"name": a})
        events = []
        if template is not None:
            events.append(self._event(caller=caller, patient=template.patient, user=template.subject,
                                      purpose=template.purpose, data_item=f"{template.section}/actions"))
        return SearchResult(results=results, next_token=token, events=events)
