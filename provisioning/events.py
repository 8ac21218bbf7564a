"""Admin events and change notices for provisioning changes, written in the caller's transaction.

* Every change writes an admin event into the access log through :func:`audit.admin.record_admin_event`:
  one per admin action (manual grant, revocation, account suspension...) and one per provisioning run
  (import, tick, licence check) with its counts; the run's individual changes are in the grant register
  and ``account_status_changes``, which the event names by source and time.
* Every change to a person's grants, account status or licences publishes ``person:<id>`` on the change bus
  channel ``identity``; above :data:`BULK_NOTICES` people one ``*`` ("reload everything") is sent instead.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from audit.admin import record_admin_event
from audit.events import AdminEvent
from iam.notify import RESYNC, ChangeBus

__all__ = ["BULK_NOTICES", "CHANNEL", "admin_event", "announce", "announce_all"]

CHANNEL = "identity"
BULK_NOTICES = 1000


def admin_event(session: Session, *, actor: str, action: str, target_type: str, target_id: str | None,
                details: dict[str, Any], request_id: str | None = None, client_id: str | None = None) -> str:
    """Record one admin event in the caller's transaction; return its event id."""
    event = AdminEvent(actor=actor[:128] or "unknown", action=action, target_type=target_type,
                       target_id=target_id, details=details, request_id=request_id, client_id=client_id)
    return record_admin_event(session, event)


def _bus_for(session: Session, bus: ChangeBus | None) -> ChangeBus:
    if bus is not None:
        return bus
    bind = session.get_bind()
    return ChangeBus(bind if isinstance(bind, Engine) else bind.engine)


def announce_all(session: Session, *, bus: ChangeBus | None = None) -> None:
    """Publish ``*`` on ``identity``: subscribers reload everything (e.g. after the org register changed)."""
    _bus_for(session, bus).publish(session, CHANNEL, RESYNC)


def announce(session: Session, person_ids: Collection[int], *, bus: ChangeBus | None = None) -> None:
    """Publish the identity notices for ``person_ids`` in the caller's transaction (after commit they arrive).

    ``bus`` is the runtime's change bus; without one, a publisher for the session's database is made (it
    sends the same notices: publishing needs no running listener).
    """
    if not person_ids:
        return
    bus = _bus_for(session, bus)
    if len(person_ids) > BULK_NOTICES:
        bus.publish(session, CHANNEL, RESYNC)
        return
    for person_id in sorted(person_ids):
        bus.publish(session, CHANNEL, f"person:{person_id}")
