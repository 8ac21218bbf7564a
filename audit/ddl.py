"""Database-side guards of the log: append-only triggers and (PostgreSQL) monthly partitions.

The triggers reject UPDATE and DELETE on ``audit_events``, ``audit_checkpoints`` and ``audit_retention``.
TRUNCATE is not blocked (test fixtures and operators' restores use it); an operator's TRUNCATE, like any
other removal, is caught by ``iam audit verify`` against the signed checkpoints. The triggers stop
mistakes and casual edits; they cannot stop a database superuser, which is why the log is also
hash-chained and signed.

Retention is the one legal deletion: on PostgreSQL it sets the transaction-local setting
``iam.audit_retention = 'on'``, on SQLite it drops and re-creates the trigger in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, text

__all__ = [
    "APPEND_ONLY_TABLES",
    "create_triggers",
    "drop_sqlite_delete_trigger",
    "ensure_partitions",
    "partition_name",
    "sqlite_delete_trigger",
]

APPEND_ONLY_TABLES = ("audit_events", "audit_checkpoints", "audit_retention")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('iam.audit_retention', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def sqlite_delete_trigger(table: str) -> str:
    return (f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'the access log is append-only: DELETE on {table} refused'); END")


def drop_sqlite_delete_trigger(connection: Connection, table: str) -> None:
    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))


def create_triggers(connection: Connection) -> None:
    """Install the append-only triggers for the connection's dialect."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(_PG_FUNCTION))
        for table in APPEND_ONLY_TABLES:
            connection.execute(text(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"))
        return
    for table in APPEND_ONLY_TABLES:
        connection.execute(text(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'the access log is append-only: UPDATE on {table} refused'); END"))
        connection.execute(text(sqlite_delete_trigger(table)))


def partition_name(year: int, month: int) -> str:
    return f"audit_events_{year:04d}{month:02d}"


def _month(year: int, month: int, offset: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + offset
    return index // 12, index % 12 + 1


def ensure_partitions(connection: Connection, *, now: datetime | None = None, ahead: int = 2) -> list[str]:
    """PostgreSQL only: make sure the month of ``now`` and ``ahead`` months after it have partitions.

    Rows outside every monthly partition land in ``audit_events_default``; a month is created before it
    starts because PostgreSQL refuses a new partition whose range already has rows in the default one.
    Returns the names created.
    """
    if connection.dialect.name != "postgresql":
        return []
    current = (now or datetime.now(UTC)).astimezone(UTC)
    created = []
    existing = set(connection.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_events'")).scalars())
    for offset in range(ahead + 1):
        year, month = _month(current.year, current.month, offset)
        name = partition_name(year, month)
        if name in existing:
            continue
        next_year, next_month = _month(year, month, 1)
        connection.execute(text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF audit_events FOR VALUES "
            f"FROM ('{year:04d}-{month:02d}-01 00:00:00+00') TO ('{next_year:04d}-{next_month:02d}-01 00:00:00+00')"))
        created.append(name)
    return created
