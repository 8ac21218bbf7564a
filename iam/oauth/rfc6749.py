"""RFC 6749 request parsing: §2.3 client authentication, §3.2 the token endpoint, §4.4 client credentials.

Turns the raw form body and Authorization header into typed requests; knows nothing of FastAPI or the
database. Client authentication recognises ``client_secret_basic`` (§2.3.1), ``client_secret_post``
(§2.3.1) and ``private_key_jwt`` (RFC 7521 §4.2 / RFC 7523 §2.2); the credentials themselves are
checked later by :mod:`iam.oauth.client_auth`. The same parsing serves the introspection (RFC 7662) and
revocation (RFC 7009) endpoints, which authenticate clients the same way.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from iam.oauth.errors import InvalidClient, InvalidRequest

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "ClientCredentials",
    "TokenRequest",
    "parse_client_authentication",
    "parse_form",
    "parse_token_request",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_CLIENT_AUTH_PARAMS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")


@dataclass(frozen=True)
class ClientCredentials:
    """What the client presented; nothing here is verified yet.

    ``secret`` is set for the two secret methods, ``assertion`` (a JWT) for ``private_key_jwt``.
    """

    client_id: str
    secret: str | None
    method: str  # "client_secret_basic" | "client_secret_post" | "private_key_jwt"
    assertion: str | None = None


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str
    client: ClientCredentials
    scopes: tuple[str, ...] | None  # None: the client's registered scopes
    params: dict[str, str]


def parse_form(body: bytes, *, repeatable: frozenset[str] = frozenset()) -> dict[str, str]:
    """Parse ``application/x-www-form-urlencoded``; a repeated parameter is an error (§3.2).

    Parameters named in ``repeatable`` (RFC 8693 §2.1 lets ``audience`` and ``resource`` repeat) keep
    every value, joined with single spaces, in the order given.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the request body is not UTF-8") from None
    # As parse_qs(keep_blank_values=True) reads it, but a field is only unquoted when it holds a '%' or a '+':
    # the subject token of an exchange (base64url) never does, and unquoting it was 5 % of an exchange.
    parsed: dict[str, str] = {}
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        if name not in parsed:
            parsed[name] = value
        elif name in repeatable:
            parsed[name] += " " + value
        else:
            raise InvalidRequest(f"parameter '{name}' is given more than once")
    return parsed


def _basic_credentials(header: str) -> ClientCredentials:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient(log_detail="Authorization: Basic value is not base64 of UTF-8") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient(log_detail="Authorization: Basic value is not 'id:secret'")
    # §2.3.1: id and secret are form-urlencoded before base64.
    return ClientCredentials(unquote_plus(client_id), unquote_plus(secret), "client_secret_basic")


def _assertion_subject(assertion: str) -> str:
    """The unverified ``sub`` of a client assertion: RFC 7523 §3 makes it the client_id."""
    try:
        payload = assertion.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        raise InvalidClient(log_detail="client_assertion is not a JWT", basic=False) from None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not isinstance(subject, str) or not subject:
        raise InvalidClient(log_detail="client_assertion has no sub", basic=False)
    return subject


def parse_client_authentication(*, form: dict[str, str], authorization: str | None) -> ClientCredentials:
    """Find the one client authentication method the request uses; raise InvalidClient if none.

    §2.3: a client MUST NOT use more than one method in a request, which is an invalid_request.
    """
    has_basic = authorization is not None and authorization[:6].lower() == "basic "
    if authorization is not None and not has_basic:
        raise InvalidClient(log_detail="Authorization header is not Basic")
    methods = [has_basic, "client_secret" in form, "client_assertion" in form]
    if sum(methods) > 1:
        raise InvalidRequest("use one client authentication method, not several (Basic, client_secret, "
                             "client_assertion)")
    if has_basic:
        assert authorization is not None
        client = _basic_credentials(authorization)
        if "client_id" in form and form["client_id"] != client.client_id:
            raise InvalidRequest("client_id in the body differs from the Basic credentials")
        return client
    if form.get("client_id") and "client_secret" in form:
        return ClientCredentials(form["client_id"], form["client_secret"], "client_secret_post")
    if "client_assertion" in form:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise InvalidClient(log_detail=f"client_assertion_type {form.get('client_assertion_type')!r} is "
                                f"not {CLIENT_ASSERTION_TYPE!r}", basic=False)
        subject = _assertion_subject(form["client_assertion"])
        if form.get("client_id", subject) != subject:
            raise InvalidClient(log_detail="client_id differs from the client_assertion's sub", basic=False)
        return ClientCredentials(subject, None, "private_key_jwt", assertion=form["client_assertion"])
    raise InvalidClient(log_detail="no client credentials in the request")


def parse_token_request(*, form: dict[str, str], authorization: str | None) -> TokenRequest:
    """Validate the shape of a token request; credentials are checked later by the client registry."""
    client = parse_client_authentication(form=form, authorization=authorization)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("parameter 'grant_type' is missing")
    scope = form.get("scope") or None  # §3.1: a parameter sent without a value counts as omitted
    scopes = tuple(scope.split()) if scope is not None else None
    if scope is not None and not scopes:
        raise InvalidRequest("parameter 'scope' holds no scope, only spaces")
    params = {k: v for k, v in form.items() if k not in (*_CLIENT_AUTH_PARAMS, "grant_type", "scope")}
    return TokenRequest(grant_type=grant_type, client=client, scopes=scopes, params=params)
