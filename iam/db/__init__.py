"""Storage: one declarative base, engine creation and migrations, the same code on SQLite and PostgreSQL."""

from iam.db.base import Base, UTCDateTime, utc_now
from iam.db.engine import DatabaseError, make_engine, make_session_factory
from iam.db.migrate import upgrade

__all__ = [
    "Base",
    "DatabaseError",
    "UTCDateTime",
    "make_engine",
    "make_session_factory",
    "upgrade",
    "utc_now",
]
