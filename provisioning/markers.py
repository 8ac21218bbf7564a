"""Named moments in ``provisioning_state``: when the tick last ran, or when everyone was last planned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from provisioning.models import ProvisioningStateRow

__all__ = ["TICK", "get_marker", "mark_planned", "set_marker"]

#: Every date-driven change due up to this moment has been applied.
TICK = "tick"


def get_marker(session: Session, name: str) -> datetime | None:
    row = session.get(ProvisioningStateRow, name)
    return row.at if row is not None else None


def set_marker(session: Session, name: str, at: datetime) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(ProvisioningStateRow).values(name=name, at=at)
    session.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"at": at}))


def mark_planned(session: Session, at: datetime) -> None:
    """Record that everyone was just planned at ``at`` (a snapshot), if no tick has run yet, so the first tick
    re-plans only people whose dates cross after ``at`` instead of everyone."""
    if get_marker(session, TICK) is None:
        set_marker(session, TICK, at)
