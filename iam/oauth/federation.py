"""Upstream login federation: which login providers we trust, and verifying the tokens they issue.

Staff log in at the region's identity provider (Keycloak, HelseID); a clinical app then exchanges the
user's token from there for one of ours (RFC 8693). The trusted issuers are configured in a YAML file
named by ``IAM_FEDERATION_FILE`` (format and examples: ``iam/oauth/FEDERATION.md``). For each issuer:
its identifier, where its OpenID discovery document is (RFC 8414 / OIDC Discovery 1.0), the audiences a
token must name, the signing algorithms allowed, which claims hold the national id, the HPR number and the
security level, and the security level record access needs (4, as HelseID's profile requires).

Keys are fetched through the discovery document's ``jwks_uri`` and cached by :class:`RemoteKeySet`
(refetched when a token names an unknown ``kid``, rate-limited). No web framework, no database.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iam.config import ConfigError
from iam.oauth import rfc7515
from iam.oauth.errors import InvalidRequest
from iam.oauth.jwks import Fetcher, FetchError, RemoteKeySet, fetch_json

__all__ = ["Federation", "FederationConfig", "TrustedIssuer", "UpstreamIdentity", "load_federation"]

CLOCK_SKEW_SECONDS = 30
MAX_SECURITY_LEVEL = 4  # a larger number in a token is no level we know: it counts as none
_DISCOVERY_REFRESH_SECONDS = 3600.0
_MAX_REMEMBERED = 50_000

# Claim names of the national login service for health personnel.
HELSEID_CLAIMS = {
    "national_id": "helseid://claims/identity/pid",
    "hpr_number": "helseid://claims/hpr/hpr_number",
    "security_level": "helseid://claims/identity/security_level",
    "name": "name",
}


class ClaimMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    national_id: str = Field("pid", description="Claim holding the national id (F-nr/D-nr).")
    hpr_number: str = Field("hpr_number", description="Claim holding the HPR number.")
    security_level: str = Field("security_level", description="Claim holding the security level (1-4).")
    name: str = Field("name", description="Claim holding the display name.")


class TrustedIssuer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(description="The issuer identifier; a token's iss must equal it exactly.")
    discovery_url: str | None = Field(None, description="Defaults to <issuer>/.well-known/openid-configuration.")
    jwks_uri: str | None = Field(None, description="Overrides the discovery document's jwks_uri.")
    audiences: list[str] = Field(min_length=1, description="A token must name one of these in aud.")
    algorithms: list[str] = Field(["RS256", "ES256", "PS256", "EdDSA"], min_length=1)
    preset: str | None = Field(None, description="'helseid' fills the claim names of HelseID.")
    claims: ClaimMapping = Field(default_factory=ClaimMapping)
    # Values of the security-level claim that are not digits (e.g. Keycloak acr values) -> level.
    security_levels: dict[str, int] = Field(default_factory=dict)
    min_security_level: int = Field(4, ge=0, le=4, description="Needed for a patient-bound token.")
    jwks_refetch_seconds: float = Field(10.0, ge=0, description="Least time between two fetches of the keys.")

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
        bad = [alg for alg in value if alg not in allowed]
        if bad:
            raise ValueError(f"algorithm {bad[0]!r} is not an asymmetric JWS algorithm")
        return value

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value not in (None, "helseid"):
            raise ValueError(f"preset {value!r} is unknown; expected 'helseid'")
        return value

    def claim_names(self) -> ClaimMapping:
        if self.preset == "helseid" and "claims" not in self.model_fields_set:
            return ClaimMapping(**HELSEID_CLAIMS)
        return self.claims


class FederationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: list[TrustedIssuer] = Field(default_factory=list)


@dataclass(frozen=True)
class UpstreamIdentity:
    """What a verified upstream token says about the user."""

    issuer: str
    subject: str
    national_id: str | None
    hpr_number: str | None
    security_level: int | None
    name: str | None
    issued_at: int | None
    expires_at: int
    min_security_level: int


def load_federation(path: Path | None) -> FederationConfig:
    """Read the trusted issuers file; no file configured means no upstream is trusted. Raise ConfigError."""
    if path is None:
        return FederationConfig()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"IAM_FEDERATION_FILE '{path}' cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"IAM_FEDERATION_FILE '{path}' is not valid YAML: {exc}") from None
    try:
        return FederationConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"IAM_FEDERATION_FILE '{path}': {where}: {error['msg']}") from None


class _Upstream:
    """One trusted issuer with its discovery document and keys, fetched on first use."""

    def __init__(self, config: TrustedIssuer, fetch: Fetcher) -> None:
        self.config = config
        self._fetch = fetch
        self._keys: RemoteKeySet | None = None
        self._resolved_at = 0.0
        self._lock = threading.Lock()

    def keys(self) -> RemoteKeySet:
        if self._keys is not None and time.monotonic() - self._resolved_at < _DISCOVERY_REFRESH_SECONDS:
            return self._keys
        with self._lock:
            jwks_uri = self.config.jwks_uri or self._discover()
            if self._keys is None or self._keys.url != jwks_uri:
                self._keys = RemoteKeySet(jwks_uri, fetch=self._fetch,
                                          min_refetch_seconds=self.config.jwks_refetch_seconds)
            self._resolved_at = time.monotonic()
            return self._keys

    def _discover(self) -> str:
        url = self.config.discovery_url or f"{self.config.issuer.rstrip('/')}/.well-known/openid-configuration"
        document = self._fetch(url)
        # OIDC Discovery §4.3: the document's issuer must be the one we trust.
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            raise FetchError(f"the discovery document at {url} is not for issuer {self.config.issuer}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError(f"the discovery document at {url} has no jwks_uri")
        return jwks_uri


def _check_claims(claims: dict[str, Any], *, config: TrustedIssuer, now: int) -> None:
    """RFC 7519 §4.1 for a signature-checked token: iss, aud, exp (required), nbf, and a subject."""
    if claims.get("iss") != config.issuer:
        raise _reject(f"its iss is not '{config.issuer}'")
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    if not set(audiences) & set(config.audiences):
        raise _reject(f"its aud names none of {', '.join(config.audiences)}")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float):
        raise _reject("it has no exp")
    if exp + CLOCK_SKEW_SECONDS <= now:
        raise _reject("it has expired")
    if isinstance(nbf, int | float) and nbf - CLOCK_SKEW_SECONDS > now:
        raise _reject("it is not valid yet (nbf)")
    if not isinstance(claims.get("sub"), str):
        raise _reject("it has no sub")


def _reject(message: str) -> InvalidRequest:
    # RFC 8693 §2.2.2: an invalid or unacceptable subject_token is invalid_request.
    return InvalidRequest(f"subject_token refused: {message}")


class Federation:
    """Verifies upstream tokens. A verified token's identity is remembered (by the token's SHA-256) until it
    expires: a clinical app exchanges the same login token again at every patient switch, and verifying
    its signature again would prove nothing new. What may change meanwhile, the account, is checked anew
    on every exchange by the caller."""

    def __init__(self, config: FederationConfig, *, fetch: Fetcher = fetch_json) -> None:
        self._upstreams = {issuer.issuer: _Upstream(issuer, fetch) for issuer in config.issuers}
        self._verified: dict[bytes, UpstreamIdentity] = {}
        self._lock = threading.Lock()

    def remembered(self, token: str, *, now: int) -> UpstreamIdentity | None:
        """The identity of a token verified before and not yet expired, else None."""
        identity = self._verified.get(hashlib.sha256(token.encode()).digest())
        if identity is None or identity.expires_at + CLOCK_SKEW_SECONDS <= now:
            return None
        return identity

    def _remember(self, token: str, identity: UpstreamIdentity, *, now: int) -> None:
        with self._lock:
            if len(self._verified) >= _MAX_REMEMBERED:
                self._verified = {key: known for key, known in self._verified.items()
                                  if known.expires_at + CLOCK_SKEW_SECONDS > now}
                if len(self._verified) >= _MAX_REMEMBERED:
                    self._verified.clear()
            self._verified[hashlib.sha256(token.encode()).digest()] = identity

    def trusts(self, issuer: object) -> bool:
        return isinstance(issuer, str) and issuer in self._upstreams

    def verify(self, token: str, jws: rfc7515.CompactJWS, *, now: int) -> UpstreamIdentity:
        """Verify an upstream token (``jws`` is ``token`` parsed): signature with the issuer's published key,
        then iss, aud, exp, nbf; remember it.

        The token's unverified ``iss`` only selects which keys may verify it. Raises InvalidRequest
        (RFC 8693 §2.2.2) saying why.
        """
        claims = jws.unverified_claims()
        issuer = claims.get("iss")
        upstream = self._upstreams.get(issuer) if isinstance(issuer, str) else None
        if upstream is None:
            raise _reject(f"issuer '{issuer}' is not trusted")
        config = upstream.config
        alg = jws.header.get("alg")
        if alg not in config.algorithms:
            raise _reject(f"algorithm {alg!r} is not allowed for issuer '{issuer}'")
        kid = jws.header.get("kid")
        try:
            candidates = upstream.keys().candidates(kid=kid if isinstance(kid, str) else None, alg=str(alg))
        except FetchError as exc:
            raise _reject(f"the keys of issuer '{issuer}' cannot be fetched ({exc})") from None
        if not any(rfc7515.verify(jws, key=key.key, alg=str(alg)) for key in candidates):
            raise _reject(f"the signature does not verify with the keys of issuer '{issuer}'")
        _check_claims(claims, config=config, now=now)
        identity = self._identity(claims, config=config, now=now)
        self._remember(token, identity, now=now)
        return identity

    @staticmethod
    def _identity(claims: dict[str, Any], *, config: TrustedIssuer, now: int) -> UpstreamIdentity:
        names = config.claim_names()

        def text(name: str) -> str | None:
            value = claims.get(name)
            return str(value) if isinstance(value, str | int) and str(value) else None

        raw_level = claims.get(names.security_level)
        level: int | None = None
        if isinstance(raw_level, int) or (isinstance(raw_level, str) and raw_level.isdigit()):
            level = int(raw_level) if 0 <= int(raw_level) <= MAX_SECURITY_LEVEL else None  # HelseID: 1 to 4
        elif isinstance(raw_level, str):
            level = config.security_levels.get(raw_level)
        issued_at = claims.get("iat")
        if isinstance(issued_at, int) and issued_at - CLOCK_SKEW_SECONDS > now:
            raise _reject("it was issued in the future (iat)")
        return UpstreamIdentity(
            issuer=config.issuer, subject=str(claims["sub"]), national_id=text(names.national_id),
            hpr_number=text(names.hpr_number), security_level=level, name=text(names.name),
            issued_at=issued_at if isinstance(issued_at, int) else None, expires_at=int(claims["exp"]),
            min_security_level=config.min_security_level,
        )
