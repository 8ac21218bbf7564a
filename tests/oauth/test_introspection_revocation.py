"""RFC 7662 introspection and RFC 7009 revocation; revoked tokens, disabled clients and disabled or
suspended accounts are inactive at once, at introspection and at our own APIs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jwt
from authlib.integrations.httpx_client import OAuth2Client
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from iam.oauth.clients import register_client
from iam.runtime import Runtime
from tests.cli_helpers import poll
from tests.conftest import ISSUER
from tests.oauth.conftest import ACCESS_TOKEN_TYPE, EXCHANGE, Live, Upstream
from tests.oauth.staff import Staff, disable, suspend

ClientFactory = Callable[..., tuple[str, str]]


def _token(client: TestClient, app: tuple[str, str]) -> str:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=app)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _introspect(client: TestClient, token: str, introspector: tuple[str, str]) -> dict[str, Any]:
    response = client.post("/oauth2/introspect", data={"token": token}, auth=introspector)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _person_token(client: TestClient, runtime: Runtime, upstream: Upstream, person: Staff) -> str:
    """A token for our own API (audience: us, scope admin) acting for ``person``."""
    with runtime.sessions.begin() as session:
        created = register_client(session, name="console", scopes=["admin"], grant_types=[EXCHANGE],
                                  exchange_audiences=[ISSUER])
    assert created.client_secret is not None
    response = client.post("/oauth2/token", auth=(created.client.client_id, created.client_secret), data={
        "grant_type": EXCHANGE, "subject_token": upstream.login(person.national_id),
        "subject_token_type": ACCESS_TOKEN_TYPE, "audience": ISSUER, "scope": "admin"})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_active_token_is_described(client: TestClient, oauth_client: ClientFactory) -> None:
    app = oauth_client("audit:read")
    token = _token(client, app)
    body = _introspect(client, token, oauth_client("introspect"))
    assert body["active"] is True
    assert body["client_id"] == app[0]
    assert body["sub"] == app[0]
    assert body["scope"] == "audit:read"
    assert body["token_type"] == "Bearer"
    assert body["iss"] == ISSUER
    assert body["aud"] == ISSUER
    assert body["exp"] - body["iat"] == 600


def test_introspection_with_a_bearer_token_holding_the_scope(client: TestClient, oauth_client: ClientFactory,
                                                             access_token: Callable[..., str]) -> None:
    token = _token(client, oauth_client("audit:read"))
    response = client.post("/oauth2/introspect", data={"token": token},
                           headers={"Authorization": f"Bearer {access_token('introspect')}"})
    assert response.json()["active"] is True


def test_introspection_needs_the_scope(client: TestClient, oauth_client: ClientFactory,
                                       access_token: Callable[..., str]) -> None:
    token = _token(client, oauth_client("audit:read"))
    by_client = client.post("/oauth2/introspect", data={"token": token}, auth=oauth_client("audit:read"))
    assert (by_client.status_code, by_client.json()["error"]) == (400, "unauthorized_client")
    by_bearer = client.post("/oauth2/introspect", data={"token": token},
                            headers={"Authorization": f"Bearer {access_token('audit:read')}"})
    assert (by_bearer.status_code, by_bearer.json()["error"]) == (403, "insufficient_scope")


def test_introspection_needs_client_authentication(client: TestClient, oauth_client: ClientFactory) -> None:
    token = _token(client, oauth_client("audit:read"))
    response = client.post("/oauth2/introspect", data={"token": token})
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_forged_and_expired_tokens_are_inactive(client: TestClient, runtime: Runtime,
                                                oauth_client: ClientFactory) -> None:
    introspector = oauth_client("introspect")
    forger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "c", "aud": ISSUER, "iat": now, "exp": now + 60, "jti": "j", "client_id": "c"}
    forged = jwt.encode(claims, forger, algorithm="ES256", headers={"kid": runtime.keys.signing_key().kid,
                                                                    "typ": "at+jwt"})
    key = runtime.keys.signing_key()
    expired = jwt.encode({**claims, "iat": now - 4000, "exp": now - 3400}, key.private_key, algorithm="ES256",
                         headers={"kid": key.kid, "typ": "at+jwt"})
    assert _introspect(client, forged, introspector) == {"active": False}
    assert _introspect(client, expired, introspector) == {"active": False}
    assert _introspect(client, "not-a-token", introspector) == {"active": False}


def test_revoked_token_is_inactive_and_refused_by_our_apis(client: TestClient, oauth_client: ClientFactory) -> None:
    app = oauth_client("admin")
    token = _token(client, app)
    assert client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    revoked = client.post("/oauth2/revoke", data={"token": token, "token_type_hint": "access_token"}, auth=app)
    assert revoked.status_code == 200
    assert revoked.content == b""
    assert _introspect(client, token, oauth_client("introspect")) == {"active": False}
    refused = client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert (refused.status_code, refused.json()["error_description"]) == (401, "the token has been revoked")


def test_authlib_revokes_a_token(live: Live) -> None:
    with live.runtime.sessions.begin() as session:
        created = register_client(session, name="app", scopes=["admin"])
    with OAuth2Client(created.client.client_id, created.client_secret,
                      revocation_endpoint=f"{live.url}/oauth2/revoke") as app:
        token = app.fetch_token(f"{live.url}/oauth2/token", grant_type="client_credentials")
        response = app.revoke_token(f"{live.url}/oauth2/revoke", token=token["access_token"])
    assert response.status_code == 200
    assert live.runtime.oauth.revocations.is_revoked(live.runtime.tokens.verify(token["access_token"]).jti)


def test_another_clients_token_cannot_be_revoked(client: TestClient, oauth_client: ClientFactory) -> None:
    token = _token(client, oauth_client("audit:read"))
    response = client.post("/oauth2/revoke", data={"token": token}, auth=oauth_client("audit:read"))
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")
    assert _introspect(client, token, oauth_client("introspect"))["active"] is True


def test_an_admin_client_may_revoke_any_token(client: TestClient, oauth_client: ClientFactory) -> None:
    token = _token(client, oauth_client("audit:read"))
    assert client.post("/oauth2/revoke", data={"token": token}, auth=oauth_client("admin")).status_code == 200
    assert _introspect(client, token, oauth_client("introspect")) == {"active": False}


def test_revoking_garbage_is_200(client: TestClient, oauth_client: ClientFactory) -> None:
    assert client.post("/oauth2/revoke", data={"token": "garbage"}, auth=oauth_client("admin")).status_code == 200


def test_revocation_needs_client_authentication(client: TestClient) -> None:
    response = client.post("/oauth2/revoke", data={"token": "garbage"}, auth=("ghost", "nope"))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_disabled_client_tokens_are_inactive(client: TestClient, oauth_client: ClientFactory,
                                             access_token: Callable[..., str]) -> None:
    app = oauth_client("admin")
    token = _token(client, app)
    disabled = client.post(f"/admin/v1/clients/{app[0]}/disable",
                           headers={"Authorization": f"Bearer {access_token('admin')}"})
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert _introspect(client, token, oauth_client("introspect")) == {"active": False}
    refused = client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert (refused.status_code, refused.json()["error_description"]) == (401, "the token's client is disabled")


def test_person_token_is_active_with_its_care_context(client: TestClient, runtime: Runtime, upstream: Upstream,
                                                      staff: Callable[..., Staff],
                                                      oauth_client: ClientFactory) -> None:
    person = staff(1)
    body = _introspect(client, _person_token(client, runtime, upstream, person), oauth_client("introspect"))
    assert body["active"] is True
    assert body["sub"] == f"person:{person.person_id}"
    assert body["hpr_number"] == person.hpr_number
    assert body["authorization_details"][0]["type"] == "nhn:tillitsrammeverk:parameters"


def test_disabled_account_token_is_inactive_at_once(client: TestClient, runtime: Runtime, upstream: Upstream,
                                                    staff: Callable[..., Staff],
                                                    oauth_client: ClientFactory) -> None:
    person = staff(1)
    token = _person_token(client, runtime, upstream, person)
    assert client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    disable(runtime, person)
    assert _introspect(client, token, oauth_client("introspect")) == {"active": False}


def test_suspended_account_token_is_inactive_at_once(client: TestClient, runtime: Runtime, upstream: Upstream,
                                                     staff: Callable[..., Staff],
                                                     oauth_client: ClientFactory) -> None:
    person = staff(1)
    token = _person_token(client, runtime, upstream, person)
    suspend(runtime, person)
    assert _introspect(client, token, oauth_client("introspect")) == {"active": False}


def test_our_apis_refuse_a_disabled_accounts_token_once_the_notice_arrives(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: Callable[..., Staff],
) -> None:
    person = staff(1)
    token = _person_token(client, runtime, upstream, person)
    assert client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    disable(runtime, person)
    refused = poll(lambda: client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"}),
                    until=lambda response: response.status_code == 401)
    assert refused.json()["error_description"] == "the account is disabled"

