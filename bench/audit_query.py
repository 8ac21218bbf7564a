"""Benchmark: "all accesses to patient P" and ``iam audit verify`` over a large log.

    .venv/bin/python bench/audit_query.py                                   # 1M events, both databases
    .venv/bin/python bench/audit_query.py --events 10000000 --databases sqlite
    .venv/bin/python bench/audit_query.py --database-url sqlite:///var/audit10m.db --events 10000000

Bulk-loads ``--events`` correctly chained events (about 100 per patient, like the issue's 10M case) into a
scratch database (or into ``--database-url``, reusing events already there), signs a checkpoint, then
prints: load time; p50/p99 of fetching every access of a random patient through the same query the API
and the patient view use (a first pass and a second, warm pass over the same patients), before and after
the indexer compacted the sealed groups of the search index (``audit.compaction``; the time that took,
and on PostgreSQL the VACUUM that autovacuum would do after it); and the time ``verify_log`` takes over
the whole log. Each phase queries other patients, so its first pass finds their pages in the operating
system's cache at best. Targets: p99 under 20 ms; verify of 10M events under 60 s. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import time

from audit_common import bulk_load, percentile, scratch_database
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from audit.checkpoints import Checkpointer
from audit.compaction import search_state
from audit.indexer import Indexer
from audit.models import AuditEventRow
from audit.query import SearchFilters, events_page
from audit.verify import verify_log
from iam.db import make_engine, make_session_factory
from iam.oauth.keys import KeyRing


def run(kind: str, url: str, *, events: int, queries: int, workers: int) -> dict[str, object]:
    engine = make_engine(url)
    with Session(engine) as session:
        present = session.scalar(select(func.count()).select_from(AuditEventRow)) or 0
    patients = max(events // 100, 1)
    load_seconds = 0.0
    if present < events:
        load_seconds = bulk_load(url, events=events - present, patients=patients, users=40_000)
    sessions = make_session_factory(engine)
    keys = KeyRing(sessions, secret=b"k" * 40, alg="ES256")
    keys.start()
    started = time.perf_counter()
    Checkpointer(engine, sessions, keys).create()
    checkpoint_seconds = time.perf_counter() - started
    rng = random.Random(3)
    results: dict[str, object] = {}
    before = _patient_queries(engine, rng, patients=patients, queries=queries)
    started = time.perf_counter()
    indexer = Indexer(engine, interval=0)
    indexer.catch_up()
    moved = indexer.compact()
    indexer.close()
    compact_seconds = time.perf_counter() - started
    vacuum_seconds = 0.0
    if engine.dialect.name == "postgresql":
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM audit_search"))
        vacuum_seconds = time.perf_counter() - started
    after = _patient_queries(engine, rng, patients=patients, queries=queries)
    with Session(engine) as session:
        state = search_state(session.connection())
    results.update({f"before_compaction_{name}": value for name, value in before.items()})
    results.update({"compacted_keys": moved, "compacted_groups": state.compacted_groups,
                    "probes": len(state.probe_buckets()), "compact_s": round(compact_seconds, 1),
                    "vacuum_s": round(vacuum_seconds, 1)})
    results.update(after)
    started, cpu = time.perf_counter(), time.process_time()
    report = verify_log(engine, workers=workers)
    verify_seconds, verify_cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    return {
        "database": kind, "events": report.events, "load_s": round(load_seconds, 1),
        "checkpoint_s": round(checkpoint_seconds, 1), **results,
        "verify_workers": workers, "verify_s": round(verify_seconds, 1), "verify_cpu_s": round(verify_cpu, 1),
        "verify_events_per_s": round(report.events / verify_seconds),
        "verify_ok": report.ok,
    }


def _patient_queries(engine: Engine, rng: random.Random, *, patients: int, queries: int) -> dict[str, float]:
    """p50/p99 of fetching every access of ``queries`` random patients: a first pass, then a warm one."""
    timings: dict[str, list[float]] = {"first": [], "warm": []}
    rows_seen = 0
    with Session(engine) as session:
        targets = [f"{rng.randrange(patients):011d}" for _ in range(queries)]
        for label in ("first", "warm"):
            for patient in targets:
                t = time.perf_counter()
                page = events_page(session, SearchFilters(patient=patient), limit=1000)
                timings[label].append(time.perf_counter() - t)
                rows_seen += len(page.events)
    summary = {"patient_query_rows_avg": round(rows_seen / (2 * queries), 1)}
    for label, values in timings.items():
        summary[f"patient_query_{label}_p50_ms"] = round(percentile(values, 0.5) * 1000, 2)
        summary[f"patient_query_{label}_p99_ms"] = round(percentile(values, 0.99) * 1000, 2)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database-url", help="use (and keep) this database instead of scratch ones")
    parser.add_argument("--verify-workers", type=int, default=2, help="processes for verify_log (1: sequential)")
    args = parser.parse_args(argv)
    kinds = ["given"] if args.database_url else args.databases.split(",")
    for kind in kinds:
        with scratch_database(kind, postgres_url=args.postgres, keep=args.database_url) as url:
            print(json.dumps(run(kind, url, events=args.events, queries=args.queries,
                                 workers=args.verify_workers)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
