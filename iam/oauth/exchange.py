"""Token exchange (RFC 8693) for clinical apps: the user's login token becomes a short-lived token for one
audience, carrying the practitioner and care context of the Norwegian trust framework.

The steps, each refusing with the RFC's error code:

1. the client may exchange for the requested audience (policy as data: the client's registered exchange
   audiences) -- else ``invalid_target``;
2. the ``subject_token`` is a valid token of a trusted login provider (:mod:`iam.oauth.federation`) or one
   of our own person tokens, not revoked -- else ``invalid_request`` (RFC 8693 §2.2.2);
3. it maps to one of our accounts, which is active and whose tokens were not ended after the login --
   else ``invalid_request``;
4. with a patient, the login's security level is high enough (4 by default) and the decision engine
   permits the access -- else ``invalid_request`` / ``invalid_authorization_details`` (RFC 9396 §5);
5. the token is issued (at most 60 minutes; DPoP-bound when the request carried a proof); the caller
   writes the exchange to the access log, permit or deny, before the answer leaves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from audit.events import AccessEvent
from iam.authz.model import Decision, DecisionRequest, SubjectRef
from iam.errors import ServiceUnavailable
from iam.oauth import rfc7515
from iam.oauth.accounts import Account, AccountDirectory, Role
from iam.oauth.clients import Client
from iam.oauth.errors import (
    InvalidAuthorizationDetails,
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    InvalidToken,
    OAuthError,
)
from iam.oauth.federation import Federation
from iam.oauth.revocation import RevocationList
from iam.oauth.rfc8693 import ACCESS_TOKEN_TYPE, TokenExchangeRequest
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.oauth.rfc9396 import CareContextRequest, Practitioner, attested_details
from iam.oauth.tokens import IssuedToken, TokenService

__all__ = ["AccessLogWriter", "Decider", "ExchangeContext", "ExchangeResult", "TokenExchangeService"]

_log = logging.getLogger("iam.oauth")
ACTION = "token-exchange"
DEFAULT_SECURITY_LEVEL = 4


class Decider(Protocol):
    """The decision engine's public entry point (``iam.authz``): ``decide(DecisionRequest) -> Decision``."""

    def decide(self, request: DecisionRequest) -> Decision: ...


class AccessLogWriter(Protocol):
    """The access log's durable write (``audit``): returns once the event is committed."""

    async def record_async(self, event: AccessEvent) -> str: ...


@dataclass(frozen=True)
class ExchangeResult:
    """The token (or the refusal) and the access-log event to write before answering either way."""

    event: AccessEvent
    issued: IssuedToken | None = None
    refusal: OAuthError | None = None


@dataclass(frozen=True)
class ExchangeContext:
    """Who asked, from where: for the access log."""

    client: Client
    scopes: tuple[str, ...] | None
    dpop_jkt: str | None
    source_address: str | None
    request_id: str | None


@dataclass(frozen=True)
class _Login:
    account: Account
    issuer: str
    issued_at: int | None
    security_level: int | None
    min_security_level: int


class TokenExchangeService:
    def __init__(self, *, tokens: TokenService, federation: Federation, accounts: AccountDirectory,
                 revocations: RevocationList, decider: Callable[[], Decider | None], ttl: int,
                 decision_section: str) -> None:
        self._tokens = tokens
        self._federation = federation
        self._accounts = accounts
        self._revocations = revocations
        self._decider = decider
        self._ttl = ttl
        self._section = decision_section

    def answers_from_memory(self, request: TokenExchangeRequest, care: CareContextRequest | None) -> bool:
        """Whether :meth:`exchange` would do no I/O: no patient (the decision engine may query), an upstream
        token verified before, and its account cached. The caller may then skip the worker thread."""
        if care is not None and care.patient is not None:
            return False
        identity = self._federation.remembered(request.subject_token, now=int(time.time()))
        return identity is not None and self._accounts.cached_identifier(national_id=identity.national_id,
                                                                         hpr_number=identity.hpr_number)

    def exchange(self, request: TokenExchangeRequest, care: CareContextRequest | None,
                 context: ExchangeContext) -> ExchangeResult:
        """Steps 1-5 of the module docstring except writing the access log, which the caller does with the
        returned event (without holding a thread while the log commits). Blocking: database look-ups on
        cache misses and the decision engine. Raises the refusals that come before a person is known."""
        client = context.client
        if request.target not in client.exchange_audiences:
            raise InvalidTarget(f"client '{client.client_id}' may not obtain tokens for '{request.target}'")
        scopes = list(context.scopes or ())
        refused = [scope for scope in scopes if scope not in client.scopes]
        if refused:
            raise InvalidScope(f"scope '{refused[0]}' is not granted to this client")
        login = self._login(request.subject_token, dpop_jkt=context.dpop_jkt)
        account = login.account
        refusal = account.refusal(issued_at=login.issued_at)
        if refusal is not None:
            return ExchangeResult(event=self._event(context, account=account, care=care, outcome="deny",
                                                    reason=refusal),
                                  refusal=InvalidRequest(f"subject_token refused: {refusal}"))
        care = care or CareContextRequest()
        role = self._role(account, care)
        decision = None
        if care.patient is not None:
            self._check_level(login)
            decision = self._decide(account, care, role)
            role = self._acting_role(account, decision, role)
            if not decision.allowed:
                return ExchangeResult(
                    event=self._event(context, account=account, care=care, outcome="deny", role=role,
                                      decision=decision, reason=f"decision engine: {decision.reason}"),
                    refusal=InvalidAuthorizationDetails(
                        f"access to patient {care.patient} for purpose {care.purpose_of_use} is denied by policy "
                        f"(reason '{decision.reason}', rule '{decision.rule}', decision {decision.decision_id})"))
        practitioner = self._practitioner(account, care, role)
        claims = self._claims(login, care, practitioner, decision)
        issued = self._tokens.issue(subject=account.subject, client_id=client.client_id, scopes=scopes,
                                    audience=request.target, ttl=self._ttl, extra_claims=claims,
                                    dpop_jkt=context.dpop_jkt)
        issued["issued_token_type"] = ACCESS_TOKEN_TYPE
        return ExchangeResult(issued=issued, event=self._event(
            context, account=account, care=care, outcome="permit", role=role, decision=decision, jti=issued.jti,
            practitioner=practitioner))

    # -- the subject token -------------------------------------------------------------------------------

    def _login(self, subject_token: str, *, dpop_jkt: str | None) -> _Login:
        now = int(time.time())
        identity = self._federation.remembered(subject_token, now=now)
        if identity is None:
            try:
                jws = rfc7515.parse(subject_token)
                issuer = jws.unverified_claims().get("iss")
            except rfc7515.MalformedJWS:
                raise InvalidRequest("subject_token refused: it is not a well-formed JWT") from None
            if issuer == self._tokens.issuer:
                return self._own_login(subject_token, dpop_jkt=dpop_jkt)
            identity = self._federation.verify(subject_token, jws, now=now)
        account = self._accounts.by_identifier(national_id=identity.national_id, hpr_number=identity.hpr_number)
        if account is None:
            _log.info("token exchange for an unknown person", extra={"issuer": identity.issuer})
            raise InvalidRequest("subject_token refused: no account matches the user of the upstream token")
        return _Login(account=account, issuer=identity.issuer, issued_at=identity.issued_at,
                      security_level=identity.security_level, min_security_level=identity.min_security_level)

    def _own_login(self, subject_token: str, *, dpop_jkt: str | None) -> _Login:
        try:
            claims: AccessTokenClaims = self._tokens.verify(subject_token, any_audience=True)
        except InvalidToken as exc:
            raise InvalidRequest(f"subject_token refused: {exc.message}") from None
        if claims.person_id is None:
            raise InvalidRequest("subject_token refused: it does not act for a person")
        if self._revocations.is_revoked(claims.jti):
            raise InvalidRequest("subject_token refused: it has been revoked")
        if claims.bound_jkt is not None and claims.bound_jkt != dpop_jkt:
            raise InvalidRequest("subject_token refused: it is DPoP-bound; send a DPoP proof with its key")
        account = self._accounts.by_person(claims.person_id)
        if account is None:
            raise InvalidRequest("subject_token refused: its person is unknown")
        level = claims.extra.get("security_level")
        issuer = str(claims.extra.get("idp", self._tokens.issuer))
        return _Login(account=account, issuer=issuer, issued_at=claims.issued_at,
                      security_level=level if isinstance(level, int) else None,
                      min_security_level=DEFAULT_SECURITY_LEVEL)

    # -- care context ------------------------------------------------------------------------------------

    @staticmethod
    def _check_level(login: _Login) -> None:
        level = login.security_level
        if level is None or level < login.min_security_level:
            raise InvalidRequest(f"subject_token refused: record access needs security level "
                                 f"{login.min_security_level}; the login has {level if level is not None else 'none'}")

    @staticmethod
    def _role(account: Account, care: CareContextRequest) -> Role | None:
        if care.authorization is not None and care.authorization not in account.authorisations:
            raise InvalidAuthorizationDetails(f"the user holds no valid HPR authorisation '{care.authorization}'")
        if care.unit is None:
            units = {role.unit_id for role in account.roles}
            return account.roles[0] if len(units) == 1 else None
        for role in account.roles:
            if care.unit in (role.unit_id, role.point_of_care_id, role.legal_entity_id):
                return role
        raise InvalidAuthorizationDetails(f"the user holds no role in unit '{care.unit}'")

    def _decide(self, account: Account, care: CareContextRequest, role: Role | None) -> Decision:
        decider = self._decider()
        if decider is None:
            raise ServiceUnavailable("patient-bound tokens need the decision engine, which is not running")
        if care.purpose_of_use is None:
            raise InvalidAuthorizationDetails("a patient-bound token needs care_relationship.purpose_of_use")
        return decider.decide(DecisionRequest(
            subject=SubjectRef(kind="person", value=account.person_id), patient=care.patient or "",
            section=self._section, action="read", purpose=care.purpose_of_use,
            acting_unit=care.unit or (role.unit_id if role else None)))

    @staticmethod
    def _acting_role(account: Account, decision: Decision, role: Role | None) -> Role | None:
        acting = decision.acting_unit
        for candidate in account.roles:
            if acting is not None and candidate.unit_id == acting:
                return candidate
        return role

    @staticmethod
    def _practitioner(account: Account, care: CareContextRequest, role: Role | None) -> Practitioner:
        authorization = care.authorization or (account.authorisations[0] if account.authorisations else None)
        if role is None:
            return Practitioner(hpr_number=account.hpr_number, authorization=authorization, legal_entity=None,
                                point_of_care=None, department=None)
        department = role.unit_id if role.unit_level == "department" else None
        point_of_care = role.point_of_care_id or (role.unit_id if role.unit_level == "point_of_care" else None)
        if care.unit is not None and care.unit not in (role.unit_id, role.point_of_care_id, role.legal_entity_id):
            department = care.unit
        return Practitioner(hpr_number=account.hpr_number, authorization=authorization,
                            legal_entity=role.legal_entity_id, point_of_care=point_of_care, department=department)

    @staticmethod
    def _claims(login: _Login, care: CareContextRequest, practitioner: Practitioner,
                decision: Decision | None) -> dict[str, Any]:
        account = login.account
        basis = None
        if decision is not None:
            basis = {"decision_id": decision.decision_id, "rule": decision.rule, "reason": decision.reason,
                     "facts": dict(decision.facts)}
        claims: dict[str, Any] = {
            "name": account.display_name, "pid": account.national_id, "hpr_number": account.hpr_number,
            "idp": login.issuer, "security_level": login.security_level,
            "authorization_details": attested_details(practitioner=practitioner, request=care, care_basis=basis),
        }
        if care.patient is not None:
            claims.update(patient=care.patient, purpose_of_use=care.purpose_of_use,
                          decision_id=decision.decision_id if decision is not None else None,
                          emergency=decision.emergency if decision is not None else False)
        return {key: value for key, value in claims.items() if value is not None}

    # -- the access log ----------------------------------------------------------------------------------

    @staticmethod
    def _event(context: ExchangeContext, *, account: Account, care: CareContextRequest | None, outcome: str,
               role: Role | None = None, decision: Decision | None = None, reason: str | None = None,
               jti: str | None = None,
               practitioner: Practitioner | None = None) -> AccessEvent:
        fields: dict[str, Any] = {
            "action": ACTION, "outcome": outcome, "user_id": account.person_id,
            "user_national_id": account.national_id, "user_hpr_number": account.hpr_number,
            "user_name": account.display_name, "role": role.role if role else None,
            "legal_entity": practitioner.legal_entity if practitioner else (role.legal_entity_id if role else None),
            "point_of_care": practitioner.point_of_care if practitioner else None,
            "department": practitioner.department if practitioner else None,
            "patient": care.patient if care else None,
            "purpose_of_use": care.purpose_of_use if care else None,
            "decision_id": decision.decision_id if decision else None,
            "policy_rule": decision.rule if decision else None,
            "emergency": decision.emergency if decision else False, "reason_text": reason,
            "client_id": context.client.client_id, "token_jti": jti,
            "source_address": context.source_address, "request_id": context.request_id,
        }
        return AccessEvent(**{key: value for key, value in fields.items() if value is not None})
