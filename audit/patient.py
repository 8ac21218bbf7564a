"""The patient's access report (domain rules 7 and 10), for the patient portal.

Shown: staff name and role, organisation, point of care and unit (ids and names), time, the coded purpose
and its plain-language name, whether data were changed, emergency access, and proxy use. Never shown:
staff national ids, HPR numbers, internal person ids, free-text reasons, client ids, token ids, addresses.
The report is built from :class:`PatientAccess`, which has no field for any of those, so nothing can leak
by accident.

Whose report a token may read: the token's ``patient`` claim (set by the portal when it exchanges the
user's login for a patient-bound token), or, without that claim, its ``sub``. Any other national id is
403 ``forbidden``. Proxy access appears under both identities: in the represented person's report (as an
access to their record, ``acted_for`` set) and in the proxy's own report (``as_proxy`` true).
"""

from __future__ import annotations

from sqlalchemy import column, or_, select, table
from sqlalchemy.orm import Session

from audit.errors import PatientMismatch
from audit.models import AuditEventRow
from audit.purposes import purpose_name
from audit.query import LoggedEvent, patient_events
from audit.schemas import PatientAccess, PatientReport
from iam.oauth.rfc9068 import AccessTokenClaims

__all__ = ["access_report", "check_own_patient", "in_report"]


def check_own_patient(claims: AccessTokenClaims, national_id: str) -> None:
    """Raise PatientMismatch unless the token is bound to ``national_id``."""
    bound = claims.extra.get("patient")
    own = bound if isinstance(bound, str) else claims.subject
    if own != national_id:
        raise PatientMismatch("this token may read the access report of its own patient only")


def _unit_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Names of organisation units from the organisation register, when provisioning has loaded it."""
    if not ids:
        return {}
    units = table("org_units", column("unit_id"), column("name"))  # the organisation register (provisioning)
    rows = session.execute(select(units.c.unit_id, units.c.name).where(units.c.unit_id.in_(sorted(ids)))).all()
    return {str(unit_id): str(name) for unit_id, name in rows}


def _line(event: LoggedEvent, national_id: str, names: dict[str, str]) -> PatientAccess:
    purpose = purpose_name(event.purpose_of_use)

    def named(unit: str | None) -> str | None:
        return None if unit is None else names.get(unit, unit)

    as_proxy = event.proxy_for is not None and event.patient != national_id
    return PatientAccess(
        event_id=event.event_id, time=event.occurred_at, staff_name=event.user_name, role=event.role,
        organisation=named(event.legal_entity), point_of_care=named(event.point_of_care),
        unit=named(event.department), data_item=event.data_item, action=event.action,
        outcome=event.outcome or "permit", purpose_of_use=event.purpose_of_use,
        purpose=purpose.nb if purpose else None, emergency=event.emergency, changed=bool(event.changed),
        acted_for=event.proxy_for, as_proxy=as_proxy,
    )


def access_report(session: Session, national_id: str, *, limit: int, cursor: str | None) -> PatientReport:
    page = patient_events(session, national_id, limit=limit, cursor=cursor)
    units = {unit for event in page.events
             for unit in (event.legal_entity, event.point_of_care, event.department) if unit is not None}
    names = _unit_names(session, units)
    return PatientReport(patient=national_id, accesses=[_line(event, national_id, names) for event in page.events],
                         next_cursor=page.next_cursor)


def in_report(session: Session, national_id: str, event_id: str) -> bool:
    """Is ``event_id`` one of the lines of this person's report?"""
    found = session.scalar(select(AuditEventRow.seq).where(
        AuditEventRow.event_id == event_id, AuditEventRow.kind == "access",
        or_(AuditEventRow.patient == national_id,
            (AuditEventRow.user_national_id == national_id) & AuditEventRow.proxy_for.is_not(None))).limit(1))
    return found is not None
