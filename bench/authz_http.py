"""Decisions over HTTP (AuthZEN), including the durable access-log write of every decision.

Usage (from the repository root; needs wrk: ``apt-get install -y wrk``):
    .venv/bin/python bench/authz_http.py --scale 1.0
    .venv/bin/python bench/authz_http.py --scale 0.1 --connections 64 --duration 20 --workers 2

Starts ``iam serve --workers N`` on a free loopback port over the benchmark database (see authz_setup.py),
registers a client with the ``authz`` scope, fetches one token, warms every worker's caches, then runs
wrk for ``--duration`` seconds a run (bounded runs, loopback only): single evaluations
(``POST /access/v1/evaluation``) and batches of 10 (``POST /access/v1/evaluations``), first as a closed loop
(each connection sends again as soon as its answer arrives: the most the server does), then paced at the
``--rates`` offered (default: the issue's targets, 3,500 singles/s and 1,200 batches/s), where the latency
percentiles say what a client sees at that load (see ``_PACING``). Prints one JSON object with requests/s,
decisions/s, latency percentiles, non-200 responses and late sends, the server's CPU time per request (the
supervisor and its workers: the figure to compare changes by on a shared VM, where throughput moves with what
the hypervisor takes; a PostgreSQL server's own CPU is not in it, so it compares runs on one database only)
and the machine-wide share of time the hypervisor took ("machine_steal_share"), then stops the server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from authz_setup import load, requests
from proc_times import machine_ticks, tree_cpu_seconds

from iam.authz.model import DecisionRequest
from iam.oauth.clients import register_client
from iam.runtime import Runtime

IAM = str(Path(sys.executable).parent / "iam")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _evaluation(request: DecisionRequest) -> dict[str, Any]:
    return {"subject": {"type": "user", "id": request.subject.value}, "action": {"name": request.action},
            "resource": {"type": "patient_record", "id": request.patient,
                         "properties": {"section": request.section}},
            "context": {"purpose_of_use": request.purpose}}


# Paced load (``--rates``): each wrk thread hands out send times on a fixed schedule (its share of the
# rate, the threads' schedules offset by equal shares of a period), and whichever of its idle connections takes the
# next one; a connection sends when its time comes. While connections are free that is an open loop at the
# offered rate, the way a region's many clients load the service (wrk alone is a closed loop: 64
# connections each sending again the moment an answer arrives, so mean latency is 64 / throughput by
# Little's law whatever the server does). A time that has already passed when a connection asks for it
# (every connection was busy) is sent at once and counted in "late_sends" with the worst lateness; the
# schedule is kept, so the thread catches up. wrk times a request from its actual send, so the percentiles
# of a run with late sends leave out the time those requests waited for a connection.
_PACING = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } iam_timespec;
           int clock_gettime(int clock, iam_timespec *t); ]]
local clock = ffi.new("iam_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local threads = {}
setup = function(thread)
  thread:set("phase", #threads / %(threads)d)
  table.insert(threads, thread)
end
local period_ms = %(period_ms)r
local slot = nil
late, max_late_ms = 0, 0
delay = function()
  local now = now_ms()
  if slot == nil then slot = now + (phase or 0) * period_ms end
  slot = slot + period_ms
  local wait = slot - now
  if wait < -1 then
    late = late + 1
    if -wait > max_late_ms then max_late_ms = -wait end
  end
  return math.max(0, math.floor(wait))
end
done = function(summary, latency, requests)
  local total, worst = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("late")
    worst = math.max(worst, thread:get("max_late_ms"))
  end
  io.write(string.format("late_sends %%d %%.1f\\n", total, worst))
end
"""


def _lua(bodies: list[str], path: str, token: str, *, rate: float | None = None, threads: int = 2) -> str:
    """wrk's script cycling ``bodies``; with ``rate`` (requests/s over all threads) the requests are paced."""
    quoted = ",\n".join(json.dumps(body) for body in bodies)
    script = f"""
local bodies = {{ {quoted} }}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
init = function(args) i = math.random(#bodies) end
request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  return wrk.format(nil, "{path}", nil, bodies[i])
end
"""
    if rate is None:
        return script + "setup = function(thread) end\n"
    return script + _PACING % {"period_ms": 1000.0 * threads / rate, "threads": threads}


def _wrk(url: str, script: Path, *, connections: int, duration: int, threads: int,
         server: int | None = None) -> dict[str, Any]:
    """One wrk run; with ``server`` (the server's pid) also the server's CPU time per request and the share of
    the machine's time its hypervisor took (steal): on a shared VM that share moves throughput from run to
    run, while CPU per request stays put, so it is the number to compare code changes by."""
    cpu_before = tree_cpu_seconds(server) if server else 0.0
    ticks_before = machine_ticks()
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
                          "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    percentiles = {}
    for label in ("50%", "90%", "99%"):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            percentiles[f"p{label[:-1]}_ms"] = round(value / 1000 if unit == "us" else value * 1000 if unit == "s"
                                                     else value, 2)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    total = re.search(r"(\d+) requests in", out)
    found: dict[str, Any] = {"requests_per_second": round(rps), "requests": int(total.group(1)) if total else None,
                             "latency": percentiles, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
                             "socket_errors": errors.group(0) if errors else None}
    spent = [after - before for before, after in zip(ticks_before, machine_ticks(), strict=True)]
    found["machine_steal_share"] = round(spent[7] / max(sum(spent), 1), 3)
    if server and found["requests"]:
        found["server_cpu_us_per_request"] = round((tree_cpu_seconds(server) - cpu_before) / found["requests"] * 1e6,
                                                   1)
    late = re.search(r"^late_sends (\d+) ([\d.]+)$", out, re.MULTILINE)
    if late:
        found["late_sends"] = int(late.group(1))
        found["max_late_ms"] = float(late.group(2))
    return found


def _count_decisions(batches: dict[str, Any]) -> None:
    """Add the per-decision figures to a run of batches of 10."""
    batches["decisions_per_second"] = batches["requests_per_second"] * 10
    if "server_cpu_us_per_request" in batches:
        batches["server_cpu_us_per_decision"] = round(batches["server_cpu_us_per_request"] / 10, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measured wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--bodies", type=int, default=1500, help="distinct request bodies cycled by wrk")
    parser.add_argument("--warmup", type=int, default=30, help="seconds of unmeasured load that warm the caches")
    parser.add_argument("--working-set", type=int, default=5_000)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench"))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rates", default="3500,1200",
                        help="paced runs after the closed-loop ones: single evaluations/s and batch requests/s "
                             "offered over the same connections (the issue's targets); 'none' skips them")
    args = parser.parse_args()
    rates = None if args.rates == "none" else [float(rate) for rate in args.rates.split(",")]
    if rates is not None and (len(rates) != 2 or min(rates) <= 0):
        parser.error(f"--rates takes two positive numbers (singles/s,batches/s) or 'none', not {args.rates!r}")

    settings = load(args.workdir, args.scale, args.database_url)
    runtime = Runtime.start(settings)
    try:
        workload, _ = requests(runtime, count=args.bodies * 10, working_set=args.working_set, seed=11)
        with runtime.sessions.begin() as session:
            created = register_client(session, name="bench-authz", scopes=["authz"])
        client_id, secret = created.client.client_id, created.client_secret or ""
    finally:
        runtime.close()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    # Signed access-log checkpoints at the service's default interval, as in production.
    env.update(IAM_SECRET_KEY=settings.secret_key.get_secret_value() if settings.secret_key else "",
               IAM_LOG_LEVEL="warning")
    server = subprocess.Popen([IAM, "serve", "--port", str(port), "--workers", str(args.workers),
                               "--database-url", settings.database_url], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx2.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not become ready")
            time.sleep(0.5)
        token = httpx2.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(client_id, secret), timeout=10).json()["access_token"]
        singles = [json.dumps(_evaluation(r), separators=(",", ":")) for r in workload[:args.bodies]]
        batches = []
        for start in range(0, len(workload), 10):
            chunk = workload[start:start + 10]
            batches.append(json.dumps({"evaluations": [_evaluation(r) for r in chunk]}, separators=(",", ":")))
        with tempfile.TemporaryDirectory() as folder:
            single_script = Path(folder) / "single.lua"
            single_script.write_text(_lua(singles, "/access/v1/evaluation", token))
            batch_script = Path(folder) / "batch.lua"
            batch_script.write_text(_lua(batches[:args.bodies], "/access/v1/evaluations", token))
            # Warm both workers' caches (subjects and patients of the whole body set), not measured.
            _wrk(f"{base}/access/v1/evaluations", batch_script, connections=16, duration=args.warmup,
                 threads=args.threads)
            _wrk(f"{base}/access/v1/evaluation", single_script, connections=16, duration=max(5, args.warmup // 3),
                 threads=args.threads)
            single = _wrk(f"{base}/access/v1/evaluation", single_script, connections=args.connections,
                          duration=args.duration, threads=args.threads, server=server.pid)
            batch = _wrk(f"{base}/access/v1/evaluations", batch_script, connections=args.connections,
                         duration=args.duration, threads=args.threads, server=server.pid)
            _count_decisions(batch)
            report = {"scale": args.scale, "database": settings.database_url.split(":")[0],
                      "server": f"iam serve --workers {args.workers} (uvicorn)",
                      "connections": args.connections, "duration_s": args.duration,
                      "single_evaluations": single, "batches_of_10": batch}
            if rates is not None:
                paced_runs = (("paced_single_evaluations", "/access/v1/evaluation", singles, rates[0]),
                              ("paced_batches_of_10", "/access/v1/evaluations", batches, rates[1]))
                for key, path, bodies, rate in paced_runs:
                    script = Path(folder) / f"{key}.lua"
                    script.write_text(_lua(bodies[:args.bodies], path, token, rate=rate, threads=args.threads))
                    paced = _wrk(f"{base}{path}", script, connections=args.connections, duration=args.duration,
                                 threads=args.threads, server=server.pid)
                    report[key] = {"offered_per_second": rate, **paced}
                _count_decisions(report["paced_batches_of_10"])
        print(json.dumps(report, indent=2))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
