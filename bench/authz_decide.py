"""In-process decision throughput and latency of ``decide()`` on one core, with the full context model.

Usage (from the repository root):
    .venv/bin/python bench/authz_decide.py --scale 1.0
    .venv/bin/python bench/authz_decide.py --scale 0.1 --decisions 200000 --casbin 300

Every decision looks its facts up in the policy information point (the user's grants and care teams, the
patient's care relationships, restrictions, consents, emergency declarations and flags), cached per person
and per patient after the first look-up; nothing is passed in. The working set (patients in care "today")
is warmed first; cold look-ups (a patient not cached: one database round trip) are measured separately.
``--casbin N`` also times N of the same requests through stock ``casbin.Enforcer`` (same files, same facts)
for comparison. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from array import array
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authz_setup import load, requests

from iam.authz.conditions import EvalContext
from iam.authz.policy import stock_enforcer
from iam.runtime import Runtime


def _percentile(values: array[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--decisions", type=int, default=300_000)
    parser.add_argument("--working-set", type=int, default=20_000, help="patients in care (cache working set)")
    parser.add_argument("--casbin", type=int, default=0, help="also time this many requests with stock Casbin")
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in the workdir")
    args = parser.parse_args()

    settings = load(args.workdir, args.scale, args.database_url)
    runtime = Runtime.start(settings)
    try:
        pip = runtime.authz.pip
        engine = runtime.authz.engine
        workload, patients = requests(runtime, count=args.decisions, working_set=args.working_set)
        started = time.perf_counter()
        pip.preload_subjects()
        for start in range(0, len(patients), 2000):
            pip.load_patients(patients[start:start + 2000])
        for request in workload:
            pip.subject(request.subject)
        warm_seconds = time.perf_counter() - started
        gc.collect()
        gc.freeze()

        decide = engine.decide
        clock = time.perf_counter_ns
        latencies = array("q", bytes(8 * len(workload)))
        permits = 0
        hits_before = pip.hits
        began = clock()
        for index, request in enumerate(workload):
            t0 = clock()
            permits += decide(request).allowed
            latencies[index] = clock() - t0
        elapsed = (clock() - began) / 1e9

        # Cold: patients outside the working set, each one database round trip before deciding.
        cold_patients = [r for r in workload[:2000]]
        pip.invalidate_all()
        for request in cold_patients:
            pip.subject(request.subject)
        cold = array("q")
        for request in cold_patients:
            t0 = clock()
            decide(request)
            cold.append(clock() - t0)

        result = {
            "scale": args.scale,
            "database": runtime.engine.dialect.name,
            "users_with_roles": len({r.subject.value for r in workload}),
            "working_set_patients": len(patients),
            "policy_lines": len(engine.policy.lines),
            "warm_up_seconds": round(warm_seconds, 2),
            "decisions": len(workload),
            "permit_share": round(permits / len(workload), 3),
            "decisions_per_second": round(len(workload) / elapsed),
            "latency_us": {"mean": round(statistics.fmean(latencies) / 1000, 1),
                           "p50": _percentile(latencies, 0.50), "p99": _percentile(latencies, 0.99),
                           "p999": _percentile(latencies, 0.999)},
            "cache_hits": pip.hits - hits_before,
            "cold_latency_us": {"p50": _percentile(cold, 0.5), "p99": _percentile(cold, 0.99)},
        }
        if args.casbin:
            result["stock_casbin"] = _stock(runtime, workload[:args.casbin])
        print(json.dumps(result, indent=2))
    finally:
        runtime.close()


def _stock(runtime: Runtime, sample: list) -> dict[str, object]:  # type: ignore[type-arg]
    """The same requests through stock casbin.Enforcer (role links for every grant, same condition code)."""
    from datetime import UTC, datetime

    from provisioning.subjects import all_role_assignments

    pip = runtime.authz.pip
    policy = runtime.authz.engine.policy
    with runtime.sessions() as session:
        from iam.authz.model import Assignment

        links = [(str(p), Assignment(role=a.role, unit_id=a.unit_id, licence_ok=a.licence_ok))
                 for p, a in all_role_assignments(session, at=datetime.now(UTC))]
    enforcer = stock_enforcer(policy, org=pip.org, assignments=links)
    catalogue = policy.catalogue
    latencies = array("q")
    agree = 0
    for request in sample:
        subject = pip.subject(request.subject)
        facts = pip.patient(request.patient)
        at = datetime.now(UTC)
        t0 = time.perf_counter_ns()
        allowed = False
        if subject is not None:
            for unit in dict.fromkeys(a.unit_id for a in subject.assignments):
                ctx = EvalContext(request=request, subject=subject, facts=facts, unit=unit,
                                  purpose=catalogue.purposes[request.purpose], org=pip.org,
                                  acute_kinds=catalogue.acute_unit_kinds, at=at)
                if enforcer.enforce(subject.person_id, unit, request.section, request.action, request.purpose, ctx):
                    allowed = True
                    break
        latencies.append(time.perf_counter_ns() - t0)
        agree += allowed == runtime.authz.engine.decide(request).allowed
    total = sum(latencies) / 1e9
    return {"role_links": len(links), "decisions": len(sample), "decisions_per_second": round(len(sample) / total),
            "latency_us": {"p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)},
            "same_answers": f"{agree}/{len(sample)}"}


if __name__ == "__main__":
    main()
