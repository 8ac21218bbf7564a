"""Client secrets are stored hashed; signing keys are stored encrypted under the settings' key."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from iam.config import ConfigError, Settings
from iam.oauth.models import ClientRow, SigningKeyRow
from iam.runtime import Runtime


def test_client_secret_is_not_stored_in_clear(runtime: Runtime, oauth_client: Callable[..., tuple[str, str]]) -> None:
    client_id, secret = oauth_client("admin")
    with runtime.sessions() as session:
        row = session.get(ClientRow, client_id)
    assert row is not None and row.secret_hash is not None
    assert secret not in row.secret_hash
    assert row.secret_hash.startswith("sha256$")


def test_private_key_is_encrypted_at_rest(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        row = session.scalars(select(SigningKeyRow)).one()
    assert b"PRIVATE KEY" not in row.private_key_encrypted
    assert '"d"' not in row.public_jwk


def test_wrong_secret_key_refuses_to_start_with_a_clear_message(runtime: Runtime, settings: Settings) -> None:
    wrong = Settings(**{**settings.model_dump(), "secret_key": "another-secret-key-" + "x" * 32})
    kid = runtime.keys.signing_key().kid
    with pytest.raises(ConfigError) as raised:
        Runtime.start(wrong)
    assert str(raised.value) == (f"signing key '{kid}' cannot be decrypted with the configured secret key "
                                 "(IAM_SECRET_KEY or IAM_SECRET_KEY_FILE changed?)")
