"""Client authentication (RFC 6749 §2.3, RFC 7523 §3) against a cached copy of the client registry.

Client records are cached in memory and dropped when the change bus announces a change on the
``clients`` channel, so the token endpoint authenticates a known client without a database round trip.
Secrets are compared with the stored salted hash; ``private_key_jwt`` assertions are verified against
the client's registered JWK Set (inline, or fetched from its ``jwks_uri``) and their ``jti`` is recorded in
the shared :class:`~iam.oauth.replay.JtiStore`, so a replay is refused on every node.

Every failure is the same outward ``invalid_client``; the reason goes to our log.
"""

from __future__ import annotations

import time

import jwt
from sqlalchemy.orm import Session, sessionmaker

from iam.notify import RESYNC
from iam.oauth.cache import InvalidatedCache
from iam.oauth.client_secrets import secret_matches
from iam.oauth.clients import Client, ClientRecord, load_client
from iam.oauth.errors import InvalidClient
from iam.oauth.jwks import FetchError, RemoteKeySet
from iam.oauth.replay import JtiStore
from iam.oauth.rfc6749 import ClientCredentials
from iam.oauth.rfc7523 import keys_from_jwks, verify_client_assertion

__all__ = ["ClientAuthenticator"]


class ClientAuthenticator:
    def __init__(self, sessions: sessionmaker[Session], *, jtis: JtiStore, assertion_audiences: tuple[str, ...]
                 ) -> None:
        self._sessions = sessions
        self._jtis = jtis
        self._audiences = assertion_audiences
        self._records: InvalidatedCache[str, ClientRecord] = InvalidatedCache()
        self._remote_keys: dict[str, RemoteKeySet] = {}

    def on_notice(self, payload: str) -> None:
        """Change bus subscriber for channel ``clients``: drop one client, or everything on resync."""
        if payload == RESYNC:
            self._records.clear()
            self._remote_keys.clear()
        else:
            self._records.invalidate(payload)
            self._remote_keys.pop(payload, None)

    def record(self, client_id: str) -> ClientRecord | None:
        return self._records.get(client_id, lambda: self._load(client_id))

    def _load(self, client_id: str) -> ClientRecord | None:
        with self._sessions() as session:
            return load_client(session, client_id)

    def try_cached(self, credentials: ClientCredentials) -> Client | None:
        """The fast path an event loop may take: a secret client already in the cache, checked in memory.

        Returns None when the answer needs the database or the network (the caller then runs
        :meth:`authenticate` in a worker thread); raises InvalidClient when the cached record refuses.
        """
        if credentials.secret is None:
            return None
        found, record = self._records.peek(credentials.client_id)
        if not found:
            return None
        return self._check(credentials, record)

    def authenticate(self, credentials: ClientCredentials) -> Client:
        """Authenticate with any supported method; may query the database or fetch a jwks_uri."""
        return self._check(credentials, self.record(credentials.client_id))

    def _check(self, credentials: ClientCredentials, record: ClientRecord | None) -> Client:
        basic = credentials.method == "client_secret_basic"
        if record is None:
            raise InvalidClient(log_detail=f"unknown client_id {credentials.client_id!r}", basic=basic)
        client = record.client
        if client.disabled:
            raise InvalidClient(log_detail=f"client {client.client_id!r} is disabled", basic=basic)
        registered = client.token_endpoint_auth_method
        secret_client = registered in ("client_secret_basic", "client_secret_post")
        if credentials.method == "private_key_jwt":
            if registered != "private_key_jwt":
                raise InvalidClient(log_detail=f"client {client.client_id!r} is registered for {registered}, "
                                    "not private_key_jwt", basic=False)
            self._check_assertion(credentials, record)
        elif not secret_client or not secret_matches(credentials.secret or "", record.secret_hash):
            # Basic and post are interchangeable for a secret client (both carry the same secret).
            raise InvalidClient(log_detail=f"wrong secret for client {client.client_id!r}", basic=basic)
        return client

    def _check_assertion(self, credentials: ClientCredentials, record: ClientRecord) -> None:
        assert credentials.assertion is not None
        client = record.client
        if record.jwks is not None:
            keys = keys_from_jwks(record.jwks)
        else:
            assert client.jwks_uri is not None
            remote = self._remote_keys.setdefault(client.client_id, RemoteKeySet(client.jwks_uri))
            try:
                header = jwt.get_unverified_header(credentials.assertion)
                keys = remote.candidates(kid=header.get("kid"), alg=str(header.get("alg")))
            except (FetchError, jwt.InvalidTokenError) as exc:
                raise InvalidClient(log_detail=f"keys of client {client.client_id!r}: {exc}", basic=False) from None
        assertion = verify_client_assertion(credentials.assertion, client_id=client.client_id, keys=keys,
                                            audiences=self._audiences, now=int(time.time()))
        if not self._jtis.use_once(kind="client_assertion", issuer=client.client_id, jti=assertion.jti,
                                   expires_at=assertion.expires_at):
            raise InvalidClient(log_detail=f"client assertion jti {assertion.jti!r} of {client.client_id!r} "
                                "was used before (replay)", basic=False)
