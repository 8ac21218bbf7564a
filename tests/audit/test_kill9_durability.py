"""``kill -9`` of a serving process under load loses no acknowledged event, and the chain stays intact."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx2
from sqlalchemy import text

from audit.verify import verify_log
from iam.db import make_engine
from iam.oauth.clients import register_client
from iam.runtime import Runtime
from tests.audit.conftest import PATIENT
from tests.cli_helpers import IAM, free_port
from tests.conftest import TEST_SECRET_KEY

CALLERS = 8
ACKNOWLEDGED_BEFORE_KILL = 200


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} did not become ready")


def _load(url: str, token: str, acknowledged: list[str], lock: threading.Lock, stop: threading.Event,
          batch: bool) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    event = {"action": "read", "outcome": "permit", "user_id": "person-1", "patient": PATIENT, "data_item": "notes"}
    with httpx2.Client(base_url=url, headers=headers, timeout=10) as http:
        while not stop.is_set():
            try:
                if batch:
                    response = http.post("/audit/v1/events:batch", json={"events": [event] * 5})
                    ids = response.json()["event_ids"] if response.status_code == 201 else []
                else:
                    response = http.post("/audit/v1/events", json=event)
                    ids = [response.json()["event_id"]] if response.status_code == 201 else []
            except (httpx2.HTTPError, ValueError):
                return
            with lock:
                acknowledged.extend(ids)


def test_no_acknowledged_event_is_lost_when_the_server_is_killed(settings: object, database_url: str,
                                                                  tmp_path: Path) -> None:
    runtime = Runtime.start(settings)  # type: ignore[arg-type]
    with runtime.sessions.begin() as session:
        created = register_client(session, name="journal", scopes=["audit:write"])
    runtime.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    environment.update(IAM_DATABASE_URL=database_url, IAM_SECRET_KEY=TEST_SECRET_KEY, IAM_LOG_LEVEL="error",
                       IAM_MIGRATE_ON_START="false")
    server = subprocess.Popen([IAM, "serve", "--port", str(port)], env=environment, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    try:
        _wait_ready(url)
        token = httpx2.post(f"{url}/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(created.client.client_id, created.client_secret or "")).json()["access_token"]
        callers = [threading.Thread(target=_load, args=(url, token, acknowledged, lock, stop, i % 3 == 0))
                   for i in range(CALLERS)]
        for caller in callers:
            caller.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)  # mid-load: requests are in flight and batches half written
        server.wait(timeout=10)
        stop.set()
        for caller in callers:
            caller.join(timeout=15)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        stored = set(connection.execute(text("SELECT event_id FROM audit_events")).scalars())
    report = verify_log(engine)
    engine.dispose()
    assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL
    assert set(acknowledged) - stored == set()
    assert (report.ok, report.events) == (True, len(stored))
