"""RFC 8693 token exchange: a real upstream login becomes a short-lived token for one audience."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from iam.oauth.errors import InvalidAuthorizationDetails, InvalidRequest, InvalidTarget
from iam.oauth.rfc6749 import parse_form
from iam.oauth.rfc8693 import REPEATABLE, parse_token_exchange
from iam.oauth.rfc9396 import parse_authorization_details
from iam.runtime import Runtime
from tests.conftest import ISSUER
from tests.oauth.conftest import ACCESS_TOKEN_TYPE, EXCHANGE, JOURNAL, Upstream
from tests.oauth.staff import Hospital, Staff, disable, suspend

StaffFactory = Callable[..., Staff]
ClientFactory = Callable[..., tuple[str, str]]


def _exchange(client: TestClient, app: tuple[str, str], subject_token: str, **extra: str) -> Any:
    data = {"grant_type": EXCHANGE, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": JOURNAL, **extra}
    return client.post("/oauth2/token", data=data, auth=app)


def _claims(client: TestClient, token: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(token)
    keys = client.get("/oauth2/jwks").json()["keys"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == header["kid"]))
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=[header["alg"]], audience=JOURNAL, issuer=ISSUER)
    return claims


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    return {"status": response.status_code, "error": body["error"], "error_description": body["error_description"]}


def test_upstream_login_is_exchanged_for_a_journal_token_naming_the_practitioner(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
    hospital: Hospital,
) -> None:
    person = staff(1)
    response = _exchange(client, exchange_client(), upstream.login(person.national_id))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert body["expires_in"] == 900
    claims = _claims(client, body["access_token"])
    assert claims["sub"] == f"person:{person.person_id}"
    assert claims["hpr_number"] == person.hpr_number
    assert claims["pid"] == person.national_id
    assert claims["name"] == "Kari Lege"
    assert claims["idp"] == upstream.issuer
    assert claims["security_level"] == 4
    assert claims["exp"] - claims["iat"] == 900
    assert claims["authorization_details"] == [{
        "type": "nhn:tillitsrammeverk:parameters",
        "practitioner": {
            "authorization": {"code": "LE", "system": "urn:oid:2.16.578.1.12.4.1.1.9060"},
            "legal_entity": {"id": hospital.legal_entity, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
            "point_of_care": {"id": hospital.point_of_care, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
            "department": {"id": hospital.department, "system": "urn:oid:2.16.578.1.12.4.1.4.101"},
        },
        "care_relationship": {},
    }]


def test_our_own_person_token_can_be_exchanged_again(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    app = exchange_client()
    first = _exchange(client, app, upstream.login(person.national_id)).json()["access_token"]
    second = _exchange(client, app, first)
    assert second.status_code == 200, second.text
    claims = _claims(client, second.json()["access_token"])
    assert claims["sub"] == f"person:{person.person_id}"
    assert claims["idp"] == upstream.issuer


def test_audience_not_allowed_for_the_client_is_invalid_target(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    app = exchange_client(audiences=("https://other.test",))
    assert _error(_exchange(client, app, upstream.login(person.national_id))) == {
        "status": 400, "error": "invalid_target",
        "error_description": f"client '{app[0]}' may not obtain tokens for '{JOURNAL}'"}


def test_client_without_the_exchange_grant_is_unauthorized_client(
    client: TestClient, upstream: Upstream, staff: StaffFactory, oauth_client: ClientFactory,
) -> None:
    person = staff(1)
    response = _exchange(client, oauth_client("admin"), upstream.login(person.national_id))
    assert _error(response) == {"status": 400, "error": "unauthorized_client", "error_description":
                                "this client may not use the urn:ietf:params:oauth:grant-type:token-exchange grant"}


def test_untrusted_issuer_is_invalid_request(client: TestClient, exchange_client: ClientFactory) -> None:
    forger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    token = jwt.encode({"iss": "https://evil.test", "sub": "x", "aud": "urn:iam:token-exchange", "iat": now,
                        "exp": now + 60}, forger, algorithm="ES256", headers={"kid": "k"})
    assert _error(_exchange(client, exchange_client(), token)) == {
        "status": 400, "error": "invalid_request",
        "error_description": "subject_token refused: issuer 'https://evil.test' is not trusted"}


def test_expired_upstream_token_is_invalid_request(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    past = int(time.time()) - 3600
    token = upstream.mint(login=person.national_id, iat=past, exp=past + 300)
    assert _error(_exchange(client, exchange_client(), token)) == {
        "status": 400, "error": "invalid_request", "error_description": "subject_token refused: it has expired"}


def test_upstream_token_signed_by_another_key_is_invalid_request(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    token = upstream.mint(login=person.national_id, key=ec.generate_private_key(ec.SECP256R1()))
    assert _error(_exchange(client, exchange_client(), token)) == {
        "status": 400, "error": "invalid_request",
        "error_description": f"subject_token refused: the signature does not verify with the keys of issuer "
                             f"'{upstream.issuer}'"}


def test_upstream_token_for_another_audience_is_invalid_request(
    client: TestClient, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    token = upstream.mint(login=person.national_id, aud="urn:someone:else")
    assert _error(_exchange(client, exchange_client(), token)) == {
        "status": 400, "error": "invalid_request",
        "error_description": "subject_token refused: its aud names none of urn:iam:token-exchange"}


def test_unknown_person_gets_nothing(client: TestClient, upstream: Upstream, exchange_client: ClientFactory) -> None:
    upstream.add_account("stranger", national_id="01010150076", hpr_number=None)
    assert _error(_exchange(client, exchange_client(), upstream.login("stranger"))) == {
        "status": 400, "error": "invalid_request",
        "error_description": "subject_token refused: no account matches the user of the upstream token"}


def test_disabled_account_gets_nothing(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    token = upstream.login(person.national_id)
    disable(runtime, person)
    assert _error(_exchange(client, exchange_client(), token)) == {
        "status": 400, "error": "invalid_request",
        "error_description": "subject_token refused: the account is disabled"}


def test_suspended_account_gets_nothing(
    client: TestClient, runtime: Runtime, upstream: Upstream, staff: StaffFactory, exchange_client: ClientFactory,
) -> None:
    person = staff(1)
    suspend(runtime, person)
    assert _error(_exchange(client, exchange_client(), upstream.login(person.national_id))) == {
        "status": 400, "error": "invalid_request",
        "error_description": "subject_token refused: the account is suspended"}


# -- request shapes (RFC 8693 §2.1, RFC 9396 §2), without a server -----------------------------------------

def test_two_audiences_are_invalid_target() -> None:
    with pytest.raises(InvalidTarget) as raised:
        parse_token_exchange({"subject_token": "t", "subject_token_type": ACCESS_TOKEN_TYPE,
                              "audience": "https://a.test https://b.test"})
    assert raised.value.message == "ask for one audience or resource per token exchange, not 2 (https://a.test, " \
                                   "https://b.test)"


def test_repeated_audience_parameters_are_kept_for_the_exchange_to_judge() -> None:
    form = parse_form(b"audience=https%3A%2F%2Fa.test&audience=https%3A%2F%2Fb.test", repeatable=REPEATABLE)
    assert form == {"audience": "https://a.test https://b.test"}


@pytest.mark.parametrize("body", [
    b"grant_type=client_credentials&scope=a+b%20c",
    b"subject_token=eyJhbGciOi.eyJzdWIi.c2ln-_&client_id=app%2B1&empty=&bare&&x=%zz%41",
    b"name%3D=v%26w&caf%C3%A9=%E2%9C%93&bad=%ff",
    b"",
])
def test_form_bodies_read_as_the_standard_library_reads_them(body: bytes) -> None:
    standard = parse_qs(body.decode(), keep_blank_values=True)
    assert parse_form(body) == {name: values[0] for name, values in standard.items()}


@pytest.mark.parametrize("body", [b"scope=a&scope=b", b"client_id=x&client%5Fid=y"])
def test_a_repeated_form_parameter_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="is given more than once"):
        parse_form(body)


def test_unknown_authorization_details_type_is_refused() -> None:
    with pytest.raises(InvalidAuthorizationDetails) as raised:
        parse_authorization_details(json.dumps([{"type": "payment_initiation"}]))
    assert raised.value.message == ("authorization_details type 'payment_initiation' is not supported; expected "
                                    "'nhn:tillitsrammeverk:parameters'")


def test_unknown_authorization_details_field_is_refused() -> None:
    with pytest.raises(InvalidAuthorizationDetails) as raised:
        parse_authorization_details(json.dumps([{"type": "nhn:tillitsrammeverk:parameters", "colour": "red"}]))
    assert raised.value.message == "authorization_details colour: Extra inputs are not permitted"


def test_actor_tokens_are_not_supported() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_token_exchange({"subject_token": "t", "subject_token_type": ACCESS_TOKEN_TYPE, "audience": "a",
                              "actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE})
    assert raised.value.message == "actor_token is not supported: the authenticated client is the actor"
