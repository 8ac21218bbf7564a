"""Benchmark: full HR snapshot import of a generated region from empty, and a no-op re-import.

For each database (a fresh SQLite file; a fresh PostgreSQL database) a separate process migrates an empty
schema, loads the organisation register and the HPR extract, then times ``import_hr_file`` (read, validate,
plan, apply, commit) of ``hr_staff.csv`` twice: the first import (every person is a joiner) and the same file
again (nothing changes; says "no changes"). Peak memory is the child process's peak RSS over all of it.

Targets on the project's 2-core machine (issue 3): first import < 20 s, no-op re-import < 5 s, peak < 1 GiB.

Usage::

    .venv/bin/python bench/provisioning_import.py                       # scale 1.0, SQLite and PostgreSQL
    .venv/bin/python bench/provisioning_import.py --scale 0.1 --databases sqlite --format json

The region is generated once into ``var/bench/region-<scale>-<seed>`` (not timed) and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from datetime import time as clock
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("IAM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TARGETS = {"first": 20.0, "noop": 5.0, "rss_mib": 1024.0}


def _region(scale: float, seed: int) -> Path:
    from iam.region import generate

    folder = ROOT / "var" / "bench" / f"region-{scale:g}-{seed}"
    if not (folder / "manifest.json").exists():
        print(f"generating region at scale {scale:g} into {folder} (not timed) ...", file=sys.stderr)
        generate(folder, scale=scale, seed=seed)
    return folder


def _child(database: str, region: Path, feed_format: str, url: str) -> dict[str, object]:
    """Runs in its own process so that peak RSS is this run's alone."""
    from sqlalchemy import func, select

    from iam.db import make_engine, make_session_factory, upgrade
    from provisioning.clock import HR_ZONE
    from provisioning.hpr import FileLicenceRegister, sync_licences
    from provisioning.imports import import_hr_file
    from provisioning.models import GrantRow, PersonRow
    from provisioning.orgs import apply_organisations, plan_organisations, read_organisations

    manifest = json.loads((region / "manifest.json").read_text())
    as_of = date.fromisoformat(manifest["as_of"])
    at = datetime.combine(as_of, clock(9), HR_ZONE).astimezone(UTC)
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    timings: dict[str, float] = {}

    started = time.perf_counter()
    with sessions.begin() as session:
        apply_organisations(session, plan_organisations(session, read_organisations(region / "organisations.csv")),
                            actor="bench", at=at)
    timings["org"] = time.perf_counter() - started
    started = time.perf_counter()
    with sessions.begin() as session:
        register = FileLicenceRegister(region / "hpr.csv")
        sync_licences(session, register.all(), source=register.name, at=at)
    timings["hpr"] = time.perf_counter() - started

    feed = region / f"hr_staff.{feed_format}"
    started = time.perf_counter()
    first = import_hr_file(sessions, feed, mode="snapshot", actor="bench", at=at)
    timings["first"] = time.perf_counter() - started
    started = time.perf_counter()
    again = import_hr_file(sessions, feed, mode="snapshot", actor="bench", at=at)
    timings["noop"] = time.perf_counter() - started

    with sessions() as session:
        persons = session.execute(select(func.count()).select_from(PersonRow)).scalar_one()
        grants = session.execute(select(func.count()).select_from(GrantRow)).scalar_one()
    engine.dispose()
    return {
        "database": database, **timings, "persons": persons, "grants": grants,
        "joiners": len(first.plan.joiners), "noop_summary": again.plan.summary().splitlines()[-1],
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run_child(database: str, region: Path, feed_format: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        if database == "sqlite":
            url = f"sqlite:///{scratch}/bench.db"
            return _spawn(database, region, feed_format, url)
        from sqlalchemy import create_engine, text

        name = f"iam_bench_provisioning_{os.getpid()}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            return _spawn(database, region, feed_format, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _spawn(database: str, region: Path, feed_format: str, url: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", database, "--region", str(region), "--format", feed_format,
         "--url", url], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{database} run failed:\n{result.stderr}")
    parsed: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--region", type=Path, help="Use this generated region instead.")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.region, args.format, args.url)))
        return

    region = args.region or _region(args.scale, args.seed)
    counts = json.loads((region / "manifest.json").read_text())["counts"]
    print(f"provisioning import: region {region.name} ({counts['staff']} staff, {counts['employments']} "
          f"employments, {counts['hpr_authorisations']} HPR authorisations), feed hr_staff.{args.format}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(f"{'database':<11} {'org reg.':>9} {'HPR':>7} {'first import':>13} {'no-op':>8} {'peak RSS':>10}  "
          f"{'persons':>8} {'grants':>7}  re-import says")
    for database in [name.strip() for name in args.databases.split(",") if name.strip()]:
        r = _run_child(database, region, args.format)
        print(f"{database:<11} {r['org']:>8.2f}s {r['hpr']:>6.2f}s {r['first']:>12.2f}s {r['noop']:>7.2f}s "
              f"{r['rss_mib']:>7.0f} MiB  {r['persons']:>8} {r['grants']:>7}  {r['noop_summary']!r}")
    print(f"targets: first import < {TARGETS['first']:g} s, no-op re-import < {TARGETS['noop']:g} s, "
          f"peak memory < {TARGETS['rss_mib']:g} MiB")


if __name__ == "__main__":
    main()
