"""Decisions over HTTP (AuthZEN), including the durable access-log write of every decision.

Usage (from the repository root; needs wrk: ``apt-get install -y wrk``):
    .venv/bin/python bench/authz_http.py --scale 1.0
    .venv/bin/python bench/authz_http.py --scale 0.1 --connections 64 --duration 20 --workers 2

Starts ``iam serve --workers N`` on a free loopback port over the benchmark database (see authz_setup.py),
registers a client with the ``authz`` scope, fetches one token, warms every worker's caches, then runs
wrk twice for ``--duration`` seconds each (bounded runs, loopback only): single evaluations
(``POST /access/v1/evaluation``) and batches of 10 (``POST /access/v1/evaluations``). Prints one JSON
object with requests/s, decisions/s, latency percentiles and non-200 responses, then stops the server.
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


def _lua(bodies: list[str], path: str, token: str) -> str:
    quoted = ",\n".join(json.dumps(body) for body in bodies)
    return f"""
local bodies = {{ {quoted} }}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
setup = function(thread) end
init = function(args) i = math.random(#bodies) end
request = function()
  i = i + 1
  if i > #bodies then i = 1 end
  return wrk.format(nil, "{path}", nil, bodies[i])
end
"""


def _wrk(url: str, script: Path, *, connections: int, duration: int, threads: int) -> dict[str, Any]:
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
    return {"requests_per_second": round(rps), "requests": int(total.group(1)) if total else None,
            "latency": percentiles, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errors.group(0) if errors else None}


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
    args = parser.parse_args()

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
    env.update(IAM_SECRET_KEY=settings.secret_key.get_secret_value() if settings.secret_key else "",
               IAM_AUDIT_CHECKPOINT_INTERVAL="0", IAM_LOG_LEVEL="warning")
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
                          duration=args.duration, threads=args.threads)
            batch = _wrk(f"{base}/access/v1/evaluations", batch_script, connections=args.connections,
                         duration=args.duration, threads=args.threads)
        batch["decisions_per_second"] = batch["requests_per_second"] * 10
        print(json.dumps({"scale": args.scale, "database": settings.database_url.split(":")[0],
                          "server": f"iam serve --workers {args.workers} (uvicorn)",
                          "connections": args.connections, "duration_s": args.duration,
                          "single_evaluations": single, "batches_of_10": batch}, indent=2))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
