"""Is a token that verifies still good? Revoked, client disabled, account disabled or tokens ended.

The hot path (every protected request) answers from memory: the revocation set, the cached client
records and the cached account facts, all kept fresh by change notices. Introspection asks for the
``authoritative`` answer, which reads revocations and the account from the database.
"""

from __future__ import annotations

from iam.oauth.accounts import Account, AccountDirectory
from iam.oauth.client_auth import ClientAuthenticator
from iam.oauth.clients import ClientRecord
from iam.oauth.revocation import RevocationList
from iam.oauth.rfc9068 import AccessTokenClaims

__all__ = ["REVOKED", "TokenStatus"]

REVOKED = "the token has been revoked"


class TokenStatus:
    def __init__(self, *, revocations: RevocationList, accounts: AccountDirectory,
                 clients: ClientAuthenticator) -> None:
        self._revocations = revocations
        self._accounts = accounts
        self._clients = clients

    def inactive_reason(self, claims: AccessTokenClaims, *, authoritative: bool = False) -> str | None:
        """Why a verified token must be refused now, or None when it is active. May query the database
        (always when ``authoritative``; otherwise only for a client or person not in the caches)."""
        revoked = (self._revocations.is_revoked_in_database(claims.jti) if authoritative
                   else self._revocations.is_revoked(claims.jti))
        if revoked:
            return REVOKED
        record = self._clients.record(claims.client_id)
        person_id = claims.person_id
        account = None if person_id is None else self._accounts.by_person(person_id, fresh=authoritative)
        return _judge(claims, record, account)


def _judge(claims: AccessTokenClaims, record: ClientRecord | None, account: Account | None) -> str | None:
    if record is None or record.client.disabled:
        return "the token's client is disabled"
    if claims.person_id is not None:
        if account is None:
            return "the token's person is unknown"
        return account.refusal(issued_at=claims.issued_at)
    return None
