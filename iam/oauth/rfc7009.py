"""RFC 7009: OAuth 2.0 Token Revocation, the request (§2.1) and the server's duties (§2.1, §2.2).

The client authenticates, names the token, and may hint its type. The server revokes the token only if
it was issued to that client (§2.1); an invalid, expired or unknown token is answered with 200 all the
same (§2.2), because the client's goal, that the token not work, is met. No web framework, no database.
"""

from __future__ import annotations

from iam.oauth.errors import InvalidRequest, UnauthorizedClient
from iam.oauth.rfc9068 import AccessTokenClaims

__all__ = ["ADMIN_SCOPE", "check_revoker", "token_parameter"]

# A client holding this scope may revoke any token (the privacy officer's console, an operator).
ADMIN_SCOPE = "admin"


def token_parameter(form: dict[str, str]) -> str:
    token = form.get("token")
    if not token:
        raise InvalidRequest("parameter 'token' is missing")
    return token


def check_revoker(claims: AccessTokenClaims, *, client_id: str, client_scopes: tuple[str, ...]) -> None:
    """§2.1: the token must have been issued to the revoking client (or the client is an admin client)."""
    if claims.client_id != client_id and ADMIN_SCOPE not in client_scopes:
        raise UnauthorizedClient("this token was issued to another client; only it (or an admin client) "
                                 "may revoke it")
