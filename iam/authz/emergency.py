"""Break the glass (domain.md rule 5): a clinician declares an emergency for one patient.

A declaration names an emergency purpose (``emergency: true`` in purposes.yaml, e.g. ``BTG``), a coded
reason (policies/emergency_reasons.yaml) and optional free text. It is refused (403 ``forbidden``) when
the user's account is not active, when no licensed role of theirs may break the glass for a section the
policy opens under that purpose, or when the patient has blocked the user by name: a named block is never
overridden. Otherwise it grants, for ``emergency_access_hours`` (default 4), the sections the policy opens
under the purpose; accesses under it are flagged (emergency, self-granted) in the access log; a review task
for privacy officers opens in the same transaction, together with an admin event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from audit.admin import record_admin_event
from audit.events import AdminEvent
from audit.review import open_review_task
from iam.authz import store
from iam.authz.authzen import AuthZenRequestError, subject_ref
from iam.authz.authzen import Entity as AuthZenEntity
from iam.authz.channels import AUTHZ_CHANNEL
from iam.authz.engine import DecisionEngine
from iam.authz.model import Subject, SubjectRef
from iam.authz.pip import PolicyInformationPoint
from iam.authz.schemas import EmergencyCreate, EmergencyView
from iam.authz.service import Actor
from iam.errors import APIError, Conflict, NotFound
from iam.notify import ChangeBus

__all__ = ["EmergencyAccess", "EmergencyRefused"]


def _over(view: EmergencyView, at: datetime) -> bool:
    return view.ended_at is not None or view.expires_at <= at


class EmergencyRefused(APIError):
    """The declaration is not allowed for this user and patient (403 forbidden); the message says why."""

    status = 403
    code = "forbidden"


class EmergencyAccess:
    def __init__(self, *, sessions: sessionmaker[Session], bus: ChangeBus, pip: PolicyInformationPoint,
                 engine: DecisionEngine, hours: float) -> None:
        self._sessions = sessions
        self._bus = bus
        self._pip = pip
        self._engine = engine
        self._duration = timedelta(hours=hours)

    def sections_opened(self, subject: Subject, purpose: str) -> list[str]:
        """Sections some licensed, emergency-capable role of ``subject`` may read under ``purpose``."""
        policy = self._engine.policy
        roles = policy.catalogue.roles
        usable = {a.role for a in subject.assignments
                  if a.licence_ok and a.role in roles and roles[a.role].may_declare_emergency}
        return [section for section in policy.catalogue.sections
                if any((role, section, "read", purpose) in policy.allow for role in usable)]

    def declare(self, data: EmergencyCreate, *, actor: Actor) -> EmergencyView:
        try:
            return self._declare(data, actor=actor)
        except EmergencyRefused as refused:
            # A refused attempt on a patient's record is logged like a denied access (domain.md rule 6).
            with self._sessions.begin() as session:
                record_admin_event(session, AdminEvent(
                    actor=actor.actor, action="emergency.refuse", target_type="patient", target_id=data.patient,
                    request_id=actor.request_id, client_id=actor.client_id,
                    details={"user": data.user, "purpose": data.purpose_of_use, "reason_code": data.reason_code,
                             "reason_text": data.reason_text, "refused": refused.message}))
            raise

    def _declare(self, data: EmergencyCreate, *, actor: Actor) -> EmergencyView:
        catalogue = self._engine.policy.catalogue
        purpose = catalogue.purposes.get(data.purpose_of_use)
        if purpose is None or not purpose.emergency:
            emergency = [p.code for p in catalogue.purposes.values() if p.emergency]
            raise APIError(f"purpose_of_use '{data.purpose_of_use}' is not an emergency purpose; expected one of "
                           f"{', '.join(emergency)}")
        if data.reason_code not in catalogue.emergency_reasons:
            raise APIError(f"reason_code '{data.reason_code}' is unknown; expected one of "
                           f"{', '.join(catalogue.emergency_reasons)}")
        try:
            ref = subject_ref(AuthZenEntity(type="user", id=data.user), field="user")
        except AuthZenRequestError as exc:
            raise APIError(exc.message.replace("user.id", "user")) from None
        subject = self._pip.subject(ref)
        if subject is None:
            raise APIError(f"user '{data.user}' is not known")
        if not subject.active:
            raise EmergencyRefused(f"the account of user '{data.user}' is {subject.account_status}")
        if data.acting_unit is not None and not any(
                self._pip.org.within(data.acting_unit, a.unit_id) for a in subject.assignments):
            raise EmergencyRefused(f"user '{data.user}' holds no role at unit '{data.acting_unit}'")
        facts = self._pip.patient(data.patient)
        for restriction in facts.restrictions:
            if restriction.kind == "block_person" and (
                    restriction.person_id == subject.person_id
                    or (restriction.hpr_number is not None and restriction.hpr_number == subject.hpr_number)):
                raise EmergencyRefused("the patient has blocked this user by name; breaking the glass cannot "
                                       "override a named block")
        sections = self.sections_opened(subject, purpose.code)
        if not sections:
            raise EmergencyRefused(f"no role of user '{data.user}' may break the glass under "
                                   f"{purpose.code}")
        now = datetime.now(UTC)
        declaration_id = uuid.uuid4().hex
        with self._sessions.begin() as session:
            task = open_review_task(session, kind="break_the_glass", declaration_id=declaration_id,
                                    patient=data.patient, user_id=subject.person_id, actor=actor.actor,
                                    reason=f"{data.reason_code}: {data.reason_text}".rstrip(": "))
            view = store.insert_declaration(
                session, id=declaration_id, patient=data.patient, person_id=subject.person_id,
                hpr_number=subject.hpr_number, purpose=purpose.code, reason_code=data.reason_code,
                reason_text=data.reason_text, acting_unit=data.acting_unit, declared_at=now,
                expires_at=now + self._duration, client_id=actor.client_id or actor.actor, review_task_id=task)
            record_admin_event(session, AdminEvent(
                actor=actor.actor, action="emergency.declare", target_type="emergency_declaration",
                target_id=declaration_id, request_id=actor.request_id, client_id=actor.client_id,
                details={"patient": data.patient, "person_id": subject.person_id, "purpose": purpose.code,
                         "reason_code": data.reason_code, "reason_text": data.reason_text,
                         "expires_at": view.expires_at.isoformat(), "review_task_id": task}))
            self._bus.publish(session, AUTHZ_CHANNEL, f"patient:{data.patient}")
        self._pip.invalidate_patient(data.patient)
        return view.model_copy(update={"sections": sections})

    def get(self, declaration_id: str) -> EmergencyView:
        with self._sessions() as session:
            view = store.get_declaration(session, declaration_id)
        if view is None:
            raise NotFound(f"emergency declaration '{declaration_id}' does not exist")
        if _over(view, datetime.now(UTC)):
            return view  # it opens nothing
        subject = self._pip.subject(SubjectRef("person", view.person_id))
        return view.model_copy(update={"sections": self.sections_opened(subject, view.purpose) if subject else []})

    def end(self, declaration_id: str, *, actor: Actor) -> EmergencyView:
        """End a declaration before it expires (the emergency is over)."""
        with self._sessions.begin() as session:
            view = store.get_declaration(session, declaration_id)
            if view is None:
                raise NotFound(f"emergency declaration '{declaration_id}' does not exist")
            now = datetime.now(UTC)
            if _over(view, now):
                raise Conflict(f"emergency declaration '{declaration_id}' is already over")
            store.end_declaration(session, declaration_id, at=now)
            record_admin_event(session, AdminEvent(
                actor=actor.actor, action="emergency.end", target_type="emergency_declaration",
                target_id=declaration_id, request_id=actor.request_id, client_id=actor.client_id,
                details={"patient": view.patient}))
            self._bus.publish(session, AUTHZ_CHANNEL, f"patient:{view.patient}")
            ended = store.get_declaration(session, declaration_id)
        self._pip.invalidate_patient(view.patient)
        assert ended is not None
        return ended
