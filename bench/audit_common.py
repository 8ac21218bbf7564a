"""Shared pieces of the access-log benchmarks: a scratch database, realistic events, a fast bulk loader.

A scratch database is a temporary SQLite file or a fresh PostgreSQL database (created on the server of
``--postgres URL`` and dropped afterwards unless ``--keep``), migrated with the project's migrations.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from audit.chain import FORMAT, SEPARATOR, prepare_access
from audit.events import AccessEvent
from audit.indexer import Indexer
from audit.store import COPY_TYPES, insert_sql, read_head
from iam.db import make_engine, upgrade

SECTIONS = ("notes", "medication", "lab", "imaging", "administrative", "mental_health")
PURPOSES = ("TREAT", "TREAT", "TREAT", "COC", "ETREAT", "BTG")


@contextmanager
def scratch_database(kind: str, *, postgres_url: str, keep: str | None = None) -> Iterator[str]:
    """Yield the URL of a migrated, empty database of ``kind`` (sqlite or postgresql); or ``keep`` as is."""
    if keep:
        engine = make_engine(keep)
        upgrade(engine)
        engine.dispose()
        yield keep
        return
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'audit.db'}"
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            yield url
        return
    name = f"audit_bench_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_event(rng: random.Random, *, patients: int, users: int, when: datetime) -> AccessEvent:
    """A realistic access event (about 300 bytes stored), built without validation for speed."""
    patient = f"{rng.randrange(patients):011d}"
    user = rng.randrange(users)
    purpose = rng.choice(PURPOSES)
    return AccessEvent.model_construct(
        event_id=None, occurred_at=when, action=rng.choice(("read", "read", "read", "write")),
        outcome="permit" if rng.random() < 0.97 else "deny", user_id=f"person-{user}",
        user_national_id=f"{10_000_000_000 + user:011d}", user_hpr_number=f"{1_000_000 + user}",
        user_name=f"Helse Arbeider {user}", role="LE", legal_entity="983974899", point_of_care="974749025",
        department=f"dept-{user % 400}", patient=patient, data_item=rng.choice(SECTIONS), purpose_of_use=purpose,
        decision_id=secrets.token_hex(8), policy_rule="treat.care_relationship", emergency=purpose == "BTG",
        self_granted=purpose == "BTG", reason_text=None, client_id="journal", token_jti=secrets.token_hex(8),
        source_address="10.1.2.3", request_id=secrets.token_hex(8), proxy_for=None, changed=False,
    )


def bulk_load(url: str, *, events: int, patients: int, users: int, seed: int = 1, batch: int = 20_000,
              progress: bool = True) -> float:
    """Append ``events`` correctly chained events as fast as the database takes them; return seconds.

    Secondary indexes are dropped during the load and rebuilt afterwards (the usual way to bulk load), and
    the search index is then brought up to date by the log's indexer; the chain is computed exactly as the
    log writer computes it, so ``iam audit verify`` checks it.
    """
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    rng = random.Random(seed)
    started = time.perf_counter()
    indexes = _drop_indexes(engine)
    fairy = engine.raw_connection()
    conn = fairy.driver_connection
    assert conn is not None
    cursor = conn.cursor()
    head = read_head(cursor, postgres)
    conn.commit()
    seq, prev = head.seq, head.hash
    start_time = datetime(2024, 1, 1, tzinfo=UTC)
    sha = hashlib.sha256
    statement = insert_sql(postgres)
    done = 0
    while done < events:
        count = min(batch, events - done)
        recorded_at = datetime.now(UTC)
        recorded = recorded_at.isoformat(" ", "microseconds")[:26] + ("+00" if postgres else "")
        stored: object = recorded_at if postgres else recorded
        prefix = f"{FORMAT}{SEPARATOR}{recorded[:10]}T{recorded[11:26]}Z{SEPARATOR}"
        rows = []
        for i in range(count):
            when = start_time + timedelta(seconds=(done + i) * 3)
            item = prepare_access(make_event(rng, patients=patients, users=users, when=when), postgres=postgres)
            seq += 1
            digest = sha(prev + sha(b"\x00" + (prefix + item.body).encode()).digest()).digest()
            rows.append((seq, stored, *item.values, prev, digest))
            prev = digest
        if postgres:
            with cursor.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(statement, rows)
        conn.commit()
        done += count
        if progress and done % 1_000_000 < batch:
            print(f"  loaded {done:,} events ({time.perf_counter() - started:.0f} s)", flush=True)
    fairy.close()
    _create_indexes(engine, indexes)
    # The search index, as the log's indexer builds it, in large chunks (sorted: appended at the B-tree's end).
    indexer = Indexer(engine, interval=0, chunk=1_000_000)
    indexer.catch_up()
    indexer.close()
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE audit_events"))
            connection.execute(text("VACUUM ANALYZE audit_search"))  # as autovacuum leaves an insert-only table
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


def _drop_indexes(engine: Engine) -> list[str]:
    """Drop the secondary indexes of audit_events; return their CREATE statements."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            rows = connection.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                           "'audit_events' AND indexname LIKE 'ix_audit_events%'")).all()
        else:
            rows = connection.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                                           "tbl_name = 'audit_events' AND name LIKE 'ix_audit_events%'")).all()
        for name, _ in rows:
            connection.execute(text(f"DROP INDEX {name}"))
    # A partitioned table's index definition reads "ON ONLY", which would not build the partitions' indexes.
    return [str(definition).replace(" ON ONLY ", " ON ") for _, definition in rows]


def _create_indexes(engine: Engine, definitions: list[str]) -> None:
    with engine.begin() as connection:
        for definition in definitions:
            connection.execute(text(definition))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
