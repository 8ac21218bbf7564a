"""RFC 6749 §4.4 client credentials at POST /oauth2/token, with RFC 9068 JWT access tokens."""

from __future__ import annotations

import base64
from collections.abc import Callable

import jwt
from fastapi.testclient import TestClient

from tests.conftest import ISSUER

ClientFactory = Callable[..., tuple[str, str]]


def _jwks_key(client: TestClient, kid: str) -> jwt.PyJWK:
    keys = client.get("/oauth2/jwks").json()["keys"]
    return jwt.PyJWK(next(key for key in keys if key["kid"] == kid))


def test_client_secret_basic_gives_a_jwt_that_verifies_against_jwks(
    client: TestClient, oauth_client: ClientFactory
) -> None:
    client_id, secret = oauth_client("admin", "audit:read")
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "admin audit:read"
    header = jwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    claims = jwt.decode(body["access_token"], _jwks_key(client, header["kid"]), algorithms=["ES256"],
                        audience=ISSUER, issuer=ISSUER)
    assert claims["sub"] == client_id
    assert claims["client_id"] == client_id
    assert claims["scope"] == "admin audit:read"
    assert claims["exp"] - claims["iat"] == 600
    assert len(claims["jti"]) >= 20


def test_client_secret_post_is_accepted(client: TestClient, oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                  "client_secret": secret})
    assert response.status_code == 200
    assert response.json()["scope"] == "admin"


def test_basic_credentials_are_form_urlencoded_before_base64(client: TestClient,
                                                            oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    encoded = base64.b64encode(f"{client_id}:{secret}".replace("-", "%2D").encode()).decode()
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": f"Basic {encoded}"})
    assert response.status_code == 200


def test_requested_scope_narrows_the_token(client: TestClient, oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin", "audit:read")
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "audit:read"},
                           auth=(client_id, secret))
    assert response.json()["scope"] == "audit:read"


def test_a_scope_sent_without_a_value_counts_as_omitted(client: TestClient, oauth_client: ClientFactory) -> None:
    # RFC 6749 §3.1: parameters sent without a value are treated as if they were omitted.
    client_id, secret = oauth_client("admin", "audit:read")
    response = client.post("/oauth2/token", content="grant_type=client_credentials&scope=",
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=(client_id, secret))
    assert (response.status_code, sorted(response.json()["scope"].split())) == (200, ["admin", "audit:read"])


def test_scope_not_registered_for_the_client_is_invalid_scope(client: TestClient,
                                                             oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("audit:read")
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", "scope": "admin"},
                           auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert response.json()["error_description"] == "scope 'admin' is not granted to this client"


def test_wrong_secret_and_unknown_client_get_the_same_invalid_client(client: TestClient,
                                                                    oauth_client: ClientFactory) -> None:
    client_id, _ = oauth_client("admin")
    wrong = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, "nope"))
    unknown = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("ghost", "nope"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["www-authenticate"] == 'Basic realm="iam"'
    assert {k: v for k, v in wrong.json().items() if k != "request_id"} == {
        "error": "invalid_client", "error_description": "client authentication failed"}
    assert {k: v for k, v in unknown.json().items() if k != "request_id"} == {
        "error": "invalid_client", "error_description": "client authentication failed"}


def test_missing_credentials_is_invalid_client(client: TestClient) -> None:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_missing_grant_type_is_invalid_request(client: TestClient, oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    response = client.post("/oauth2/token", data={"scope": "admin"}, auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"] == "parameter 'grant_type' is missing"


def test_unknown_grant_type_is_unsupported_grant_type(client: TestClient, oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    response = client.post("/oauth2/token", data={"grant_type": "password"}, auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_repeated_parameter_is_invalid_request(client: TestClient, oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    response = client.post("/oauth2/token", content="grant_type=client_credentials&scope=a&scope=b",
                           headers={"Content-Type": "application/x-www-form-urlencoded"},
                           auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error_description"] == "parameter 'scope' is given more than once"


def test_json_body_is_refused_with_a_clear_message(client: TestClient, oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    response = client.post("/oauth2/token", json={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "x-www-form-urlencoded" in response.json()["error_description"]


def test_two_authentication_methods_at_once_is_invalid_request(client: TestClient,
                                                              oauth_client: ClientFactory) -> None:
    client_id, secret = oauth_client("admin")
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials", "client_secret": secret},
                           auth=(client_id, secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_malformed_basic_header_is_invalid_client(client: TestClient) -> None:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic %%%not-base64"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_discovery_documents_list_what_is_supported(client: TestClient) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        body = client.get(path).json()
        assert body["issuer"] == ISSUER
        assert body["token_endpoint"] == f"{ISSUER}/oauth2/token"
        assert body["jwks_uri"] == f"{ISSUER}/oauth2/jwks"
        assert body["grant_types_supported"] == ["client_credentials",
                                                 "urn:ietf:params:oauth:grant-type:token-exchange"]
        assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post",
                                                                 "private_key_jwt"]
