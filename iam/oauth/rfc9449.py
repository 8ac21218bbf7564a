"""RFC 9449: OAuth 2.0 Demonstrating Proof of Possession (DPoP).

:func:`verify_proof` checks one DPoP proof JWT (§4.2, §4.3): ``typ`` is ``dpop+jwt``, the algorithm is
asymmetric and supported, the header's ``jwk`` is a public key that verifies the signature, ``htm`` and
``htu`` match the request, ``iat`` is recent, ``jti`` is present and, when an access token accompanies the
proof, ``ath`` is its hash. It returns the key's RFC 7638 thumbprint (``jkt``), which a token endpoint
puts in the token's ``cnf`` claim (§6.1) and a resource server compares with it (§7.1).

Whether the ``jti`` was seen before is for the caller (the replay store must be shared between nodes).
No web framework and no database here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from iam.oauth.errors import InvalidDPoPProof

__all__ = [
    "DPOP_SIGNING_ALGS",
    "PROOF_MAX_AGE_SECONDS",
    "DPoPProof",
    "access_token_hash",
    "jwk_thumbprint",
    "normalise_htu",
    "verify_proof",
]

DPOP_SIGNING_ALGS = ("ES256", "ES384", "PS256", "RS256", "EdDSA")
PROOF_TYPE = "dpop+jwt"
# §11.1: proofs are accepted only for a short window around their iat; the replay store keeps their
# jti for that long.
PROOF_MAX_AGE_SECONDS = 60
CLOCK_SKEW_SECONDS = 5
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


@dataclass(frozen=True)
class DPoPProof:
    """A verified proof: the key thumbprint it binds to, and the jti and iat for replay detection."""

    jkt: str
    jti: str
    issued_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint: the required members, sorted, no whitespace, base64url."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(name), str) for name in members):
        raise InvalidDPoPProof(f"the proof's jwk of type {jwk.get('kty')!r} is not a supported public key")
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(access_token: str) -> str:
    """§4.2 ``ath``: base64url of the SHA-256 of the ASCII access token."""
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest())


def normalise_htu(url: str) -> str:
    """§4.3 check 9: the URI without query and fragment, scheme and host lower-cased, default port dropped."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def verify_proof(
    proof: str, *, method: str, urls: tuple[str, ...], now: int, access_token: str | None = None
) -> DPoPProof:
    """Check a proof for a request to any of ``urls`` (the same endpoint under the names it answers to).

    Raises InvalidDPoPProof naming the first check that failed.
    """
    try:
        header = jwt.get_unverified_header(proof)
    except InvalidTokenError:
        raise InvalidDPoPProof("the DPoP proof is not a well-formed JWT") from None
    if header.get("typ") != PROOF_TYPE:
        raise InvalidDPoPProof(f"the DPoP proof's typ must be '{PROOF_TYPE}'")
    alg = header.get("alg")
    if alg not in DPOP_SIGNING_ALGS:
        raise InvalidDPoPProof(f"the DPoP proof's alg {alg!r} is not one of {' '.join(DPOP_SIGNING_ALGS)}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk:
        raise InvalidDPoPProof("the DPoP proof's header must carry the public key as jwk")
    jkt = jwk_thumbprint(jwk)
    try:
        public_key = jwt.PyJWK(jwk, algorithm=alg).key
        raw = jwt.api_jws.decode_complete(proof, key=public_key, algorithms=[alg])["payload"]
        claims = json.loads(raw)
    except (InvalidTokenError, PyJWKError, ValueError, TypeError, KeyError, AttributeError):
        raise InvalidDPoPProof("the DPoP proof's signature does not verify with its jwk") from None
    if not isinstance(claims, dict):
        raise InvalidDPoPProof("the DPoP proof's payload is not a JSON object")
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise InvalidDPoPProof("the DPoP proof has no usable jti")
    if not isinstance(iat, int) or iat > now + CLOCK_SKEW_SECONDS or iat < now - PROOF_MAX_AGE_SECONDS:
        raise InvalidDPoPProof(f"the DPoP proof's iat is not within {PROOF_MAX_AGE_SECONDS} s of now")
    if claims.get("htm") != method.upper():
        raise InvalidDPoPProof(f"the DPoP proof's htm {claims.get('htm')!r} is not {method.upper()!r}")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalise_htu(htu) not in {normalise_htu(url) for url in urls}:
        raise InvalidDPoPProof(f"the DPoP proof's htu {htu!r} is not this endpoint")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidDPoPProof("the DPoP proof's ath does not match the access token")
    return DPoPProof(jkt=jkt, jti=jti, issued_at=iat)
