"""RFC 8693: OAuth 2.0 Token Exchange, the request (§2.1) and the response fields (§2.2.1).

:func:`parse_token_exchange` validates the shape of the grant's parameters. What the server accepts
(which subject tokens, which audiences) is decided by :mod:`iam.oauth.exchange`. No web framework, no
database.

Error codes follow §2.2.2: an invalid or unacceptable ``subject_token`` is ``invalid_request``; an
audience or resource the server will not issue for is ``invalid_target``.
"""

from __future__ import annotations

from dataclasses import dataclass

from iam.oauth.errors import InvalidRequest, InvalidTarget

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "GRANT_TYPE",
    "ID_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "SUBJECT_TOKEN_TYPES",
    "TokenExchangeRequest",
    "parse_token_exchange",
]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - a token type URN, not a secret
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105 - a token type URN, not a secret
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 - a token type URN, not a secret
# §3: all three name a JWT here: the login provider's access or ID token, or one of our access tokens.
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, JWT_TOKEN_TYPE)
# The parameters parse_form must let repeat (§2.1).
REPEATABLE = frozenset({"audience", "resource"})


@dataclass(frozen=True)
class TokenExchangeRequest:
    subject_token: str
    subject_token_type: str
    target: str  # the one audience or resource the new token is for
    authorization_details: str | None  # raw JSON, parsed by iam.oauth.rfc9396


def parse_token_exchange(params: dict[str, str]) -> TokenExchangeRequest:
    """Validate §2.1; we issue access tokens for exactly one audience or resource per request."""
    subject_token = params.get("subject_token")
    subject_token_type = params.get("subject_token_type")
    if not subject_token:
        raise InvalidRequest("parameter 'subject_token' is missing")
    if not subject_token_type:
        raise InvalidRequest("parameter 'subject_token_type' is missing")
    if subject_token_type not in SUBJECT_TOKEN_TYPES:
        raise InvalidRequest(f"subject_token_type '{subject_token_type}' is not supported; expected one of "
                             f"{', '.join(SUBJECT_TOKEN_TYPES)}")
    if "actor_token" in params or "actor_token_type" in params:
        raise InvalidRequest("actor_token is not supported: the authenticated client is the actor")
    requested = params.get("requested_token_type", ACCESS_TOKEN_TYPE)
    if requested != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"requested_token_type '{requested}' is not supported; only access tokens "
                             "are issued")
    targets = list(dict.fromkeys(params.get("audience", "").split() + params.get("resource", "").split()))
    if not targets:
        raise InvalidRequest("name the service the token is for with 'audience' or 'resource'")
    if len(targets) > 1:
        raise InvalidTarget("ask for one audience or resource per token exchange, not "
                            f"{len(targets)} ({', '.join(targets)})")
    return TokenExchangeRequest(subject_token=subject_token, subject_token_type=subject_token_type,
                                target=targets[0], authorization_details=params.get("authorization_details"))
