"""SCIM create of 5,000 users against a real ``iam serve`` (requests/s, p50/p99 latency).

    .venv/bin/python bench/scim_create.py [--users 5000] [--connections 4] [--database-url URL]

Each POST /scim/v2/Users runs the full provisioning engine (plan + apply in one transaction, birthright
grants, admin event) for one person, so this measures the engine per request, not just HTTP.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
from scim_common import load_line, percentile, prepare, serve, user_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="scim-bench-"))
    url, persons = prepare(work, scale=max(args.users / 40_000 * 1.02, 0.01), database_url=args.database_url)
    persons = persons[: args.users]
    with serve(url) as (base, token):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        clients = [httpx2.Client(base_url=f"{base}/scim/v2", headers=headers, timeout=60)
                   for _ in range(args.connections)]
        latencies: list[float] = []
        statuses: dict[int, int] = {}

        def create(index: int) -> None:
            started = time.perf_counter()
            response = clients[index % args.connections].post("/Users", json=user_body(persons[index]))
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.connections) as pool:
            list(pool.map(create, range(len(persons))))
        elapsed = time.perf_counter() - started
    print(f"database: {url.split(':', 1)[0]}; {load_line()}")
    print(f"SCIM create: {len(persons)} users, {args.connections} connections, statuses {statuses}")
    print(f"  {len(persons) / elapsed:.0f} requests/s; latency p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms; total {elapsed:.1f} s")


if __name__ == "__main__":
    main()
