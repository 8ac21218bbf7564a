"""RFC 7515 compact JWS parsing: strict base64url, JSON objects, no critical extensions; signatures are
checked only with the algorithm the caller's key names."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from iam.oauth import rfc7515

KEYS = {
    "ES256": ec.generate_private_key(ec.SECP256R1()),
    "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "EdDSA": ed25519.Ed25519PrivateKey.generate(),
}


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_signature_made_by_pyjwt_verifies(alg: str) -> None:
    key = KEYS[alg]
    jws = rfc7515.parse(jwt.encode({"sub": "x"}, key, algorithm=alg))
    assert rfc7515.verify(jws, key=key.public_key(), alg=alg)
    assert jws.unverified_claims() == {"sub": "x"}


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_a_token_we_sign_is_read_by_pyjwt(alg: str) -> None:
    claims = {"sub": "person:7", "aud": "https://journal.region.test", "scope": "journal.read", "n": 1}
    token = rfc7515.sign(claims, key=KEYS[alg], alg=alg, kid="k1", typ="at+jwt")
    assert jwt.get_unverified_header(token) == {"alg": alg, "kid": "k1", "typ": "at+jwt"}
    assert jwt.decode(token, KEYS[alg].public_key(), algorithms=[alg], audience=claims["aud"]) == claims


def test_signing_with_a_shared_secret_or_none_is_refused() -> None:
    for alg in ("HS256", "none"):
        with pytest.raises(ValueError, match="only asymmetric algorithms"):
            rfc7515.sign({"sub": "x"}, key=b"a-shared-secret-of-32-bytes-or-more", alg=alg, kid="k1", typ="JWT")


def test_another_key_or_algorithm_does_not_verify() -> None:
    jws = rfc7515.parse(jwt.encode({"sub": "x"}, KEYS["ES256"], algorithm="ES256"))
    assert not rfc7515.verify(jws, key=ec.generate_private_key(ec.SECP256R1()).public_key(), alg="ES256")
    assert not rfc7515.verify(jws, key=KEYS["RS256"].public_key(), alg="RS256")


def test_hmac_and_none_are_never_verified() -> None:
    jws = rfc7515.parse(jwt.encode({"sub": "x"}, "a-shared-secret-of-32-bytes-or-more", algorithm="HS256"))
    assert not rfc7515.verify(jws, key=b"a-shared-secret-of-32-bytes-or-more", alg="HS256")


@pytest.mark.parametrize(("token", "reason"), [
    ("a.b", "the token does not have three segments"),
    ("eyJhbGciOiJFUzI1NiJ9.e30.A!A", "a segment is not base64url"),
    ("eyJhbGciOiJFUzI1NiJ9.e30.AA==", "a segment is not canonical base64url"),
    ("eyJhbGciOiJFUzI1NiJ9.e30.A+A", "a segment is not canonical base64url"),
    ("eyJhbGciOiJFUzI1NiJ9.e31.AA", "a segment is not canonical base64url"),
    ("WyJ4Il0.e30.AA", "the header is not a JSON object"),
    ("eyJhbGciOiJFUzI1NiIsImNyaXQiOlsiYiJdfQ.e30.AA", "the header names critical extensions we do not support"),
    ("eyJhbGciOiJFUzI1NiJ9.e30.Ä", "the token is not ASCII"),
])
def test_malformed_tokens_are_refused_with_the_reason(token: str, reason: str) -> None:
    with pytest.raises(rfc7515.MalformedJWS) as raised:
        rfc7515.parse(token)
    assert str(raised.value) == reason
