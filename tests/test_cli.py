"""The ``iam`` command line as a user runs it: help with examples, JSON output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import inspect, text

from audit.compaction import search_state
from iam import __version__
from iam.db import make_engine
from tests.authz.conftest import evaluation
from tests.cli_helpers import IAM, free_port, poll, run_iam, sockets_held, sockets_on
from tests.conftest import TEST_SECRET_KEY

KEY_ENV = {"IAM_SECRET_KEY": TEST_SECRET_KEY}


def test_version_is_printed() -> None:
    result = run_iam("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"iam, version {__version__}"


@pytest.mark.parametrize("command", [[], ["serve"], ["demo"], ["db", "upgrade"], ["client", "create"],
                                     ["client", "scopes"], ["region", "generate"]])
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = run_iam(*command, "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout


def test_unknown_flag_exits_2_with_one_clear_line() -> None:
    result = run_iam("serve", "--bogus")
    assert result.returncode == 2
    assert "No such option '--bogus'" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_database_url_exits_2_naming_the_setting(tmp_path: Path) -> None:
    result = run_iam("db", "upgrade", "--database-url", "mysql://localhost/x", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: Setting IAM_DATABASE_URL has value 'mysql://localhost/x': "
                                     "expected a sqlite:/// or postgresql+psycopg:// URL")


def test_unreachable_database_exits_1_without_traceback(tmp_path: Path) -> None:
    result = run_iam("db", "upgrade", "--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
                     cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: database postgresql+psycopg://postgres@127.0.0.1:1/nothing "
                                    "is not reachable: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_db_upgrade_creates_the_schema_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_iam("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    assert {"oauth_clients", "oauth_signing_keys", "alembic_version"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_unknown_scope_is_refused_by_client_create(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'iam.db'}"
    result = run_iam("client", "create", "app", "--scope", "superuser", "--database-url", url, cwd=tmp_path,
                     env=KEY_ENV)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: scope 'superuser' is not a known scope (see 'iam client scopes')"


def test_serve_then_client_create_then_token_works_end_to_end(database_url: str, tmp_path: Path) -> None:
    created = run_iam("client", "create", "journal", "--scope", "admin", "--database-url", database_url,
                      cwd=tmp_path, env=KEY_ENV)
    assert created.returncode == 0, created.stderr
    credentials = json.loads(created.stdout)
    assert set(credentials) == {"client_id", "client_secret", "scopes"}
    port = free_port()
    server = subprocess.Popen([IAM, "serve", "--port", str(port), "--database-url", database_url], cwd=tmp_path,
                              env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "PATH": "/usr/bin:/bin"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = _wait_ready(base)
        assert ready.json()["status"] == "ok"
        issued = httpx.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"},
                            auth=(credentials["client_id"], credentials["client_secret"]))
        token = issued.json()["access_token"]
        listed = httpx.get(f"{base}/admin/v1/clients", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        assert [entry["name"] for entry in listed.json()] == ["journal"]
        discovery = httpx.get(f"{base}/.well-known/openid-configuration")
        assert discovery.json()["issuer"] == base
    finally:
        server.terminate()  # SIGTERM, as systemd, docker and Kubernetes stop a service
        _, stderr = server.communicate(timeout=20)
    assert credentials["client_secret"] not in stderr
    assert token not in stderr
    entries = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert all(entry["level"] for entry in entries)
    # Every answered request left its request line, although they are buffered and the server was stopped.
    requests = {entry["request_id"]: entry for entry in entries if entry["logger"] == "iam.access"}
    for response, path in ((issued, "/oauth2/token"), (listed, "/admin/v1/clients"),
                           (discovery, "/.well-known/openid-configuration")):
        line = requests[response.headers["x-request-id"]]
        assert (line["path"], line["status"], line["message"]) == (path, 200, "request")


def test_a_server_stopped_under_load_leaves_a_request_line_for_every_answer(database_url: str,
                                                                           tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([IAM, "serve", "--port", str(port), "--database-url", database_url], cwd=tmp_path,
                              env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "PATH": "/usr/bin:/bin"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    answered: list[str] = []
    stop = threading.Event()

    def call() -> None:
        with httpx.Client(timeout=5) as session:
            while not stop.is_set():
                try:
                    answered.append(session.get(f"{base}/healthz").headers["x-request-id"])
                except httpx.TransportError:
                    return  # the server has closed
    try:
        _wait_ready(base)
        callers = [threading.Thread(target=call) for _ in range(4)]
        for caller in callers:
            caller.start()
        time.sleep(1.0)
        server.terminate()  # SIGTERM while requests keep coming
        _, stderr = server.communicate(timeout=30)
    finally:
        stop.set()
        server.kill()
    for caller in callers:
        caller.join(timeout=10)
    logged = {json.loads(line).get("request_id") for line in stderr.splitlines() if line.startswith("{")}
    assert len(answered) > 50
    assert [request_id for request_id in answered if request_id not in logged] == []


def test_several_workers_index_and_checkpoint_the_access_log_once_in_the_supervisor(database_url: str,
                                                                                    tmp_path: Path) -> None:
    """With ``--workers 2`` the workers only append; the supervising process indexes what they appended, so
    that searches use the index, and signs checkpoints over it, with the key in force."""
    created = run_iam("client", "create", "journal", "--scope", "authz", "--database-url", database_url,
                      cwd=tmp_path, env=KEY_ENV)
    assert created.returncode == 0, created.stderr
    credentials = json.loads(created.stdout)
    port = free_port()
    server = subprocess.Popen([IAM, "serve", "--port", str(port), "--workers", "2", "--database-url", database_url],
                              cwd=tmp_path, env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "PATH": "/usr/bin:/bin",
                                                 "IAM_AUDIT_CHECKPOINT_INTERVAL": "1"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    engine = make_engine(database_url)
    try:
        _wait_ready(base)
        token = httpx.post(f"{base}/oauth2/token", data={"grant_type": "client_credentials"},
                           auth=(credentials["client_id"], credentials["client_secret"])).json()["access_token"]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as session:
            answers = [session.post(f"{base}/access/v1/evaluation", json=evaluation(f"hpr:{9_000_000 + i}"))
                       for i in range(40)]

        def progress() -> tuple[int, int, int, int]:
            with engine.connect() as connection:
                logged, last = connection.execute(text(
                    "SELECT count(*) FILTER (WHERE kind = 'access'), coalesce(max(seq), 0) FROM audit_events")).one()
                signed = connection.execute(text("SELECT coalesce(max(tree_size), 0) FROM audit_checkpoints")).scalar()
                return int(logged), int(last), search_state(connection).indexed_seq, int(signed or 0)
        logged, last, indexed, signed = poll(progress, until=lambda p: p[0] == 40 and p[2] == p[1] and p[3] >= p[1],
                                             seconds=20)
        # After a key rotation the supervisor signs the next checkpoint with the new key.
        rotated = run_iam("keys", "rotate", "--activate-in", "0", "--database-url", database_url, cwd=tmp_path,
                          env=KEY_ENV)
        assert rotated.returncode == 0, rotated.stderr
        new_kid = json.loads(rotated.stdout)["kid"]
        time.sleep(1.5)  # the change bus delivers within a second
        httpx.post(f"{base}/access/v1/evaluation", json=evaluation("hpr:9000100"),
                   headers={"Authorization": f"Bearer {token}"})

        def newest_kid() -> tuple[int, str]:
            with engine.connect() as connection:
                row = connection.execute(text(
                    "SELECT tree_size, kid FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1")).one()
                return int(row[0]), str(row[1])
        after_rotation = poll(newest_kid, until=lambda c: c[0] > signed, seconds=20)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
        engine.dispose()
    assert [answer.json().get("decision") for answer in answers] == [False] * 40, answers[0].text
    # Every decision logged, every event indexed and under a signed checkpoint.
    assert (logged, indexed, signed >= last) == (40, last, True), stderr[-2000:]
    assert after_rotation[1] == new_kid


def test_several_workers_share_connections_opened_at_once(database_url: str, tmp_path: Path) -> None:
    """Each worker listens on the port itself, so the kernel spreads connections over them: with one shared
    socket, whichever worker woke first took most of a burst of connections and its clients waited longest."""
    port = free_port()
    server = subprocess.Popen([IAM, "serve", "--port", str(port), "--workers", "2", "--database-url", database_url],
                              cwd=tmp_path, env={"IAM_SECRET_KEY": TEST_SECRET_KEY, "PATH": "/usr/bin:/bin"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    clients = [httpx.Client() for _ in range(32)]
    try:
        _wait_ready(base)
        assert poll(lambda: sockets_on(port)[0], until=lambda listening: listening == 2, seconds=30) == 2
        answered = [None] * len(clients)

        def call(index: int) -> None:
            answered[index] = clients[index].get(f"{base}/healthz").status_code

        callers = [threading.Thread(target=call, args=(i,)) for i in range(len(clients))]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=30)
        # At once: the server closes a connection idle for 5 s.
        listening, established = sockets_on(port)
        holders = sockets_held(server.pid, set(established.values()))
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.communicate(timeout=30)
    assert answered == [200] * len(clients)
    assert listening == 2
    # Spread by a hash of each connection's addresses: each worker holds 6 or more of 32 but for odds of 1e-4.
    busy = [count for count in holders if count]
    assert len(busy) == 2 and min(busy) >= 6 and sum(busy) == len(clients), holders


def test_a_second_server_on_a_port_in_use_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    """The workers share their port (SO_REUSEPORT), which must not let a second server take half of it."""
    port = free_port()
    env = {"IAM_SECRET_KEY": TEST_SECRET_KEY, "PATH": "/usr/bin:/bin"}
    command = [IAM, "serve", "--port", str(port), "--workers", "2", "--database-url", database_url]
    first = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(f"http://127.0.0.1:{port}")
        assert poll(lambda: sockets_on(port)[0], until=lambda listening: listening == 2, seconds=30) == 2
        second = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        listening = sockets_on(port)[0]
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert (second.returncode, second.stderr) == (
        1, f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n")
    assert listening == 2  # the first server's two workers, and no more


def _wait_ready(base: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.get(f"{base}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
