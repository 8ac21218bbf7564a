"""Client authentication at the token endpoint: client_secret_basic, client_secret_post (RFC 6749 §2.3.1)
and private_key_jwt (RFC 7523), with Authlib's OAuth 2.0 client against the service on a real port."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.httpx_client.oauth2_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey

from iam.oauth.clients import register_client
from iam.oauth.errors import InvalidClient
from iam.oauth.rfc6749 import parse_client_authentication
from iam.oauth.rfc7523 import keys_from_jwks, verify_client_assertion
from iam.runtime import Runtime
from tests.conftest import ISSUER
from tests.oauth.conftest import Live

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _key_pair() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any], dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update(kid="app-key-1", alg="ES256", use="sig")
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    private.update(kid="app-key-1", alg="ES256")
    return key, public, private


def _jwt_client(runtime: Runtime, public_jwk: dict[str, Any], *, scopes: tuple[str, ...] = ("authz",)) -> str:
    with runtime.sessions.begin() as session:
        created = register_client(session, name="signing app", scopes=list(scopes),
                                  token_endpoint_auth_method="private_key_jwt", jwks={"keys": [public_jwk]})
    return created.client.client_id


def _assertion(client_id: str, key: ec.EllipticCurvePrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/oauth2/token", "iat": now, "exp": now + 60,
              "jti": secrets.token_hex(12), **overrides}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "app-key-1"})


def _post_assertion(client: TestClient, assertion: str) -> Any:
    return client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_assertion": assertion,
                                              "client_assertion_type": ASSERTION_TYPE})


def _invalid_client(response: Any) -> None:
    assert response.status_code == 401
    assert {k: v for k, v in response.json().items() if k != "request_id"} == {
        "error": "invalid_client", "error_description": "client authentication failed"}


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_client_gets_a_token_with_a_secret(live: Live, method: str) -> None:
    with live.runtime.sessions.begin() as session:
        created = register_client(session, name="app", scopes=["authz"])
    with OAuth2Client(created.client.client_id, created.client_secret, token_endpoint_auth_method=method) as app:
        token = app.fetch_token(f"{live.url}/oauth2/token", grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert live.runtime.tokens.verify(token["access_token"]).client_id == created.client.client_id


def test_authlib_client_gets_a_token_with_private_key_jwt(live: Live) -> None:
    _, public, private = _key_pair()
    client_id = _jwt_client(live.runtime, public)
    with OAuth2Client(client_id, ECKey.import_key(private), token_endpoint_auth_method="private_key_jwt") as app:
        app.register_client_auth_method(PrivateKeyJWT(f"{live.url}/oauth2/token", alg="ES256"))
        token = app.fetch_token(f"{live.url}/oauth2/token", grant_type="client_credentials")
    claims = live.runtime.tokens.verify(token["access_token"])
    assert claims.client_id == client_id
    assert claims.scopes == frozenset({"authz"})


def test_authlib_sees_invalid_client_for_a_wrong_secret(live: Live) -> None:
    with live.runtime.sessions.begin() as session:
        created = register_client(session, name="app", scopes=["authz"])
    with OAuth2Client(created.client.client_id, "wrong") as app, pytest.raises(OAuthError) as raised:
        app.fetch_token(f"{live.url}/oauth2/token", grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


def test_replayed_client_assertion_is_invalid_client(client: TestClient, runtime: Runtime) -> None:
    key, public, _ = _key_pair()
    assertion = _assertion(_jwt_client(runtime, public), key)
    assert _post_assertion(client, assertion).status_code == 200
    _invalid_client(_post_assertion(client, assertion))


def test_assertion_replayed_at_another_node_is_refused(client: TestClient, runtime: Runtime,
                                                       settings: Any) -> None:
    """Two runtimes on one database stand for two nodes: the used jti is in the shared store."""
    from iam.app import create_app

    key, public, _ = _key_pair()
    assertion = _assertion(_jwt_client(runtime, public), key)
    assert _post_assertion(client, assertion).status_code == 200
    other = Runtime.start(settings)
    try:
        with TestClient(create_app(settings, runtime=other)) as other_node:
            _invalid_client(_post_assertion(other_node, assertion))
    finally:
        other.close()


def test_assertion_for_an_unknown_client_is_invalid_client(client: TestClient) -> None:
    key, _, _ = _key_pair()
    _invalid_client(_post_assertion(client, _assertion("ghost", key)))


def test_secret_client_cannot_use_an_assertion(client: TestClient, oauth_client: Callable[..., tuple[str, str]]
                                               ) -> None:
    key, _, _ = _key_pair()
    client_id, _ = oauth_client("authz")
    _invalid_client(_post_assertion(client, _assertion(client_id, key)))


def test_jwt_client_cannot_use_a_secret(client: TestClient, runtime: Runtime) -> None:
    _, public, _ = _key_pair()
    client_id = _jwt_client(runtime, public)
    _invalid_client(client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, "")))


def test_keys_are_fetched_from_the_clients_jwks_uri(live: Live, upstream: Any) -> None:
    """The upstream provider's JWKS stands in for a client's published keys: sign with its key."""
    with live.runtime.sessions.begin() as session:
        created = register_client(session, name="uri app", scopes=["authz"],
                                  token_endpoint_auth_method="private_key_jwt", jwks_uri=f"{upstream.issuer}/jwks")
    client_id = created.client.client_id
    now = int(time.time())
    assertion = jwt.encode({"iss": client_id, "sub": client_id, "aud": f"{live.url}/oauth2/token", "iat": now,
                            "exp": now + 60, "jti": secrets.token_hex(8)}, upstream.key, algorithm="ES256",
                           headers={"kid": upstream.kid})
    import httpx2

    response = httpx2.post(f"{live.url}/oauth2/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion, "client_assertion_type": ASSERTION_TYPE})
    assert response.status_code == 200, response.text


# -- the assertion checks of RFC 7523 §3, without a server -------------------------------------------------

def _assertion_refusal(assertion: str, keys: list[Any]) -> str:
    with pytest.raises(InvalidClient) as raised:
        verify_client_assertion(assertion, client_id="app", keys=keys, audiences=(f"{ISSUER}/oauth2/token",),
                                now=int(time.time()))
    return str(raised.value.log_detail)


def test_assertion_signed_by_an_unregistered_key_is_refused() -> None:
    _, public, _ = _key_pair()
    other = ec.generate_private_key(ec.SECP256R1())
    assert _assertion_refusal(_assertion("app", other), keys_from_jwks({"keys": [public]})) == (
        "client assertion: no registered key of client 'app' verifies the signature")


def test_assertion_for_another_audience_is_refused() -> None:
    key, public, _ = _key_pair()
    assertion = _assertion("app", key, aud="https://elsewhere.test/token")
    assert _assertion_refusal(assertion, keys_from_jwks({"keys": [public]})) == (
        "client assertion: aud ['https://elsewhere.test/token'] names neither our token endpoint nor our issuer")


def test_expired_assertion_is_refused() -> None:
    key, public, _ = _key_pair()
    past = int(time.time()) - 600
    assert _assertion_refusal(_assertion("app", key, iat=past, exp=past + 60),
                              keys_from_jwks({"keys": [public]})) == "client assertion: it has expired"


def test_long_lived_assertion_is_refused() -> None:
    key, public, _ = _key_pair()
    assertion = _assertion("app", key, exp=int(time.time()) + 7200)
    assert _assertion_refusal(assertion, keys_from_jwks({"keys": [public]})) == (
        "client assertion: exp is more than 3600 s away")


def test_assertion_naming_another_client_is_refused() -> None:
    key, public, _ = _key_pair()
    assertion = _assertion("app", key, iss="other")
    assert _assertion_refusal(assertion, keys_from_jwks({"keys": [public]})) == (
        "client assertion: iss and sub must both be the client_id")


def test_wrong_assertion_type_is_invalid_client() -> None:
    with pytest.raises(InvalidClient) as raised:
        parse_client_authentication(form={"client_assertion": "a.b.c", "client_assertion_type": "urn:example:saml"},
                                    authorization=None)
    assert raised.value.log_detail == (
        "client_assertion_type 'urn:example:saml' is not 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'")
