"""Maintaining the decision engine's facts: care relationships, care teams, patient restrictions, consents
and patient flags.

Each operation is one transaction owned here: the change, its admin event in the access log (same
transaction) and a change-bus notice ``authz`` ``patient:<national id>`` (or ``person:<id>`` for team
membership) that reaches every node after commit. This node's cache is dropped at once after commit, so
a decision right after a change sees it. The region generator's clinical events load through
:meth:`CareFacts.load_relationships`, the same validation with a bulk insert.

Raises :class:`~iam.errors.APIError` subclasses: 400 for a unit or person the registers do not know,
404 for an unknown id, 409 for a duplicate id or a change to something already ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audit.admin import record_admin_event
from audit.events import AdminEvent
from iam.authz import store
from iam.authz.channels import AUTHZ_CHANNEL
from iam.authz.model import SubjectRef
from iam.authz.pip import PolicyInformationPoint
from iam.authz.schemas import (
    CareRelationshipCreate,
    CareRelationshipEnd,
    CareRelationshipView,
    ConsentCreate,
    ConsentView,
    Page,
    PatientFlags,
    RestrictionCreate,
    RestrictionLift,
    RestrictionView,
    TeamMemberView,
)
from iam.errors import APIError, Conflict, NotFound
from iam.notify import RESYNC, ChangeBus

__all__ = ["Actor", "CareFacts"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: the client application (and the person, when the client says so)."""

    actor: str
    client_id: str | None = None
    request_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class CareFacts:
    def __init__(self, *, sessions: sessionmaker[Session], bus: ChangeBus, pip: PolicyInformationPoint) -> None:
        self._sessions = sessions
        self._bus = bus
        self._pip = pip

    # --- helpers -------------------------------------------------------------------------------------------
    def _check_unit(self, unit_id: str | None, field: str) -> None:
        if unit_id is not None and unit_id not in self._pip.org:
            raise APIError(f"{field} '{unit_id}' is not in the organisation register")

    def _check_person(self, person_id: str | None, field: str) -> None:
        if person_id is not None and self._pip.subject(SubjectRef("person", person_id)) is None:
            raise APIError(f"{field} '{person_id}' is not a known person")

    def _audit(self, session: Session, actor: Actor, action: str, target_type: str, target_id: str,
               details: dict[str, Any]) -> None:
        record_admin_event(session, AdminEvent(actor=actor.actor, action=action, target_type=target_type,
                                               target_id=target_id, details=details, request_id=actor.request_id,
                                               client_id=actor.client_id))

    def _changed(self, session: Session, patient: str) -> None:
        self._bus.publish(session, AUTHZ_CHANNEL, f"patient:{patient}")

    # --- care relationships --------------------------------------------------------------------------------
    def register_relationship(self, data: CareRelationshipCreate, *, actor: Actor) -> CareRelationshipView:
        self._check_unit(data.unit_id, "unit_id")
        self._check_person(data.person_id, "person_id")
        valid_from = data.valid_from or _now()
        if data.valid_to is not None and data.valid_to <= valid_from:
            raise APIError(f"valid_to {data.valid_to.isoformat()} must be after valid_from {valid_from.isoformat()}")
        relationship_id = data.id or uuid.uuid4().hex
        try:
            with self._sessions.begin() as session:
                if store.get_relationship(session, relationship_id) is not None:
                    raise Conflict(f"care relationship '{relationship_id}' already exists")
                view = store.insert_relationship(
                    session, id=relationship_id, patient=data.patient, kind=data.kind, unit_id=data.unit_id,
                    person_id=data.person_id, practitioner_hpr=data.practitioner_hpr, team_id=data.team_id,
                    valid_from=valid_from, valid_to=data.valid_to, source=actor.client_id or actor.actor,
                    created_at=_now(), created_by=actor.actor)
                self._audit(session, actor, "care_relationship.register", "care_relationship", relationship_id,
                            view.model_dump(mode="json", include={"patient", "kind", "unit_id", "person_id",
                                                                  "practitioner_hpr", "team_id", "valid_from",
                                                                  "valid_to"}))
                self._changed(session, data.patient)
        except IntegrityError:
            raise Conflict(f"care relationship '{relationship_id}' already exists") from None
        self._pip.invalidate_patient(data.patient)
        return view

    def end_relationship(self, relationship_id: str, data: CareRelationshipEnd, *,
                         actor: Actor) -> CareRelationshipView:
        with self._sessions.begin() as session:
            current = store.get_relationship(session, relationship_id)
            if current is None:
                raise NotFound(f"care relationship '{relationship_id}' does not exist")
            if current.ended_at is not None:
                raise Conflict(f"care relationship '{relationship_id}' already ended at "
                               f"{current.ended_at.isoformat()}")
            ended_at = data.ended_at or _now()
            store.end_relationship(session, relationship_id, at=ended_at, by=actor.actor, reason=data.reason)
            self._audit(session, actor, "care_relationship.end", "care_relationship", relationship_id,
                        {"patient": current.patient, "ended_at": ended_at.isoformat(), "reason": data.reason})
            self._changed(session, current.patient)
            view = store.get_relationship(session, relationship_id)
        self._pip.invalidate_patient(current.patient)
        assert view is not None
        return view

    def get_relationship(self, relationship_id: str) -> CareRelationshipView:
        with self._sessions() as session:
            view = store.get_relationship(session, relationship_id)
        if view is None:
            raise NotFound(f"care relationship '{relationship_id}' does not exist")
        return view

    def list_relationships(self, *, patient: str | None, unit_id: str | None, active: bool, cursor: str | None,
                           limit: int) -> Page[CareRelationshipView]:
        if patient is None and unit_id is None:
            raise APIError("give patient or unit_id to list care relationships")
        with self._sessions() as session:
            items = store.list_relationships(session, patient=patient, unit_id=unit_id,
                                             active_at=_now() if active else None, after=cursor, limit=limit + 1)
        more = len(items) > limit
        items = items[:limit]
        return Page[CareRelationshipView](items=items, next_cursor=items[-1].id if more else None)

    def load_relationships(self, rows: Iterable[dict[str, Any]], *, actor: Actor, batch: int = 5000) -> int:
        """Bulk path for clinical-event files: the same checks as registering one, inserted in batches of
        ``batch`` rows per transaction, with one admin event per batch and one ``*`` notice at the end.
        Each row has the keys of :class:`CareRelationshipCreate`. Returns the number loaded."""
        org = self._pip.org
        total = 0
        pending: list[dict[str, Any]] = []

        def flush() -> None:
            with self._sessions.begin() as session:
                store.bulk_insert_relationships(session, pending)
                self._audit(session, actor, "care_relationship.load", "care_relationship", pending[0]["id"],
                            {"count": len(pending), "first": pending[0]["id"], "last": pending[-1]["id"]})
            pending.clear()

        for raw in rows:
            data = CareRelationshipCreate.model_validate(raw)
            if data.unit_id is not None and data.unit_id not in org:
                raise APIError(f"care relationship {data.id}: unit_id '{data.unit_id}' is not in the "
                               "organisation register")
            valid_from = data.valid_from or _now()
            pending.append({"id": data.id or uuid.uuid4().hex, "patient": data.patient, "kind": data.kind,
                            "unit_id": data.unit_id, "person_id": data.person_id,
                            "practitioner_hpr": data.practitioner_hpr, "team_id": data.team_id,
                            "valid_from": valid_from, "valid_to": data.valid_to,
                            "source": actor.client_id or actor.actor, "created_at": _now(),
                            "created_by": actor.actor})
            total += 1
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        with self._sessions.begin() as session:
            self._bus.publish(session, AUTHZ_CHANNEL, RESYNC)
        self._pip.invalidate_all()
        return total

    def load_flags(self, flags: dict[str, tuple[bool, bool]], *, actor: Actor) -> int:
        """Bulk path for patient flags (confidential address, well known) from the population register."""
        with self._sessions.begin() as session:
            store.bulk_upsert_flags(session, flags, at=_now())
            self._audit(session, actor, "patient_flags.load", "patient_flags", "bulk",
                        {"count": len(flags),
                         "confidential_address": sum(1 for c, _ in flags.values() if c),
                         "well_known": sum(1 for _, w in flags.values() if w)})
            self._bus.publish(session, AUTHZ_CHANNEL, RESYNC)
        self._pip.invalidate_all()
        return len(flags)

    # --- care teams ----------------------------------------------------------------------------------------
    def add_team_member(self, team_id: str, person_id: str, *, actor: Actor) -> TeamMemberView:
        self._check_person(person_id, "person_id")
        with self._sessions.begin() as session:
            view = store.add_team_member(session, team_id=team_id, person_id=person_id, by=actor.actor, at=_now())
            self._audit(session, actor, "care_team.add_member", "care_team", team_id, {"person_id": person_id})
            self._bus.publish(session, AUTHZ_CHANNEL, f"person:{person_id}")
        self._pip.invalidate_person(person_id)
        return view

    def remove_team_member(self, team_id: str, person_id: str, *, actor: Actor) -> None:
        with self._sessions.begin() as session:
            if not store.remove_team_member(session, team_id=team_id, person_id=person_id):
                raise NotFound(f"person '{person_id}' is not a member of care team '{team_id}'")
            self._audit(session, actor, "care_team.remove_member", "care_team", team_id, {"person_id": person_id})
            self._bus.publish(session, AUTHZ_CHANNEL, f"person:{person_id}")
        self._pip.invalidate_person(person_id)

    def list_team_members(self, team_id: str) -> list[TeamMemberView]:
        with self._sessions() as session:
            return store.list_team_members(session, team_id)

    # --- restrictions and consents -------------------------------------------------------------------------
    def create_restriction(self, data: RestrictionCreate, *, actor: Actor) -> RestrictionView:
        self._check_unit(data.unit_id, "unit_id")
        self._check_person(data.person_id, "person_id")
        person_id = data.person_id
        if data.kind == "block_person" and person_id is None and data.hpr_number is not None:
            # Resolve the HPR number now, so the block also matches requests naming the person by id.
            found = self._pip.subject(SubjectRef("hpr", data.hpr_number))
            person_id = found.person_id if found is not None else None
        restriction_id = uuid.uuid4().hex
        with self._sessions.begin() as session:
            view = store.insert_restriction(
                session, id=restriction_id, patient=data.patient, kind=data.kind, person_id=person_id,
                hpr_number=data.hpr_number, unit_id=data.unit_id, item_id=data.item_id, reason=data.reason,
                requested_by=data.requested_by, created_at=_now(), created_by=actor.actor)
            self._audit(session, actor, "restriction.create", "restriction", restriction_id,
                        view.model_dump(mode="json", include={"patient", "kind", "person_id", "hpr_number",
                                                              "unit_id", "item_id", "requested_by"}))
            self._changed(session, data.patient)
        self._pip.invalidate_patient(data.patient)
        return view

    def _restriction(self, session: Session, restriction_id: str) -> RestrictionView:
        view = store.get_restriction(session, restriction_id)
        if view is None:
            raise NotFound(f"restriction '{restriction_id}' does not exist")
        return view

    def lift_restriction(self, restriction_id: str, data: RestrictionLift, *, actor: Actor) -> RestrictionView:
        with self._sessions.begin() as session:
            current = self._restriction(session, restriction_id)
            if current.lifted_at is not None:
                raise Conflict(f"restriction '{restriction_id}' was already lifted at {current.lifted_at.isoformat()}")
            store.lift_restriction(session, restriction_id, at=_now(), by=actor.actor, reason=data.reason)
            self._audit(session, actor, "restriction.lift", "restriction", restriction_id,
                        {"patient": current.patient, "kind": current.kind, "reason": data.reason})
            self._changed(session, current.patient)
            view = self._restriction(session, restriction_id)
        self._pip.invalidate_patient(current.patient)
        return view

    def list_restrictions(self, patient: str, *, include_lifted: bool) -> list[RestrictionView]:
        with self._sessions() as session:
            return store.list_restrictions(session, patient=patient, include_lifted=include_lifted)

    def record_consent(self, restriction_id: str, data: ConsentCreate, *, actor: Actor) -> ConsentView:
        self._check_unit(data.unit_id, "unit_id")
        self._check_person(data.person_id, "person_id")
        valid_from = data.valid_from or _now()
        if data.valid_to is not None and data.valid_to <= valid_from:
            raise APIError(f"valid_to {data.valid_to.isoformat()} must be after valid_from {valid_from.isoformat()}")
        with self._sessions.begin() as session:
            restriction = self._restriction(session, restriction_id)
            if restriction.lifted_at is not None:
                raise Conflict(f"restriction '{restriction_id}' is lifted; a consent cannot open it")
            if restriction.kind == "block_person":
                raise Conflict("a named block cannot be opened by consent; the patient lifts it instead")
            consent_id = uuid.uuid4().hex
            view = store.insert_consent(
                session, id=consent_id, restriction_id=restriction_id, patient=restriction.patient,
                person_id=data.person_id, hpr_number=data.hpr_number, unit_id=data.unit_id, valid_from=valid_from,
                valid_to=data.valid_to, reference=data.reference, recorded_at=_now(), recorded_by=actor.actor)
            self._audit(session, actor, "consent.record", "consent", consent_id,
                        view.model_dump(mode="json", include={"restriction_id", "patient", "person_id",
                                                              "hpr_number", "unit_id", "valid_from", "valid_to",
                                                              "reference"}))
            self._changed(session, restriction.patient)
        self._pip.invalidate_patient(restriction.patient)
        return view

    def revoke_consent(self, restriction_id: str, consent_id: str, *, actor: Actor) -> ConsentView:
        with self._sessions.begin() as session:
            view = store.revoke_consent(session, consent_id, restriction_id=restriction_id, at=_now())
            if view is None:
                raise NotFound(f"consent '{consent_id}' of restriction '{restriction_id}' does not exist")
            self._audit(session, actor, "consent.revoke", "consent", consent_id, {"patient": view.patient})
            self._changed(session, view.patient)
        self._pip.invalidate_patient(view.patient)
        return view

    def list_consents(self, restriction_id: str) -> list[ConsentView]:
        with self._sessions() as session:
            self._restriction(session, restriction_id)
            return store.list_consents(session, restriction_id)

    # --- patient flags -------------------------------------------------------------------------------------
    def set_flags(self, patient: str, flags: PatientFlags, *, actor: Actor) -> PatientFlags:
        with self._sessions.begin() as session:
            store.set_flags(session, patient, confidential_address=flags.confidential_address,
                            well_known=flags.well_known, at=_now())
            self._audit(session, actor, "patient_flags.set", "patient", patient, flags.model_dump())
            self._changed(session, patient)
        self._pip.invalidate_patient(patient)
        return flags
