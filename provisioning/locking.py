"""One provisioning run at a time: imports, ticks, licence checks and admin changes serialise on a lock.

Two runs planning from the same state would both add the same joiner. On PostgreSQL the lock is a
transaction-scoped advisory lock (released at commit or rollback, held across every node sharing the
database); on SQLite, writing a marker row takes the database's write lock at once, before anything is read,
so the plan is made from the state the run will change.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from provisioning.models import ProvisioningStateRow

__all__ = ["LOCK_KEY", "lock_provisioning", "try_lock_provisioning"]

#: Advisory lock key: "prov" in ASCII.
LOCK_KEY = 0x70726F76


def lock_provisioning(session: Session) -> None:
    """Wait for and take the provisioning lock for the rest of the session's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        return
    _touch_marker(session)


def try_lock_provisioning(session: Session) -> bool:
    """Take the lock if free (PostgreSQL) and say whether we got it; on SQLite wait as above and say True."""
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": LOCK_KEY}).scalar())
    _touch_marker(session)
    return True


def _touch_marker(session: Session) -> None:
    now = utc_now()
    statement = sqlite_insert(ProvisioningStateRow).values(name="lock", at=now)
    session.execute(statement.on_conflict_do_update(index_elements=["name"], set_={"at": now}))


