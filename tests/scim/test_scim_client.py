"""End to end with a SCIM client library (scim2-client over httpx2) against a real ``iam serve`` process:
discover, create, find, patch and deactivate a user; roles follow the person through the engine."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import PatchOp, SearchRequest

from tests.cli_helpers import IAM, free_port
from tests.conftest import TEST_SECRET_KEY
from tests.scim.conftest import HEALTH, pick

NURSE_ROLE = "nurse"


@pytest.fixture
def server(database_url: str, registers: None, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("IAM_")}
    env.update(IAM_DATABASE_URL=database_url, IAM_SECRET_KEY=TEST_SECRET_KEY, IAM_ISSUER=url,
               IAM_SECRET_KEY_FILE=str(tmp_path / "unused.key"))
    process = subprocess.Popen([IAM, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx2.TransportError:
            time.sleep(0.1)
    assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
    yield url
    process.terminate()
    process.wait(timeout=20)
    if process.stderr:
        process.stderr.close()


def test_scim2_client_creates_finds_patches_and_deactivates_a_user(
        server: str, oauth_client: Callable[..., tuple[str, str]], staff: list[dict[str, Any]]) -> None:
    client_id, secret = oauth_client("scim")
    token = httpx2.post(f"{server}/oauth2/token", data={"grant_type": "client_credentials"},
                        auth=(client_id, secret)).json()["access_token"]
    http = httpx2.Client(base_url=f"{server}/scim/v2", headers={"Authorization": f"Bearer {token}"})
    scim = SyncSCIMClient(http)
    scim.discover()
    User = scim.get_resource_model("User")
    assert User is not None
    nurse = pick(staff, "nurse")
    job = nurse["employments"][0]
    created: Any = scim.create(User.model_validate({
        "userName": "kari.nordmann",
        "name": {"givenName": nurse["given_name"], "familyName": nurse["family_name"]},
        HEALTH: {"nationalIdentityNumber": nurse["national_id"], "hprNumber": nurse["hpr_number"],
                 "employments": [{"department": job["department"], "positionCode": job["position_code"],
                                  "startDate": job["start_date"]}]},
    }))
    health = created.model_dump()[HEALTH]
    assert [role["value"] for role in health["roles"]] == [NURSE_ROLE]
    assert health["employments"][0]["legalEntity"] == job["legal_entity"]  # filled from the register

    found: Any = scim.query(User, query_parameters=SearchRequest(filter='userName eq "kari.nordmann"'))
    assert [user.id for user in found.resources] == [created.id]

    patched: Any = scim.modify(User, created.id, PatchOp[User](operations=[
        {"op": "replace", "path": "displayName", "value": "Kari N."}]))
    assert patched.display_name == "Kari N."

    deactivated: Any = scim.modify(User, created.id, PatchOp[User](operations=[
        {"op": "replace", "path": "active", "value": False}]))
    assert deactivated.active is False
    assert "roles" not in deactivated.model_dump()[HEALTH]
    scim.delete(User, created.id)
    assert http.get(f"/Users/{created.id}").status_code == 404
