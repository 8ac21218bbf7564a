"""Fixtures for the authorization server's tests.

* ``upstream``: a real OpenID Connect provider (node-oidc-provider, ``tests/oauth/upstream``) on a free
  loopback port, playing the region's login service. ``npm install`` runs there first if its
  ``node_modules`` is missing. Tests log users in through its real authorization-code flow.
* ``settings`` (overriding the root fixture): trusts that upstream through a federation file.
* ``hospital`` and ``staff``: people provisioned through provisioning's engine (:mod:`tests.oauth.staff`).
* ``live``: the service on a real loopback port (uvicorn in a thread) for Authlib's OAuth client.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec

from iam.app import create_app
from iam.config import Settings
from iam.oauth.clients import register_client
from iam.runtime import Runtime
from tests.cli_helpers import free_port
from tests.oauth.staff import Hospital, Staff, hire, open_hospital

UPSTREAM_DIR = Path(__file__).parent / "upstream"
UPSTREAM_AUDIENCE = "urn:iam:token-exchange"
JOURNAL = "https://journal.region.test"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_REDIRECT = "http://127.0.0.1/callback"


def _ensure_node_modules() -> None:
    if not (UPSTREAM_DIR / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=UPSTREAM_DIR, check=True,
                       capture_output=True, timeout=300)


@dataclass
class Upstream:
    """The running login provider, and its signing key so tests can also mint tokens it never issued."""

    issuer: str
    config_path: Path
    key: ec.EllipticCurvePrivateKey
    kid: str
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add_account(self, login: str, *, national_id: str | None, hpr_number: str | None,
                    security_level: str = "4", name: str = "Kari Lege") -> None:
        self.accounts[login] = {"pid": national_id, "hpr_number": hpr_number, "security_level": security_level,
                                "name": name}
        config = json.loads(self.config_path.read_text())
        config["accounts"] = self.accounts
        self.config_path.write_text(json.dumps(config))

    def login(self, login: str) -> str:
        """The user's access token from a real authorization-code login (dev interactions form)."""
        with httpx2.Client(follow_redirects=False, timeout=10) as browser:
            response = browser.get(f"{self.issuer}/auth", params={
                "client_id": "journal", "response_type": "code", "redirect_uri": _REDIRECT,
                "scope": "openid profile clinical"})
            for _ in range(10):
                location = response.headers["location"]
                if location.startswith(_REDIRECT):
                    break
                url = location if location.startswith("http") else self.issuer + location
                response = browser.get(url)
                if response.status_code == 200:  # the login form
                    action = re.search(r'action="([^"]+)"', response.text)
                    assert action is not None, response.text
                    response = browser.post(action.group(1), data={"prompt": "login", "login": login,
                                                                   "password": "secret"})
            code = re.search(r"[?&]code=([^&]+)", response.headers["location"])
            assert code is not None, response.headers["location"]
            tokens = browser.post(f"{self.issuer}/token", auth=("journal", "journal-secret"), data={
                "grant_type": "authorization_code", "code": code.group(1), "redirect_uri": _REDIRECT})
        assert tokens.status_code == 200, tokens.text
        token: str = tokens.json()["access_token"]
        return token

    def mint(self, *, login: str, key: ec.EllipticCurvePrivateKey | None = None, kid: str | None = None,
             **overrides: Any) -> str:
        """A token signed with the upstream's (or another) key, with chosen claims."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": login, "aud": UPSTREAM_AUDIENCE, "iat": now,
                                  "exp": now + 300, "jti": secrets.token_hex(8), "client_id": "journal",
                                  "scope": "clinical", **{k: v for k, v in self.accounts[login].items() if v}}
        claims.update(overrides)
        return jwt.encode(claims, key or self.key, algorithm="ES256",
                          headers={"kid": kid or self.kid, "typ": "at+jwt"})


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    _ensure_node_modules()
    key = ec.generate_private_key(ec.SECP256R1())
    kid = "upstream-es256-1"
    private_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    private_jwk.update(kid=kid, alg="ES256", use="sig")
    config_path = tmp_path_factory.mktemp("upstream") / "provider.json"
    config_path.write_text(json.dumps({"keys": [private_jwk], "audience": UPSTREAM_AUDIENCE, "accounts": {}}))
    port = free_port()
    process = subprocess.Popen(["node", str(UPSTREAM_DIR / "provider.mjs"), str(port), str(config_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("listening "), f"the upstream provider did not start: {line!r}"
    try:
        yield Upstream(issuer=line.split()[1], config_path=config_path, key=key, kid=kid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_federation_file(path: Path, upstream: Upstream, **extra: Any) -> Path:
    issuer = {"issuer": upstream.issuer, "audiences": [UPSTREAM_AUDIENCE], "algorithms": ["ES256"],
              "claims": {"national_id": "pid", "hpr_number": "hpr_number", "security_level": "security_level"},
              **extra}
    path.write_text(json.dumps({"issuers": [issuer]}))  # JSON is YAML
    return path


@pytest.fixture
def settings(settings: Settings, upstream: Upstream, tmp_path: Path) -> Settings:
    federation = write_federation_file(tmp_path / "federation.yaml", upstream)
    return settings.model_copy(update={"federation_file": federation})


@pytest.fixture
def hospital(runtime: Runtime, tmp_path: Path) -> Hospital:
    return open_hospital(runtime, tmp_path)


@pytest.fixture
def staff(runtime: Runtime, hospital: Hospital, upstream: Upstream) -> Callable[..., Staff]:
    """Hire person ``number`` and give them a login at the upstream provider (login name = national id)."""

    def make(number: int, *, security_level: str = "4", **kwargs: Any) -> Staff:
        person = hire(runtime, hospital, number, **kwargs)
        upstream.add_account(person.national_id, national_id=person.national_id, hpr_number=person.hpr_number,
                             security_level=security_level, name=person.name)
        return person

    return make


@pytest.fixture
def exchange_client(runtime: Runtime) -> Callable[..., tuple[str, str]]:
    """A clinical app that may exchange tokens for the journal's audience: (client_id, secret)."""

    def make(*, audiences: tuple[str, ...] = (JOURNAL,), scopes: tuple[str, ...] = ()) -> tuple[str, str]:
        with runtime.sessions.begin() as session:
            created = register_client(session, name="journal app", scopes=list(scopes),
                                      grant_types=[EXCHANGE], exchange_audiences=list(audiences))
        assert created.client_secret is not None
        return created.client.client_id, created.client_secret

    return make


@dataclass
class Live:
    url: str
    runtime: Runtime


@pytest.fixture
def live(settings: Settings) -> Iterator[Live]:
    """The service on a real loopback port, with its issuer set to that address."""
    port = free_port()
    live_settings = settings.model_copy(update={"issuer": f"http://127.0.0.1:{port}"})
    runtime = Runtime.start(live_settings)
    server = uvicorn.Server(uvicorn.Config(create_app(live_settings, runtime=runtime), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield Live(url=f"http://127.0.0.1:{port}", runtime=runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()
