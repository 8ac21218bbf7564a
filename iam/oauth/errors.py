"""OAuth 2.0 errors with their wire codes.

::

    OAuthError (iam.errors.APIError)
    ├── InvalidRequest        400 invalid_request         RFC 6749 §5.2
    ├── InvalidClient         401 invalid_client          RFC 6749 §5.2
    ├── InvalidGrant          400 invalid_grant           RFC 6749 §5.2
    ├── UnauthorizedClient    400 unauthorized_client     RFC 6749 §5.2
    ├── UnsupportedGrantType  400 unsupported_grant_type  RFC 6749 §5.2
    ├── InvalidScope          400 invalid_scope           RFC 6749 §5.2
    ├── InvalidTarget         400 invalid_target          RFC 8707 §2, RFC 8693 §2.2.2
    ├── InvalidAuthorizationDetails
    │                         400 invalid_authorization_details  RFC 9396 §5
    ├── InvalidDPoPProof      400 invalid_dpop_proof      RFC 9449 §5
    │   └── DPoPProofRejected 401 invalid_dpop_proof      RFC 9449 §7.1 (at a resource server)
    ├── UnsupportedTokenType  400 unsupported_token_type  RFC 7009 §2.2.1
    ├── InvalidToken          401 invalid_token           RFC 6750 §3.1
    └── InsufficientScope     403 insufficient_scope      RFC 6750 §3.1

Outward messages stay uniform where detail would help an attacker (an unknown client and a wrong secret
both say "client authentication failed"); the detail goes to our own log as ``log_detail``.
"""

from __future__ import annotations

from iam.errors import APIError

__all__ = [
    "DPoPProofRejected",
    "InsufficientScope",
    "InvalidAuthorizationDetails",
    "InvalidClient",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "OAuthError",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedTokenType",
]


class OAuthError(APIError):
    def __init__(
        self, message: str, *, headers: dict[str, str] | None = None, log_detail: str | None = None
    ) -> None:
        super().__init__(message, headers=headers)
        self.log_detail = log_detail


class InvalidRequest(OAuthError):
    code = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: 401 with a WWW-Authenticate challenge for the scheme the client used."""

    status = 401
    code = "invalid_client"

    def __init__(self, *, log_detail: str, basic: bool = True) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="iam"'} if basic else None
        super().__init__("client authentication failed", headers=headers, log_detail=log_detail)


class InvalidGrant(OAuthError):
    code = "invalid_grant"


class UnauthorizedClient(OAuthError):
    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    code = "unsupported_grant_type"


class InvalidScope(OAuthError):
    code = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8693 §2.2.2: the server is unwilling to issue a token for the requested audience/resource."""

    code = "invalid_target"


class InvalidAuthorizationDetails(OAuthError):
    """RFC 9396 §5: unknown type, malformed details, or details the policy does not grant."""

    code = "invalid_authorization_details"


class InvalidDPoPProof(OAuthError):
    """RFC 9449 §5 at the token endpoint (400); a resource server answers 401 with a DPoP challenge."""

    code = "invalid_dpop_proof"


class UnsupportedTokenType(OAuthError):
    code = "unsupported_token_type"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1. With no token at all the challenge carries no error code (§3.1, last paragraph)."""

    status = 401
    code = "invalid_token"

    def __init__(self, message: str, *, token_present: bool = True, scheme: str = "Bearer") -> None:
        challenge = f'{scheme} error="invalid_token", error_description="{message}"'
        if not token_present:
            challenge = 'Bearer realm="iam", error="invalid_token", error_description="no bearer token"'
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class DPoPProofRejected(InvalidDPoPProof):
    """RFC 9449 §7.1: a resource server refuses a missing, invalid or replayed proof with 401."""

    status = 401

    def __init__(self, message: str, *, algs: str) -> None:
        challenge = f'DPoP error="invalid_dpop_proof", error_description="{message}", algs="{algs}"'
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class InsufficientScope(OAuthError):
    status = 403
    code = "insufficient_scope"

    def __init__(self, required: str) -> None:
        super().__init__(
            f"this request needs the scope '{required}'",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{required}"'},
        )
