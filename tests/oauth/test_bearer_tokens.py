"""RFC 6750 bearer token checks on protected routes: 401 invalid_token and 403 insufficient_scope."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import update

from iam.oauth.models import SigningKeyRow
from iam.runtime import Runtime
from tests.conftest import ISSUER

PROTECTED = "/admin/v1/clients"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": ISSUER, "sub": "c", "aud": ISSUER, "iat": now, "exp": now + 300,
                                 "jti": "j" * 22, "client_id": "c", "scope": "admin"}
    claims.update(overrides)
    return claims


def _sign_with_ring(runtime: Runtime, claims: dict[str, object], typ: str = "at+jwt") -> str:
    key = runtime.keys.signing_key()
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": typ})


def _assert_invalid_token(response: object, description: str) -> None:
    assert response.status_code == 401
    headers = response.headers
    assert headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    body = response.json()
    assert body["error"] == "invalid_token"
    assert body["error_description"] == description


def test_valid_token_with_scope_reaches_the_endpoint(client: TestClient,
                                                     access_token: Callable[..., str]) -> None:
    response = client.get(PROTECTED, headers={"Authorization": f"Bearer {access_token('admin')}"})
    assert response.status_code == 200
    assert [entry["scopes"] for entry in response.json()] == [["admin"]]


def test_missing_token_is_401_with_a_bearer_challenge(client: TestClient) -> None:
    response = client.get(PROTECTED)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert response.json()["error"] == "invalid_token"


def test_wrong_scope_is_403_insufficient_scope(client: TestClient, access_token: Callable[..., str]) -> None:
    response = client.get(PROTECTED, headers={"Authorization": f"Bearer {access_token('audit:read')}"})
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
    assert response.json()["error"] == "insufficient_scope"


def test_expired_token_is_refused(client: TestClient, runtime: Runtime) -> None:
    past = int(time.time()) - 3600
    token = _sign_with_ring(runtime, _claims(iat=past, exp=past + 300))
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token has expired")


def test_token_signed_by_another_key_with_our_kid_is_refused(client: TestClient, runtime: Runtime) -> None:
    forger = ec.generate_private_key(ec.SECP256R1())
    kid = runtime.keys.signing_key().kid
    token = jwt.encode(_claims(), forger, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token signature is invalid")


def test_tampered_payload_is_refused(client: TestClient, runtime: Runtime) -> None:
    header, _, signature = _sign_with_ring(runtime, _claims(scope="audit:read")).split(".")
    payload = _b64(json.dumps(_claims(scope="admin")).encode())
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {header}.{payload}.{signature}"}),
                          "the token signature is invalid")


def test_alg_none_is_refused(client: TestClient, runtime: Runtime) -> None:
    kid = runtime.keys.signing_key().kid
    header = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token's algorithm 'none' is not the key's 'ES256'")


def test_hs256_signed_with_the_public_key_is_refused(client: TestClient, runtime: Runtime) -> None:
    key = runtime.keys.signing_key()
    public_pem = key.public_key.public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}).encode())
    body = _b64(json.dumps(_claims()).encode())
    signature = _b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {header}.{body}.{signature}"}),
                          "the token's algorithm 'HS256' is not the key's 'ES256'")


def test_unknown_kid_is_refused(client: TestClient) -> None:
    forger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(), forger, algorithm="ES256", headers={"kid": "made-up", "typ": "at+jwt"})
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token is signed with a key we do not know")


def test_token_for_another_audience_is_refused(client: TestClient, runtime: Runtime) -> None:
    token = _sign_with_ring(runtime, _claims(aud="https://elsewhere.example"))
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token is not meant for this service (aud)")


def test_token_from_another_issuer_is_refused(client: TestClient, runtime: Runtime) -> None:
    token = _sign_with_ring(runtime, _claims(iss="https://evil.example"))
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token was issued by someone else")


def test_id_token_shaped_jwt_is_not_an_access_token(client: TestClient, runtime: Runtime) -> None:
    token = _sign_with_ring(runtime, _claims(), typ="JWT")
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"}),
                          "the token is not an access token (typ must be at+jwt)")


def test_garbage_token_is_refused(client: TestClient) -> None:
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": "Bearer not.a.jwt"}),
                          "the token is not a well-formed JWT")


def test_non_bearer_scheme_is_refused(client: TestClient) -> None:
    _assert_invalid_token(client.get(PROTECTED, headers={"Authorization": "Basic abc"}),
                          "the Authorization header is not 'Bearer <token>'")


def test_a_remembered_token_stops_working_when_its_key_is_withdrawn(client: TestClient, runtime: Runtime,
                                                                    access_token: Callable[..., str]) -> None:
    token = access_token("admin")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(PROTECTED, headers=headers).status_code == 200  # now its signature is remembered
    with runtime.sessions.begin() as session:
        session.execute(update(SigningKeyRow).values(retire_at=datetime.now(UTC) - timedelta(seconds=1)))
    runtime.keys.refresh()
    _assert_invalid_token(client.get(PROTECTED, headers=headers), "the token is signed with a key we do not know")
