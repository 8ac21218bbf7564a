"""RFC 9449 DPoP: proofs at the token endpoint bind tokens to a key (cnf.jkt); protected APIs demand a
fresh proof by that key for every request; replayed and mismatched proofs are refused."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from iam.oauth.errors import DPoPProofRejected, InvalidDPoPProof, InvalidToken
from iam.oauth.resource_server import MemoryReplayGuard, check_sender
from iam.oauth.rfc9449 import jwk_thumbprint, verify_proof
from iam.runtime import Runtime
from tests.conftest import ISSUER

TOKEN_URL = f"{ISSUER}/oauth2/token"
PROTECTED = f"{ISSUER}/admin/v1/clients"
ClientFactory = Callable[..., tuple[str, str]]


class Holder:
    """A client's DPoP key and the proofs it makes."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))

    @property
    def jkt(self) -> str:
        return jwk_thumbprint(self.jwk)

    def proof(self, method: str, url: str, *, token: str | None = None, **overrides: Any) -> str:
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url,
                                  "iat": int(time.time())}
        if token is not None:
            claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
        claims.update(overrides)
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": self.jwk})


def _bound_token(client: TestClient, app: tuple[str, str], holder: Holder) -> str:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=app,
                           headers={"DPoP": holder.proof("POST", TOKEN_URL)})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    token: str = response.json()["access_token"]
    return token


def _error(response: Any) -> tuple[int, str, str]:
    return response.status_code, response.json()["error"], response.json()["error_description"]


def test_token_endpoint_binds_the_token_to_the_proof_key(client: TestClient, runtime: Runtime,
                                                         oauth_client: ClientFactory) -> None:
    holder = Holder()
    token = _bound_token(client, oauth_client("admin"), holder)
    claims = runtime.tokens.verify(token)
    assert claims.extra["cnf"] == {"jkt": holder.jkt}


def test_bound_token_with_a_fresh_proof_reaches_the_api(client: TestClient, oauth_client: ClientFactory) -> None:
    holder = Holder()
    token = _bound_token(client, oauth_client("admin"), holder)
    response = client.get("/admin/v1/clients", headers={"Authorization": f"DPoP {token}",
                                                        "DPoP": holder.proof("GET", PROTECTED, token=token)})
    assert response.status_code == 200


def test_bound_token_sent_as_bearer_is_refused(client: TestClient, oauth_client: ClientFactory) -> None:
    token = _bound_token(client, oauth_client("admin"), Holder())
    response = client.get("/admin/v1/clients", headers={"Authorization": f"Bearer {token}"})
    assert _error(response) == (401, "invalid_token",
                                "the token is DPoP-bound; send it with the DPoP scheme and a DPoP proof")
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


def test_bound_token_without_a_proof_is_refused(client: TestClient, oauth_client: ClientFactory) -> None:
    token = _bound_token(client, oauth_client("admin"), Holder())
    response = client.get("/admin/v1/clients", headers={"Authorization": f"DPoP {token}"})
    assert _error(response) == (401, "invalid_dpop_proof", "the request has no DPoP proof")
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')


def test_replayed_proof_at_the_api_is_refused(client: TestClient, oauth_client: ClientFactory) -> None:
    holder = Holder()
    token = _bound_token(client, oauth_client("admin"), holder)
    headers = {"Authorization": f"DPoP {token}", "DPoP": holder.proof("GET", PROTECTED, token=token)}
    assert client.get("/admin/v1/clients", headers=headers).status_code == 200
    assert _error(client.get("/admin/v1/clients", headers=headers)) == (
        401, "invalid_dpop_proof", "the DPoP proof was used before (replay)")


def test_proof_by_another_key_is_refused(client: TestClient, oauth_client: ClientFactory) -> None:
    token = _bound_token(client, oauth_client("admin"), Holder())
    thief = Holder()
    response = client.get("/admin/v1/clients", headers={"Authorization": f"DPoP {token}",
                                                        "DPoP": thief.proof("GET", PROTECTED, token=token)})
    assert _error(response) == (401, "invalid_dpop_proof",
                                "the DPoP proof is signed by another key than the token is bound to")


def test_replayed_proof_at_the_token_endpoint_is_invalid_dpop_proof(client: TestClient,
                                                                    oauth_client: ClientFactory) -> None:
    app = oauth_client("admin")
    proof = Holder().proof("POST", TOKEN_URL)
    first = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=app, headers={"DPoP": proof})
    assert first.status_code == 200
    again = client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=app, headers={"DPoP": proof})
    assert _error(again) == (400, "invalid_dpop_proof", "the DPoP proof was used before (replay)")


def test_client_registered_for_dpop_must_send_a_proof(client: TestClient, runtime: Runtime) -> None:
    from iam.oauth.clients import register_client

    with runtime.sessions.begin() as session:
        created = register_client(session, name="dpop app", scopes=["admin"], dpop_bound_access_tokens=True)
    assert created.client_secret is not None
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"},
                           auth=(created.client.client_id, created.client_secret))
    assert _error(response) == (400, "invalid_dpop_proof", "this client's tokens must be DPoP-bound "
                                "(dpop_bound_access_tokens); send a DPoP proof")


def test_unbound_token_with_the_dpop_scheme_is_refused(client: TestClient,
                                                       access_token: Callable[..., str]) -> None:
    response = client.get("/admin/v1/clients", headers={"Authorization": f"DPoP {access_token('admin')}"})
    assert _error(response) == (401, "invalid_token", "the token is not DPoP-bound; send it with the Bearer scheme")


def test_resource_server_helper_accepts_a_good_proof_once() -> None:
    holder, guard = Holder(), MemoryReplayGuard()
    url = "https://journal.region.test/fhir/Patient/1"
    proof = holder.proof("GET", url, token="tok")
    check_sender(bound_jkt=holder.jkt, scheme="DPoP", access_token="tok", proof=proof, method="GET", urls=(url,),
                 replay=guard)
    with pytest.raises(DPoPProofRejected) as raised:
        check_sender(bound_jkt=holder.jkt, scheme="DPoP", access_token="tok", proof=proof, method="GET",
                     urls=(url,), replay=guard)
    assert raised.value.message == "the DPoP proof was used before (replay)"


def test_resource_server_helper_refuses_a_bound_token_as_bearer() -> None:
    with pytest.raises(InvalidToken) as raised:
        check_sender(bound_jkt="abc", scheme="Bearer", access_token="tok", proof=None, method="GET",
                     urls=("https://journal.region.test/x",), replay=MemoryReplayGuard())
    assert raised.value.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


# -- the proof checks of RFC 9449 §4.3, without a server ---------------------------------------------------

TOKEN = "an-access-token"


def _refusal(proof: str, *, method: str = "GET", token: str | None = TOKEN) -> str:
    with pytest.raises(InvalidDPoPProof) as raised:
        verify_proof(proof, method=method, urls=(PROTECTED,), now=int(time.time()), access_token=token)
    return raised.value.message


def test_proof_for_another_url_is_refused() -> None:
    proof = Holder().proof("GET", "https://elsewhere.test/x", token=TOKEN)
    assert _refusal(proof) == "the DPoP proof's htu 'https://elsewhere.test/x' is not this endpoint"


def test_htu_is_compared_without_query_and_default_port() -> None:
    proof = Holder().proof("GET", "HTTP://TESTSERVER:80/admin/v1/clients?x=1", token=TOKEN)
    checked = verify_proof(proof, method="GET", urls=(PROTECTED,), now=int(time.time()), access_token=TOKEN)
    assert checked.jti


def test_proof_for_another_method_is_refused() -> None:
    assert _refusal(Holder().proof("POST", PROTECTED, token=TOKEN)) == "the DPoP proof's htm 'POST' is not 'GET'"


def test_proof_without_the_token_hash_is_refused() -> None:
    assert _refusal(Holder().proof("GET", PROTECTED)) == "the DPoP proof's ath does not match the access token"


def test_old_proof_is_refused() -> None:
    proof = Holder().proof("GET", PROTECTED, token=TOKEN, iat=int(time.time()) - 600)
    assert _refusal(proof) == "the DPoP proof's iat is not within 60 s of now"


def test_proof_with_a_private_key_in_the_header_is_refused() -> None:
    holder = Holder()
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(holder.key))
    proof = jwt.encode({"jti": "x", "htm": "GET", "htu": PROTECTED, "iat": int(time.time())}, holder.key,
                       algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": private})
    assert _refusal(proof) == "the DPoP proof's header must carry the public key as jwk"


def test_proof_of_the_wrong_type_is_refused() -> None:
    holder = Holder()
    proof = jwt.encode({"jti": "x", "htm": "GET", "htu": PROTECTED, "iat": int(time.time())}, holder.key,
                       algorithm="ES256", headers={"typ": "JWT", "jwk": holder.jwk})
    assert _refusal(proof) == "the DPoP proof's typ must be 'dpop+jwt'"


def test_proof_signed_by_another_key_than_its_jwk_is_refused() -> None:
    holder, other = Holder(), Holder()
    proof = jwt.encode({"jti": "x", "htm": "GET", "htu": PROTECTED, "iat": int(time.time())}, other.key,
                       algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": holder.jwk})
    assert _refusal(proof, token=None) == "the DPoP proof's signature does not verify with its jwk"


def test_thumbprint_is_rfc7638() -> None:
    """RFC 7638 §3.1's example key and thumbprint."""
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29", "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj"
        "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qM"
        "QvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJ"
        "zKnqDKgw")}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
