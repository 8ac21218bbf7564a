"""Shared set-up for the SCIM benchmarks: a region, a database with its registers, a real ``iam serve``."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iam.db import make_engine, make_session_factory, upgrade  # noqa: E402
from iam.db.base import utc_now  # noqa: E402
from iam.oauth.clients import register_client  # noqa: E402
from iam.region import generate  # noqa: E402
from provisioning.hpr import FileLicenceRegister, sync_licences  # noqa: E402
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations  # noqa: E402

IAM = str(Path(sys.executable).parent / "iam")


def prepare(work: Path, *, scale: float, database_url: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Generate the region and a migrated database holding its registers; return (url, persons)."""
    generate(work / "region", scale=scale, seed=1)
    url = database_url or f"sqlite:///{work / 'iam.db'}"
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        units = read_organisations(work / "region" / "organisations.csv")
        apply_organisations(session, plan_organisations(session, units), actor="bench")
        sync_licences(session, FileLicenceRegister(work / "region" / "hpr.csv").all(), source="bench", at=utc_now())
    engine.dispose()
    persons: list[dict[str, Any]] = json.loads((work / "region" / "hr_staff.json").read_text())["persons"]
    return url, persons


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(database_url: str) -> Iterator[tuple[str, str]]:
    """Run ``iam serve`` on a free port; yield (base URL, a bearer token with the scim scope)."""
    engine = make_engine(database_url)
    with make_session_factory(engine).begin() as session:
        created = register_client(session, name="bench", scopes=["scim"])
    engine.dispose()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    env.update(IAM_DATABASE_URL=database_url, IAM_ISSUER=url, IAM_SECRET_KEY=secrets.token_urlsafe(40),
               IAM_LOG_LEVEL="warning")
    process = subprocess.Popen([IAM, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.2)
        token = httpx2.post(f"{url}/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(created.client.client_id, created.client_secret)).json()["access_token"]
        yield url, token
    finally:
        process.terminate()
        process.wait(timeout=30)


def user_body(person: dict[str, Any]) -> dict[str, Any]:
    health: dict[str, Any] = {"nationalIdentityNumber": person["national_id"], "employments": [
        {"department": job["department"], "positionCode": job["position_code"], "startDate": job["start_date"],
         **({"endDate": job["end_date"]} if job["end_date"] else {})} for job in person["employments"]]}
    if person["hpr_number"]:
        health["hprNumber"] = person["hpr_number"]
    enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    healthstaff = "urn:ietf:params:scim:schemas:extension:nhn:2.0:HealthStaff"
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", enterprise, healthstaff],
            "userName": person["employee_id"].lower(),
            "name": {"givenName": person["given_name"], "familyName": person["family_name"]},
            "emails": [{"value": f"{person['employee_id'].lower()}@region.example", "type": "work"}],
            enterprise: {"employeeNumber": person["employee_id"]}, healthstaff: health}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (2 cores)"
