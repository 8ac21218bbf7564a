"""Manual grants and revocations by administrators (the admin API), with a mandatory reason.

Rules
-----
* The role must be in the role catalogue and the unit open in the organisation register.
* A role that needs an HPR authorisation is granted only while the person holds a valid one (409 otherwise).
* A grant outside every legal entity the person currently works for is cross-organisation access: it must be
  time-limited (``valid_to``), and like every manual grant it ends when the person moves or leaves.
* Birthright grants are not revoked by hand: they follow the employments (change those in HR, or suspend the
  account). Revoking an already revoked grant is a 409.
* Every change writes an admin event and an ``identity`` notice in the caller's transaction.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from iam.errors import APIError, Conflict, NotFound
from iam.notify import ChangeBus
from provisioning.clock import hr_date
from provisioning.events import admin_event, announce
from provisioning.locking import lock_provisioning
from provisioning.models import EmploymentRow, GrantChangeRow, GrantRow, OrgUnitRow, PersonRow
from provisioning.reconcile import licence_ok
from provisioning.register import GrantChange, GrantView, grant_history
from provisioning.rules import RoleRules, default_rules
from provisioning.state import PersonScope, load_state

__all__ = ["get_grant", "grant_role", "revoke_grant"]

_PURPOSE = re.compile(r"^[A-Z][A-Z0-9_-]{0,31}$")


def get_grant(session: Session, grant_id: int, *, at: datetime) -> tuple[GrantView, list[GrantChange]]:
    """A grant with its change history, as of ``at``; NotFound when there is no such grant."""
    found = grant_history(session, grant_ids=[grant_id], at=at)
    if not found:
        raise NotFound(f"grant {grant_id} does not exist")
    return found[0]


def grant_role(session: Session, *, person_id: int, role: str, unit_id: str, reason: str, actor: str,
               purpose: str | None = None, valid_from: datetime | None = None, valid_to: datetime | None = None,
               at: datetime | None = None, rules: RoleRules | None = None, bus: ChangeBus | None = None,
               request_id: str | None = None) -> GrantView:
    """Grant ``role`` at ``unit_id`` to a person by hand; see the module docstring for what is refused."""
    at = at or utc_now()
    rules = rules or default_rules()
    lock_provisioning(session)
    if session.get(PersonRow, person_id) is None:
        raise NotFound(f"person {person_id} does not exist")
    if not reason.strip():
        raise APIError("reason must not be empty")
    if not rules.knows_role(role):
        raise APIError(f"role '{role}' is not in the role catalogue ({', '.join(rules.roles)})")
    if purpose is not None and not _PURPOSE.match(purpose):
        raise APIError(f"purpose '{purpose}' is not a purpose-of-use code such as TREAT or COC")
    unit = session.get(OrgUnitRow, unit_id)
    if unit is None or unit.closed_at is not None:
        raise APIError(f"unit {unit_id} is {'closed in' if unit else 'not in'} the organisation register")
    start = max(valid_from or at, at)
    if valid_to is not None and valid_to <= start:
        raise APIError(f"valid_to {valid_to.isoformat()} is not after valid_from {start.isoformat()}")
    entities = set(session.execute(select(EmploymentRow.legal_entity_id).where(
        EmploymentRow.person_id == person_id, EmploymentRow.removed_at.is_(None),
        (EmploymentRow.end_date.is_(None)) | (EmploymentRow.end_date >= hr_date(at)))).scalars())
    if unit.legal_entity_id not in entities and valid_to is None:
        raise APIError(f"unit {unit_id} belongs to legal entity {unit.legal_entity_id}, where person {person_id} "
                       "does not work: cross-organisation access must be time-limited (give valid_to)")
    state = load_state(session, at=at, scope=PersonScope(person_ids=[person_id]))
    person = state.persons[person_id]
    ok, why_not = licence_ok(rules, role, state.licences.get(person.hpr_number or "", []), hr_date(at))
    if not ok:
        raise Conflict(f"role '{role}' needs a valid HPR authorisation; person {person_id} has none ({why_not})")
    grant = GrantRow(person_id=person_id, role=role, unit_id=unit_id, purpose=purpose, kind="manual",
                     valid_from=start, valid_to=valid_to, source="admin", granted_by=actor, reason=reason,
                     created_at=utc_now())
    session.add(grant)
    session.flush()
    admin_event(session, actor=actor, action="grant.create", target_type="grant", target_id=str(grant.id),
                details={"person_id": person_id, "role": role, "unit_id": unit_id, "purpose": purpose,
                         "valid_from": start.isoformat(), "valid_to": valid_to.isoformat() if valid_to else None,
                         "reason": reason}, request_id=request_id)
    announce(session, [person_id], bus=bus)
    return get_grant(session, grant.id, at=at)[0]


def revoke_grant(session: Session, grant_id: int, *, reason: str, actor: str, at: datetime | None = None,
                 bus: ChangeBus | None = None, request_id: str | None = None) -> GrantView:
    """Revoke a manual grant now; see the module docstring for what is refused."""
    at = at or utc_now()
    lock_provisioning(session)
    view, changes = get_grant(session, grant_id, at=at)
    if not reason.strip():
        raise APIError("reason must not be empty")
    if view.kind == "birthright":
        raise Conflict(f"grant {grant_id} is a birthright of an employment; change the employment in the HR "
                       "source, or suspend the account")
    revoked = [c for c in changes if c.action == "revoke" and c.effective_at <= at]
    if revoked:
        raise Conflict(f"grant {grant_id} was already revoked at {revoked[0].effective_at.isoformat()}")
    if view.valid_to is not None and view.valid_to <= at:
        raise Conflict(f"grant {grant_id} already ended at {view.valid_to.isoformat()}")
    session.add(GrantChangeRow(grant_id=grant_id, person_id=view.person_id, action="revoke", effective_at=at,
                               source="admin", changed_by=actor, reason=reason, created_at=utc_now()))
    session.flush()
    admin_event(session, actor=actor, action="grant.revoke", target_type="grant", target_id=str(grant_id),
                details={"person_id": view.person_id, "role": view.role, "unit_id": view.unit_id,
                         "reason": reason}, request_id=request_id)
    announce(session, [view.person_id], bus=bus)
    return get_grant(session, grant_id, at=at)[0]

