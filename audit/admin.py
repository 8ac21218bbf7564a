"""Admin events (grants, restrictions, persons, policies, provisioning runs) into the same log.

:func:`record_admin_event` writes the event in the *caller's* transaction (house style: the audit record
commits or rolls back together with the change it records), into ``audit_admin_inbox``. The log writer
seals inbox rows into the hash chain in its next batch (within about a quarter of a second, or at once
with ``AccessLog.flush()``), in the order they were committed. Sealing later, rather than taking the
chain's lock here, is deliberate: a provisioning run may hold its transaction for seconds, and holding
the chain's lock that long would stall every access decision.
"""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from audit.events import AdminEvent, new_event_id
from audit.models import AdminInboxRow
from iam.db.base import utc_now

__all__ = ["record_admin_event"]


def record_admin_event(session: Session, event: AdminEvent) -> str:
    """Add ``event`` to the caller's transaction and return its event id; the caller commits.

    Nothing is logged if the caller rolls back. Raises ``TypeError``/``ValueError`` when ``details`` cannot
    be serialised as JSON (checked here, so a bad event fails the change rather than the log).
    """
    supplied = event.event_id is not None
    if not supplied:
        event = event.model_copy(update={"event_id": new_event_id()})
    assert event.event_id is not None
    session.execute(insert(AdminInboxRow).values(
        event_id=event.event_id, supplied=supplied, occurred_at=event.occurred_at,
        body=event.model_dump_json(), created_at=utc_now(),
    ))
    return event.event_id
