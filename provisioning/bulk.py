"""Bulk writes: ``COPY`` on PostgreSQL, ``executemany`` on SQLite, in the caller's transaction.

Measured on the scale-1.0 region (200,000 rows in six tables): the ORM's bulk INSERT ... RETURNING with
parameter ordering re-splices its result batches and grew quadratically (170 s on SQLite); psycopg's
pipelined ``executemany`` still sends one statement per row (7 s on PostgreSQL); ``COPY`` takes well under a
second. So new ids are read back with one query instead of RETURNING, and updates go through one
parameterised UPDATE per set of columns.

``COPY`` bypasses SQLAlchemy's type processing: values must already be what the column stores (aware UTC
datetimes, dates, str, int, bool, None), which is what our callers pass.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import DeclarativeBase, Session

__all__ = ["bulk_insert", "bulk_update"]


def _table(model: type[DeclarativeBase]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


#: Below this many rows a plain executemany is as quick as COPY and simpler.
_COPY_FROM = 200


def bulk_insert(session: Session, model: type[DeclarativeBase], rows: Sequence[dict[str, Any]]) -> None:
    """INSERT ``rows`` (dicts of column values, all with the same keys) in one COPY or executemany."""
    if not rows:
        return
    table = _table(model)
    connection = session.connection()
    if connection.dialect.name != "postgresql" or len(rows) < _COPY_FROM:
        session.execute(insert(table), list(rows))
        return
    columns = list(rows[0])
    for row in rows:
        for value in row.values():
            if isinstance(value, datetime) and value.tzinfo is None:
                raise ValueError(f"naive datetime {value.isoformat()} refused: pass a UTC-aware time")
    driver = connection.connection.driver_connection
    assert driver is not None
    quoted = ", ".join(f'"{name}"' for name in columns)
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[name] for name in columns])


def bulk_update(session: Session, model: type[DeclarativeBase], key: str, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE each row identified by ``row[key]``; rows may set different columns (grouped per column set)."""
    table = _table(model)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        columns = tuple(sorted(name for name in row if name != key))
        groups[columns].append({f"b_{name}": value for name, value in row.items()})
    for columns, params in groups.items():
        statement = (update(table).where(table.c[key] == bindparam(f"b_{key}"))
                     .values({name: bindparam(f"b_{name}") for name in columns}))
        session.execute(statement, params)
