"""``iam client register`` and ``iam client disable``, run as a user would (``iam keys rotate``: test_nodes)."""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ec

from iam.cli import cli
from iam.oauth.clients import new_client_id
from tests.conftest import TEST_SECRET_KEY


def run_iam(*args: str, env: dict[str, str]) -> Result:
    """The ``iam`` command in this process (the installed entry point is exercised by tests/test_cli.py)."""
    return CliRunner().invoke(cli, list(args), env=env)


def _env(database_url: str) -> dict[str, str]:
    return {"IAM_DATABASE_URL": database_url, "IAM_SECRET_KEY": TEST_SECRET_KEY}


def test_register_a_private_key_jwt_exchange_client_then_disable_it(database_url: str, tmp_path: Path) -> None:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**public, "kid": "k1", "alg": "ES256"}]}))
    registered = run_iam("client", "register", "journal", "--grant-type", "token-exchange", "--auth-method",
                         "private_key_jwt", "--jwks-file", str(jwks), "--audience", "https://journal.test",
                         env=_env(database_url))
    assert registered.exit_code == 0, registered.output
    created = json.loads(registered.stdout)
    assert created["client_secret"] is None
    assert created["grant_types"] == ["urn:ietf:params:oauth:grant-type:token-exchange"]
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert created["exchange_audiences"] == ["https://journal.test"]
    disabled = run_iam("client", "disable", created["client_id"], env=_env(database_url))
    assert (disabled.exit_code, disabled.stdout) == (0, f"client {created['client_id']} disabled\n")


def test_bad_registration_is_one_line_and_exit_1(database_url: str) -> None:
    result = run_iam("client", "register", "app", "--scope", "authz", "--auth-method", "private_key_jwt",
                     env=_env(database_url))
    assert (result.exit_code, result.stderr) == (
        1, "error: a private_key_jwt client needs its public keys: give jwks or jwks_uri, not both\n")


def test_generated_client_ids_are_never_read_as_options() -> None:
    # The old base64url ids started with "-" one time in 64, and `iam client disable <id>` then failed.
    ids = [new_client_id() for _ in range(2000)]
    assert not [client_id for client_id in ids if client_id.startswith("-")]
    assert len(set(ids)) == len(ids)
