"""Where a decision's time goes: each in-process step of ``POST /access/v1/evaluations``, per batch of 10.

Usage (from the repository root):
    .venv/bin/python bench/authz_costs.py --scale 0.1
    .venv/bin/python bench/authz_costs.py --scale 0.1 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_authz

Over the benchmark region (authz_setup.py) with warm caches, times each step the HTTP handler runs
for a batch of ten evaluations: parsing the body, mapping AuthZEN to decision requests, deciding,
building access events, rendering the answers and their JSON, preparing events for the log; then a
whole ``evaluate`` (decide and wait for the durable log) one batch at a time. Prints microseconds per
batch; it explains the gap between ``authz_decide.py`` and ``authz_http.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authz_http import _evaluation
from authz_setup import load, requests

from audit.chain import prepare_access
from iam.authz import authzen
from iam.authz.model import DecisionRequest
from iam.authz.pdp import Caller
from iam.authz.routes import _render
from iam.runtime import Runtime


def _per_batch(label: str, step: Callable[[int], object], batches: int) -> None:
    started = time.perf_counter()
    for index in range(batches):
        step(index)
    print(f"{label:<34} {(time.perf_counter() - started) / batches * 1e6:8.1f} µs per batch of 10")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    runtime = Runtime.start(load(args.workdir, args.scale, args.database_url))
    try:
        count = args.batches * 10
        workload, _ = requests(runtime, count=count, working_set=5_000, seed=11)
        bodies = [json.dumps({"evaluations": [_evaluation(r) for r in workload[i:i + 10]]}).encode()
                  for i in range(0, count, 10)]
        pdp = runtime.authz.pdp
        queries = [authzen.parse(authzen.EvaluationsRequest, body) for body in bodies]

        def mapped(index: int) -> list[DecisionRequest]:
            query = queries[index]
            merged = [authzen.merge_evaluation(query, item, k) for k, item in enumerate(query.evaluations or [])]
            return [authzen.decision_request(m.subject, m.action, m.resource, m.context) for m in merged]

        batches = [mapped(i) for i in range(args.batches)]
        pdp.evaluate_sync([r for batch in batches for r in batch], Caller())  # warms every cache
        decisions = [pdp.decide_all(batch) for batch in batches]
        events = [[pdp.access_event(d, Caller()) for d in batch] for batch in decisions]

        def rendered(index: int) -> list[dict[str, Any]]:
            return [_render(runtime, d) for d in decisions[index]]

        postgres = runtime.engine.dialect.name == "postgresql"
        n = args.batches
        _per_batch("parse body (pydantic)", lambda i: authzen.parse(authzen.EvaluationsRequest, bodies[i]), n)
        _per_batch("map AuthZEN to decision requests", mapped, n)
        _per_batch("decide", lambda i: pdp.decide_all(batches[i]), n)
        _per_batch("build access events", lambda i: [pdp.access_event(d, Caller()) for d in decisions[i]], n)
        _per_batch("render answers", rendered, n)
        _per_batch("render answers + JSON", lambda i: json.dumps({"evaluations": rendered(i)}, ensure_ascii=False,
                                                                 separators=(",", ":")), n)
        _per_batch("prepare events for the log", lambda i: [prepare_access(e, postgres=postgres) for e in events[i]],
                   n)

        async def sequential() -> None:
            started = time.perf_counter()
            for batch in batches:
                await pdp.evaluate(batch, Caller())
            print(f"{'evaluate + durable log, one at a time':<34} "
                  f"{(time.perf_counter() - started) / n * 1e6:8.1f} µs per batch of 10")

        asyncio.run(sequential())
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
