"""Several nodes on one database: a revocation on one is honoured by the other (change bus), and a key
rotation (``iam keys rotate``) never makes a verification fail."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import jwt
import pytest
from fastapi.testclient import TestClient

from iam.oauth.clients import register_client
from iam.runtime import Runtime
from tests.cli_helpers import IAM, free_port, poll, run_iam
from tests.conftest import ISSUER, TEST_SECRET_KEY

NODE_ISSUER = "http://iam.region.test"



@pytest.fixture
def nodes(database_url: str, tmp_path: Any) -> Iterator[list[str]]:
    """Two ``iam serve`` processes sharing the test database."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IAM_")}
    environment.update(IAM_DATABASE_URL=database_url, IAM_SECRET_KEY=TEST_SECRET_KEY, IAM_ISSUER=NODE_ISSUER,
                       IAM_LOG_LEVEL="warning")
    ports = [free_port(), free_port()]
    processes = [subprocess.Popen([IAM, "serve", "--port", str(port)], env=environment, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in urls:
            ready = poll(lambda url=url: _get(f"{url}/readyz"), until=lambda status: status == 200, seconds=30)
            assert ready == 200, f"{url} did not become ready"
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def _get(url: str) -> int:
    try:
        return httpx2.get(url, timeout=2).status_code
    except httpx2.HTTPError:
        return 0


def test_revocation_on_one_node_is_honoured_by_the_other(nodes: list[str], settings: Any) -> None:
    runtime = Runtime.start(settings)
    try:
        with runtime.sessions.begin() as session:
            created = register_client(session, name="app", scopes=["admin"])
    finally:
        runtime.close()
    app = (created.client.client_id, created.client_secret or "")
    first, second = nodes
    token = httpx2.post(f"{first}/oauth2/token", data={"grant_type": "client_credentials"}, auth=app).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert httpx2.get(f"{second}/admin/v1/clients", headers=bearer).status_code == 200
    assert httpx2.post(f"{first}/oauth2/revoke", data={"token": token["access_token"]}, auth=app).status_code == 200
    refused = poll(lambda: httpx2.get(f"{second}/admin/v1/clients", headers=bearer),
                    until=lambda response: response.status_code == 401)
    assert refused.json()["error_description"] == "the token has been revoked"


def test_key_rotation_never_fails_a_verification(client: TestClient, runtime: Runtime, database_url: str,
                                                 oauth_client: Callable[..., tuple[str, str]]) -> None:
    app = oauth_client("admin")

    def token() -> str:
        response = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=app)
        assert response.status_code == 200
        issued: str = response.json()["access_token"]
        return issued

    before = token()
    old_kid = jwt.get_unverified_header(before)["kid"]
    rotated = run_iam("keys", "rotate", "--alg", "EdDSA", "--activate-in", "1",
                      env={"IAM_DATABASE_URL": database_url, "IAM_SECRET_KEY": TEST_SECRET_KEY, "IAM_ISSUER": ISSUER})
    assert rotated.returncode == 0, rotated.stderr
    new_kid = rotated.stdout.split('"kid": "')[1].split('"')[0]
    # A resource server that fetches JWKS now, before the new key signs anything, already has it.
    published = poll(lambda: client.get("/oauth2/jwks").json()["keys"],
                      until=lambda keys: {key["kid"] for key in keys} == {old_kid, new_kid})
    assert {key["kid"] for key in published} == {old_kid, new_kid}
    cached = {key["kid"]: jwt.PyJWK(key) for key in published}
    issued = [before, *_poll_tokens(token, until_kid=new_kid)]
    assert jwt.get_unverified_header(issued[-1])["kid"] == new_kid
    for each in issued:
        header = jwt.get_unverified_header(each)
        jwt.decode(each, cached[header["kid"]], algorithms=[header["alg"]], audience=ISSUER)
        assert client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {each}"}).status_code == 200
    assert client.get("/.well-known/openid-configuration").json()["access_token_signing_alg_values_supported"] == [
        "ES256", "EdDSA"]


def _poll_tokens(issue: Callable[[], str], *, until_kid: str, seconds: float = 10.0) -> list[str]:
    deadline = time.monotonic() + seconds
    tokens = [issue()]
    while jwt.get_unverified_header(tokens[-1])["kid"] != until_kid and time.monotonic() < deadline:
        time.sleep(0.1)
        tokens.append(issue())
    return tokens
