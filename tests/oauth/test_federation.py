"""Upstream federation: the trusted-issuers file, claim mapping (HelseID preset), key rotation at the login
provider (refetch on an unknown kid, rate-limited), and the discovery document listing what we support."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from iam.config import ConfigError
from iam.oauth import rfc7515
from iam.oauth.errors import InvalidRequest
from iam.oauth.federation import Federation, FederationConfig, load_federation
from iam.oauth.jwks import FetchError, RemoteKeySet
from tests.conftest import ISSUER

HELSEID = "https://helseid-sts.test"


class Publisher:
    """The network as the login provider publishes it: discovery and JWKS documents, counting requests."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, ec.EllipticCurvePrivateKey]] = [("k1", ec.generate_private_key(ec.SECP256R1()))]
        self.fetched: list[str] = []

    def rotate(self) -> None:
        self.keys.insert(0, (f"k{len(self.keys) + 1}", ec.generate_private_key(ec.SECP256R1())))

    def fetch(self, url: str) -> Any:
        self.fetched.append(url)
        if url.endswith("/.well-known/openid-configuration"):
            return {"issuer": HELSEID, "jwks_uri": f"{HELSEID}/jwks"}
        keys = []
        for kid, key in self.keys:
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})
        return {"keys": keys}

    def token(self, **claims: Any) -> str:
        kid, key = self.keys[0]
        now = int(time.time())
        payload = {"iss": HELSEID, "sub": "abc", "aud": "nhn:iam", "iat": now, "exp": now + 300, **claims}
        return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})


def _verify(federation: Federation, token: str) -> Any:
    return federation.verify(token, rfc7515.parse(token), now=int(time.time()))


def _helseid(publisher: Publisher) -> Federation:
    config = FederationConfig.model_validate({"issuers": [{"issuer": HELSEID, "audiences": ["nhn:iam"],
                                                           "preset": "helseid", "algorithms": ["ES256"],
                                                           "jwks_refetch_seconds": 0}]})
    return Federation(config, fetch=publisher.fetch)


def test_helseid_preset_maps_its_claims() -> None:
    publisher = Publisher()
    identity = _verify(_helseid(publisher), publisher.token(**{
        "helseid://claims/identity/pid": "02818012023", "helseid://claims/hpr/hpr_number": "9100001",
        "helseid://claims/identity/security_level": "4", "name": "Kari Lege"}))
    assert (identity.national_id, identity.hpr_number, identity.security_level, identity.name) == (
        "02818012023", "9100001", 4, "Kari Lege")
    assert identity.min_security_level == 4


def test_a_rotated_upstream_key_is_fetched_when_a_token_names_it() -> None:
    publisher = Publisher()
    federation = _helseid(publisher)
    _verify(federation, publisher.token())
    publisher.rotate()
    _verify(federation, publisher.token())
    assert publisher.fetched == [f"{HELSEID}/.well-known/openid-configuration", f"{HELSEID}/jwks", f"{HELSEID}/jwks"]


def test_a_verified_token_is_remembered_until_it_expires() -> None:
    publisher = Publisher()
    federation = _helseid(publisher)
    token = publisher.token()
    identity = _verify(federation, token)
    now = int(time.time())
    assert federation.remembered(token, now=now) == identity
    assert federation.remembered(token, now=now + 400) is None
    assert federation.remembered(publisher.token(sub="other"), now=now) is None


def test_unknown_kids_refetch_at_most_once_per_interval() -> None:
    publisher = Publisher()
    keys = RemoteKeySet(f"{HELSEID}/jwks", fetch=publisher.fetch, min_refetch_seconds=60)
    assert len(keys.candidates(kid="k1", alg="ES256")) == 1
    for made_up in ("x1", "x2", "x3"):
        assert keys.candidates(kid=made_up, alg="ES256") == []
    assert publisher.fetched == [f"{HELSEID}/jwks"]


def test_unreachable_key_set_is_reported() -> None:
    def down(url: str) -> Any:
        raise FetchError(f"cannot fetch {url}: connection refused")

    with pytest.raises(FetchError):
        RemoteKeySet(f"{HELSEID}/jwks", fetch=down).candidates(kid="k1", alg="ES256")


def test_discovery_document_for_another_issuer_is_refused() -> None:
    publisher = Publisher()
    config = FederationConfig.model_validate({"issuers": [{"issuer": "https://other.test", "audiences": ["a"]}]})
    token = jwt.encode({"iss": "https://other.test"}, publisher.keys[0][1], algorithm="ES256", headers={"kid": "k1"})
    with pytest.raises(InvalidRequest) as raised:
        _verify(Federation(config, fetch=publisher.fetch), token)
    assert raised.value.message == (
        "subject_token refused: the keys of issuer 'https://other.test' cannot be fetched (the discovery document "
        "at https://other.test/.well-known/openid-configuration is not for issuer https://other.test)")


def test_disallowed_algorithm_is_refused() -> None:
    publisher = Publisher()
    shared = "a-shared-secret-of-32-bytes-or-more"
    token = jwt.encode({"iss": HELSEID, "sub": "a"}, shared, algorithm="HS256")
    with pytest.raises(InvalidRequest) as raised:
        _verify(_helseid(publisher), token)
    assert raised.value.message == f"subject_token refused: algorithm 'HS256' is not allowed for issuer '{HELSEID}'"


def test_federation_file_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "federation.yaml"
    path.write_text("issuers:\n  - issuer: https://a.test\n    audiences: []\n")
    with pytest.raises(ConfigError) as raised:
        load_federation(path)
    assert str(raised.value) == (f"IAM_FEDERATION_FILE '{path}': issuers.0.audiences: List should have at least "
                                 "1 item after validation, not 0")
    path.write_text("issuers: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_federation(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_federation(tmp_path / "missing.yaml")
    path.write_text("issuers:\n  - issuer: https://a.test\n    audiences: [x]\n    algorithms: [HS256]\n")
    with pytest.raises(ConfigError, match="algorithm 'HS256' is not an asymmetric JWS algorithm"):
        load_federation(path)


def test_discovery_lists_exactly_what_is_supported(client: TestClient) -> None:
    body = client.get("/.well-known/oauth-authorization-server").json()
    assert body["grant_types_supported"] == ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                             "private_key_jwt"]
    assert body["introspection_endpoint"] == f"{ISSUER}/oauth2/introspect"
    assert body["revocation_endpoint"] == f"{ISSUER}/oauth2/revoke"
    assert body["dpop_signing_alg_values_supported"] == ["ES256", "ES384", "PS256", "RS256", "EdDSA"]
    assert body["authorization_details_types_supported"] == ["nhn:tillitsrammeverk:parameters"]
    assert body["access_token_signing_alg_values_supported"] == ["ES256"]
