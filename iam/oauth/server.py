"""The authorization server's service layer: the token, introspection and revocation endpoints' logic,
and the check every protected API runs on a presented token.

One :class:`AuthorizationServer` per process, built by the runtime. It owns the in-memory state that
makes requests cheap (cached clients, cached accounts, the revocation set) and keeps it fresh through the
change bus channels ``clients``, ``identity`` and ``revocation`` (the runtime's key ring follows ``keys``
itself, also where no authorization server runs). Blocking work (database,
network) runs in worker threads; a known secret client's client-credentials token is issued without
leaving the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from anyio import to_thread
from sqlalchemy.orm import Session, sessionmaker

from iam.config import Settings
from iam.errors import ServiceUnavailable
from iam.notify import ChangeBus
from iam.oauth.accounts import IDENTITY_CHANNEL, AccountDirectory
from iam.oauth.client_auth import ClientAuthenticator
from iam.oauth.clients import CLIENTS_CHANNEL, GRANT_TYPES, Client
from iam.oauth.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidScope,
    InvalidToken,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from iam.oauth.exchange import AccessLogWriter, Decider, ExchangeContext, TokenExchangeService
from iam.oauth.federation import Federation, load_federation
from iam.oauth.keys import KeyRing
from iam.oauth.replay import JtiStore
from iam.oauth.resource_server import check_sender
from iam.oauth.revocation import REVOCATION_CHANNEL, RevocationList
from iam.oauth.rfc6749 import ClientCredentials, TokenRequest, parse_client_authentication
from iam.oauth.rfc7009 import check_revoker
from iam.oauth.rfc7009 import token_parameter as revocation_token
from iam.oauth.rfc7662 import INACTIVE, active_response
from iam.oauth.rfc7662 import token_parameter as introspection_token
from iam.oauth.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from iam.oauth.rfc8693 import parse_token_exchange
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.oauth.rfc9396 import care_request_from_params
from iam.oauth.rfc9449 import CLOCK_SKEW_SECONDS, PROOF_MAX_AGE_SECONDS, verify_proof
from iam.oauth.token_status import TokenStatus
from iam.oauth.tokens import TokenService

__all__ = ["KEYS_CHANNEL", "AuthorizationServer", "RequestInfo"]

KEYS_CHANNEL = "keys"
INTROSPECT_SCOPE = "introspect"
_log = logging.getLogger("iam.oauth")


@dataclass(frozen=True)
class RequestInfo:
    """What the HTTP edge tells the service about a request."""

    url: str
    authorization: str | None = None
    dpop: str | None = None
    source_address: str | None = None
    request_id: str | None = None


class AuthorizationServer:
    def __init__(self, *, settings: Settings, sessions: sessionmaker[Session], keys: KeyRing,
                 tokens: TokenService, bus: ChangeBus, decider: Callable[[], Decider | None],
                 access_log: Callable[[], AccessLogWriter | None]) -> None:
        self.issuer = settings.issuer_url
        self.token_url = f"{self.issuer}/oauth2/token"
        self._sessions = sessions
        self._tokens = tokens
        self._bus = bus
        self.jtis = JtiStore(sessions)
        self.clients = ClientAuthenticator(sessions, jtis=self.jtis, assertion_audiences=(self.token_url, self.issuer))
        self.revocations = RevocationList(sessions)
        self.revocations.load()
        self.accounts = AccountDirectory(sessions)
        self.status = TokenStatus(revocations=self.revocations, accounts=self.accounts, clients=self.clients)
        self.federation = Federation(load_federation(settings.federation_file))
        self._access_log = access_log
        self.exchange = TokenExchangeService(
            tokens=tokens, federation=self.federation, accounts=self.accounts, revocations=self.revocations,
            decider=decider, ttl=settings.exchange_token_ttl, decision_section=settings.exchange_decision_section)
        bus.subscribe(CLIENTS_CHANNEL, self.clients.on_notice)
        bus.subscribe(IDENTITY_CHANNEL, self.accounts.on_notice)
        bus.subscribe(REVOCATION_CHANNEL, self.revocations.on_notice)

    def publish(self, session: Session, channel: str, payload: str) -> None:
        self._bus.publish(session, channel, payload)

    # -- token endpoint ----------------------------------------------------------------------------------

    async def token(self, request: TokenRequest, info: RequestInfo) -> dict[str, Any]:
        """RFC 6749 §3.2 for the client-credentials and token-exchange grants."""
        if request.grant_type not in GRANT_TYPES:
            raise UnsupportedGrantType(f"grant_type '{request.grant_type}' is not supported; expected one of "
                                       f"{', '.join(GRANT_TYPES)}")
        client = await self.authenticate(request.client)
        if request.grant_type not in client.grant_types:
            raise UnauthorizedClient(f"this client may not use the {request.grant_type} grant")
        jkt = await self._dpop_binding(client, info) if info.dpop or client.dpop_bound_access_tokens else None
        if request.grant_type == TOKEN_EXCHANGE:
            return await self._exchange(request, client, info, jkt)
        scopes = list(request.scopes) if request.scopes is not None else list(client.scopes)
        refused = [scope for scope in scopes if scope not in client.scopes]
        if refused:
            raise InvalidScope(f"scope '{refused[0]}' is not granted to this client")
        issued = self._tokens.issue(subject=client.client_id, client_id=client.client_id, scopes=scopes,
                                    dpop_jkt=jkt)
        return dict(issued)

    async def authenticate(self, credentials: ClientCredentials) -> Client:
        """In memory when the client is cached and uses a secret; otherwise in a worker thread."""
        client = self.clients.try_cached(credentials)
        if client is None:
            client = await to_thread.run_sync(self.clients.authenticate, credentials)
        return client

    async def _dpop_binding(self, client: Client, info: RequestInfo) -> str:
        """RFC 9449 §5: verify the proof at the token endpoint; its key's thumbprint goes in cnf.jkt."""
        if not info.dpop:
            raise InvalidDPoPProof("this client's tokens must be DPoP-bound (dpop_bound_access_tokens); "
                                   "send a DPoP proof")
        proof = verify_proof(info.dpop, method="POST", urls=(self.token_url, info.url), now=int(time.time()))
        fresh = await to_thread.run_sync(lambda: self.jtis.use_once(
            kind="dpop", issuer=proof.jkt, jti=proof.jti,
            expires_at=proof.issued_at + PROOF_MAX_AGE_SECONDS + CLOCK_SKEW_SECONDS))
        if not fresh:
            raise InvalidDPoPProof("the DPoP proof was used before (replay)")
        return proof.jkt

    async def _exchange(self, request: TokenRequest, client: Client, info: RequestInfo,
                        jkt: str | None) -> dict[str, Any]:
        """RFC 8693: the decision work (in a worker thread unless it needs no I/O), then the durable
        access-log write awaited in the event loop (no thread is held while the log commits), then the token
        or the refusal."""
        exchange = parse_token_exchange(request.params)
        care = care_request_from_params(request.params)
        context = ExchangeContext(client=client, scopes=request.scopes, dpop_jkt=jkt,
                                  source_address=info.source_address, request_id=info.request_id)
        if self.exchange.answers_from_memory(exchange, care):
            # All in memory, about 150 µs of CPU: cheaper here than the hop to a worker thread and back.
            result = self.exchange.exchange(exchange, care, context)
        else:
            result = await to_thread.run_sync(self.exchange.exchange, exchange, care, context)
        writer = self._access_log()
        if writer is None:
            raise ServiceUnavailable("the access log is not running, so no token is exchanged")
        try:
            await writer.record_async(result.event)
        except Exception as exc:
            _log.exception("the access log refused a token exchange event")
            raise ServiceUnavailable("the access log cannot be written, so no token is exchanged") from exc
        if result.refusal is not None:
            raise result.refusal
        assert result.issued is not None
        # Debug, not info: the access log already holds this exchange durably (client, audience, jti), and at
        # info level a second JSON line per exchange cost 7 % of the token endpoint's time.
        _log.debug("token exchanged", extra={"client_id": client.client_id, "audience": exchange.target,
                                            "jti": result.issued.jti})
        return dict(result.issued)

    # -- introspection and revocation --------------------------------------------------------------------

    def introspect(self, form: dict[str, str], info: RequestInfo) -> dict[str, Any]:
        """RFC 7662 §2: the caller authenticates as a client, or with a bearer token, holding ``introspect``."""
        authorization = info.authorization or ""
        if authorization.lower().startswith(("bearer ", "dpop ")):
            scheme, _, token = authorization.partition(" ")
            caller = self.verify_presented(scheme=scheme, token=token.strip(), info=info, method="POST")
            if INTROSPECT_SCOPE not in caller.scopes:
                raise InsufficientScope(INTROSPECT_SCOPE)
        else:
            client = self.clients.authenticate(parse_client_authentication(form=form, authorization=info.authorization))
            if INTROSPECT_SCOPE not in client.scopes:
                raise UnauthorizedClient(f"this client lacks the scope '{INTROSPECT_SCOPE}' that introspection needs")
        token = introspection_token(form)
        try:
            claims = self._tokens.verify(token, any_audience=True)
        except InvalidToken:
            return dict(INACTIVE)
        if self.status.inactive_reason(claims, authoritative=True) is not None:
            return dict(INACTIVE)
        return active_response(claims, issuer=self.issuer)

    def revoke(self, form: dict[str, str], info: RequestInfo) -> None:
        """RFC 7009 §2: revoke a token issued to the authenticated client; unknown tokens are a no-op."""
        client = self.clients.authenticate(parse_client_authentication(form=form, authorization=info.authorization))
        token = revocation_token(form)
        try:
            claims = self._tokens.verify(token, any_audience=True)
        except InvalidToken:
            return  # §2.2: invalid, expired or foreign tokens need no revocation
        check_revoker(claims, client_id=client.client_id, client_scopes=client.scopes)
        with self._sessions.begin() as session:
            self.revocations.revoke(session, claims, publish=self.publish)
        _log.info("token revoked", extra={"client_id": client.client_id, "jti": claims.jti})

    # -- protected APIs ----------------------------------------------------------------------------------

    def verify_presented(self, *, scheme: str, token: str, info: RequestInfo, method: str) -> AccessTokenClaims:
        """Everything a protected API of ours checks: signature and claims for our audience, the DPoP sender
        constraint, and that the token is not revoked and its client and account still active."""
        claims = self._tokens.verify(token)
        # The URL as we received it, and as our issuer names it (the two differ behind a proxy).
        # Only a DPoP proof is checked against the URL; without one the URL is not needed.
        urls = (info.url, self.issuer + urlsplit(info.url).path) if info.dpop else ()
        check_sender(bound_jkt=claims.bound_jkt, scheme=scheme, access_token=token, proof=info.dpop, method=method,
                     urls=urls, replay=self.jtis)
        reason = self.status.inactive_reason(claims)
        if reason is not None:
            raise InvalidToken(reason, scheme="DPoP" if claims.bound_jkt else "Bearer")
        return claims
