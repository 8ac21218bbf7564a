"""Token endpoint throughput over HTTP: client credentials, token exchange and introspection.

Starts ``iam serve --workers N`` (or granian with ``--server granian``) on a free loopback port, with a
scale-0.01 region loaded and a stand-in upstream login provider (discovery + JWKS served from this
process), then drives it with ``wrk`` (Debian package: ``apt-get install -y wrk``) at 64 connections.

Scenarios (each a bounded ``wrk -d`` run after a short warm-up):

* ``client_credentials``  POST /oauth2/token, grant client_credentials, client_secret_basic
* ``exchange``            RFC 8693 exchange of upstream user tokens for a journal token (no patient)
* ``exchange_patient``    the same with a patient and purpose: decision engine + durable access log
* ``introspect``          POST /oauth2/introspect of a client-credentials token
* ``peer_client_credentials``  the issue's peer, node-oidc-provider (bench/peers/oidc_provider_cc.mjs),
                          measured after our server stops; the targets are then also printed scaled by
                          how fast the peer runs on this machine against the reference (measurements.md)

Run:   .venv/bin/python bench/tokens_http.py [--workers 2] [--server uvicorn|granian] [--duration 10]
       [--connections 64] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_tokens]
Targets: >= 3,500 client-credentials tokens/s at 64 connections, >= 2,000 exchanges/s.
"""

from __future__ import annotations

import argparse
import base64
import csv
import http.server
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proc_times import tree_cpu_seconds  # noqa: E402

from iam.authz.model import DecisionRequest, SubjectRef  # noqa: E402
from iam.config import load_settings  # noqa: E402
from iam.oauth.clients import register_client  # noqa: E402
from iam.region import generate  # noqa: E402
from iam.runtime import Runtime  # noqa: E402

IAM = str(Path(sys.executable).parent / "iam")
GRANIAN = str(Path(sys.executable).parent / "granian")
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a type URN
JOURNAL = "https://journal.region.test"
UPSTREAM_AUDIENCE = "urn:iam:token-exchange"
PEER = "peer_client_credentials"
PEER_PACKAGES = ROOT / "tests" / "oauth" / "upstream"
PEER_REFERENCE = 3_140  # node-oidc-provider, ES256, 64 connections: measurements.md
TARGETS = {"client_credentials": 3_500, "exchange": 2_000}
SECRET_KEY = "bench-secret-key-" + "b" * 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Upstream:
    """A stand-in login provider: publishes discovery and JWKS, signs user tokens like HelseID would."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="bench-upstream", alg="ES256", use="sig")
        documents = {
            "/.well-known/openid-configuration": {"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"},
            "/jwks": {"keys": [jwk]},
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def token(self, *, national_id: str, hpr_number: str | None) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": national_id, "aud": UPSTREAM_AUDIENCE, "iat": now, "exp": now + 3600,
                  "jti": secrets.token_hex(8), "pid": national_id, "hpr_number": hpr_number, "security_level": "4"}
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "bench-upstream", "typ": "at+jwt"})

    def close(self) -> None:
        self._server.shutdown()


def _pairs(runtime: Runtime, region: Path, *, wanted: int) -> list[tuple[str, str | None, str]]:
    """(national id, HPR number, patient) of physicians the policy lets read an admitted patient's notes."""
    from provisioning.subjects import subject_facts

    by_unit: dict[str, list[str]] = {}
    with (region / "care_relationships.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row.get("unit_id"):
                by_unit.setdefault(row["unit_id"], []).append(row["patient"])
    found: list[tuple[str, str | None, str]] = []
    staff = json.loads((region / "hr_staff.json").read_text())["persons"]
    with runtime.sessions() as session:
        for person in staff:
            facts = subject_facts(session, national_id=person["national_id"], at=_now())
            if facts is None or facts.account_status != "active":
                continue
            for role in facts.roles:
                for patient in by_unit.get(role.unit_id, [])[:3]:
                    decision = runtime.authz.decide(DecisionRequest(
                        subject=SubjectRef(kind="person", value=str(facts.person_id)), patient=patient,
                        section="notes", action="read", purpose="TREAT"))
                    if decision.allowed:
                        found.append((facts.national_id, facts.hpr_number, patient))
                        break
                if found and found[-1][0] == facts.national_id:
                    break
            if len(found) >= wanted:
                break
    return found


def _now() -> Any:
    from iam.db.base import utc_now

    return utc_now()


def prepare(work: Path, *, database_url: str, upstream: Upstream) -> dict[str, Any]:
    """Region, clients and upstream tokens; returns what the scenarios need."""
    from iam.authz.clinical_loader import load_clinical_events
    from provisioning.region_loader import load_region

    region = work / "region"
    generate(region, scale=0.01, seed=7)
    federation = work / "federation.yaml"
    federation.write_text(json.dumps({"issuers": [{
        "issuer": upstream.issuer, "audiences": [UPSTREAM_AUDIENCE], "algorithms": ["ES256"],
        "claims": {"national_id": "pid", "hpr_number": "hpr_number", "security_level": "security_level"}}]}))
    settings = load_settings(database_url=database_url, secret_key=SECRET_KEY, federation_file=str(federation),
                             secret_key_file=str(work / "secret.key"))
    runtime = Runtime.start(settings)
    try:
        load_region(runtime, region)
        load_clinical_events(runtime, region)
        with runtime.sessions.begin() as session:
            cc = register_client(session, name="bench service", scopes=["admin"])
            app = register_client(session, name="bench journal app", scopes=[], grant_types=[EXCHANGE],
                                  exchange_audiences=[JOURNAL])
            introspector = register_client(session, name="bench resource server", scopes=["introspect"])
        pairs = _pairs(runtime, region, wanted=16)
    finally:
        runtime.close()
    if not pairs:
        raise SystemExit("no physician with a permitted patient was found in the region")
    return {"federation": federation, "pairs": pairs,
            "clients": {name: (made.client.client_id, made.client_secret) for name, made in
                        (("cc", cc), ("app", app), ("introspector", introspector))}}


@contextmanager
def server(*, kind: str, workers: int, database_url: str, federation: Path, work: Path, issuer: str | None = None,
           log_name: str = "server.log", log_level: str = "info") -> Iterator[tuple[str, int]]:
    """A server on a free port, yielding (base URL, process id); its issuer is its own address unless
    ``issuer`` names a shared one."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    env.update(IAM_DATABASE_URL=database_url, IAM_SECRET_KEY=SECRET_KEY, IAM_FEDERATION_FILE=str(federation),
               IAM_ISSUER=issuer or base, IAM_MIGRATE_ON_START="false", IAM_LOG_LEVEL=log_level)
    if kind == "granian":
        command = [GRANIAN, "--interface", "asgi", "--factory", "--workers", str(workers), "--host", "127.0.0.1",
                   "--port", str(port), "--loop", "uvloop", "--no-ws", "iam.asgi:app_from_environment"]
    else:
        command = [IAM, "serve", "--port", str(port), "--workers", str(workers)]
    log = (work / log_name).open("w")
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit(f"the server did not start; see {work / log_name}")
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def fresh_postgres(url: str) -> None:
    """Drop and create the database named by ``url`` (the benchmarks own theirs)."""
    from sqlalchemy import create_engine, text

    admin_url, name = url.rsplit("/", 1)
    admin = create_engine(f"{admin_url}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _lua(work: Path, name: str, *, path: str, authorization: str, bodies: list[str]) -> Path:
    script = work / f"{name}.lua"
    listed = ",\n".join(json.dumps(body) for body in bodies)
    script.write_text(f"""
local bodies = {{
{listed}
}}
local headers = {{["Content-Type"] = "application/x-www-form-urlencoded",
                 ["Authorization"] = {json.dumps(authorization)}}}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", {json.dumps(path)}, headers, bodies[(counter % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d}}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
""")
    return script


def _wrk(url: str, script: Path, *, connections: int, duration: int, server_pid: int) -> dict[str, Any]:
    """One wrk run; also the CPU seconds the server (all workers) and wrk itself used during it."""
    threads = min(2, connections)
    server_before = tree_cpu_seconds(server_pid)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s",
                             "--timeout", "5s", "-s", str(script), url], capture_output=True, text=True,
                            check=True, timeout=duration + 60).stdout
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["server_cpu"] = tree_cpu_seconds(server_pid) - server_before
    result["wrk_cpu"] = (children_after.ru_utime + children_after.ru_stime
                         - children_before.ru_utime - children_before.ru_stime)
    return result


def _print_header() -> None:
    print(f"{'scenario':24} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'server CPU/req':>15} {'wrk CPU/req':>12} {'req/s on 2 free cores':>22}")


def _measure(name: str, url: str, script: Path, *, connections: int, duration: int, server_pid: int) -> float:
    """Warm up, measure, print one line; return requests per second."""
    _wrk(url, script, connections=connections, duration=2, server_pid=server_pid)  # warm the caches
    result = _wrk(url, script, connections=connections, duration=duration, server_pid=server_pid)
    rate: float = result["requests"] / (result["duration_us"] / 1e6)
    errors = result["status_errors"] + result["socket_errors"]
    server_us = result["server_cpu"] / result["requests"] * 1e6
    wrk_us = result["wrk_cpu"] / result["requests"] * 1e6
    # What the two cores would serve if nothing else ran: CPU per request of server and load generator.
    capacity = 2 / ((server_us + wrk_us) / 1e6)
    print(f"{name:24} {connections:>5} {rate:>9,.0f} {result['p50_us'] / 1000:>8.1f} "
          f"{result['p99_us'] / 1000:>8.1f} {errors:>7} {server_us:>12.0f} µs {wrk_us:>9.0f} µs "
          f"{capacity:>22,.0f}", flush=True)
    return rate


@contextmanager
def peer_server(work: Path) -> Iterator[tuple[str, int]]:
    """node-oidc-provider issuing ES256 JWTs by client credentials (bench/peers/oidc_provider_cc.mjs)."""
    if shutil.which("node") is None or not (PEER_PACKAGES / "node_modules" / "oidc-provider").is_dir():
        raise SystemExit("the peer needs node and tests/oauth/upstream/node_modules (run the README's test "
                         "command once, or npm install there)")
    port = _free_port()
    log = (work / "peer.log").open("w")
    process = subprocess.Popen(["node", str(ROOT / "bench" / "peers" / "oidc_provider_cc.mjs"), str(port),
                                str(PEER_PACKAGES)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while "listening" not in (work / "peer.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the peer did not start: {(work / 'peer.log').read_text()}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _print_scaled_targets(results: dict[str, float]) -> None:
    """The issue's targets were set on the reference machine, where the peer issued PEER_REFERENCE tokens/s;
    measurements.md asks to judge against the peer side by side. Print the targets scaled by how fast the peer
    runs here."""
    ratio = results[PEER] / PEER_REFERENCE
    print(f"# peer here {results[PEER]:,.0f}/s against {PEER_REFERENCE:,}/s on the reference machine: "
          f"this machine runs it at {ratio:.2f}x")
    for name, target in TARGETS.items():
        if name in results:
            scaled = target * ratio
            verdict = "met" if results[name] >= scaled else "NOT met"
            print(f"# {name}: {results[name]:,.0f}/s; target {target:,}/s, scaled {scaled:,.0f}/s: {verdict}; "
                  f"{results[name] / results[PEER]:.2f}x the peer (target {target / PEER_REFERENCE:.2f}x)")


def _basic(client: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{client[0]}:{client[1]}".encode()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder; a PostgreSQL "
                        "database named here is dropped and created anew")
    parser.add_argument("--scenarios", default=f"client_credentials,exchange,exchange_patient,introspect,{PEER}")
    parser.add_argument("--log-level", default="info", choices=["info", "warning"],
                        help="the server's log level; info writes one JSON access-log line per request")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="bench-tokens-"))
    database_url = args.database_url or f"sqlite:///{work / 'iam.db'}"
    if database_url.startswith("postgresql"):
        fresh_postgres(database_url)
    upstream = Upstream()
    started = time.monotonic()
    setup = prepare(work, database_url=database_url, upstream=upstream)
    print(f"# set-up {time.monotonic() - started:.1f} s; {len(setup['pairs'])} users; database "
          f"{database_url.split(':')[0]}; server {args.server} x{args.workers}; log level {args.log_level}; "
          f"load before: {os.getloadavg()}")
    clients = setup["clients"]
    pairs = setup["pairs"]
    with server(kind=args.server, workers=args.workers, database_url=database_url, federation=setup["federation"],
                work=work, log_level=args.log_level) as (base, server_pid):
        cc_token = httpx2.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"},
                               auth=clients["cc"]).json()["access_token"]
        subject_tokens = [upstream.token(national_id=nid, hpr_number=hpr) for nid, hpr, _ in pairs]
        wanted = args.scenarios.split(",")
        scenarios = {
            "client_credentials": ("/oauth2/token", _basic(clients["cc"]), ["grant_type=client_credentials"]),
            "exchange": ("/oauth2/token", _basic(clients["app"]), [urlencode({
                "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS_TOKEN,
                "audience": JOURNAL}) for token in subject_tokens]),
            "exchange_patient": ("/oauth2/token", _basic(clients["app"]), [urlencode({
                "grant_type": EXCHANGE, "subject_token": token, "subject_token_type": ACCESS_TOKEN,
                "audience": JOURNAL, "patient": patient, "purpose_of_use": "TREAT"})
                for token, (_, _, patient) in zip(subject_tokens, pairs, strict=True)]),
            "introspect": ("/oauth2/introspect", _basic(clients["introspector"]), [f"token={cc_token}"]),
        }
        path, authorization, bodies = scenarios["exchange_patient"]
        probe = httpx2.post(f"{base}{path}", content=bodies[0], headers={
            "Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"})
        if probe.status_code != 200:
            raise SystemExit(f"a patient-bound exchange failed: {probe.status_code} {probe.text}")
        _print_header()
        results: dict[str, float] = {}
        for name in [name for name in wanted if name in scenarios]:
            path, authorization, bodies = scenarios[name]
            script = _lua(work, name, path=path, authorization=authorization, bodies=bodies)
            results[name] = _measure(name, f"{base}{path}", script, connections=args.connections,
                                     duration=args.duration, server_pid=server_pid)
    if PEER in wanted:
        with peer_server(work) as (base, peer_pid):
            probe = httpx2.post(f"{base}/token", data={"grant_type": "client_credentials", "scope": "journal"},
                                auth=("bench", "bench-secret"))
            if probe.status_code != 200 or probe.json().get("access_token", "").count(".") != 2:
                raise SystemExit(f"the peer does not issue JWTs: {probe.status_code} {probe.text}")
            script = _lua(work, PEER, path="/token", authorization=_basic(("bench", "bench-secret")),
                          bodies=["grant_type=client_credentials&scope=journal"])
            results[PEER] = _measure(PEER, f"{base}/token", script, connections=args.connections,
                                     duration=args.duration, server_pid=peer_pid)
        _print_scaled_targets(results)
    upstream.close()
    print(f"# load after: {os.getloadavg()}")
    print(f"# server log kept at {work}") if os.environ.get("KEEP") else shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
