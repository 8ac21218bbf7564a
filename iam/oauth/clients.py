"""The client registry: register, list, load and disable OAuth clients. Secrets are stored hashed.

Storage functions here never commit; the caller owns the transaction. A change to a client publishes a
notice on the change bus channel ``clients`` (payload: the client_id) in that same transaction, so every
node drops its cached copy once the change commits (see :mod:`iam.oauth.client_auth`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iam.db.base import utc_now
from iam.errors import APIError, NotFound
from iam.oauth.client_secrets import hash_secret, new_secret
from iam.oauth.models import ClientRow
from iam.oauth.rfc7523 import keys_from_jwks
from iam.oauth.rfc8693 import GRANT_TYPE as TOKEN_EXCHANGE
from iam.oauth.scopes import unknown_scopes

__all__ = [
    "AUTH_METHODS",
    "CLIENTS_CHANNEL",
    "GRANT_TYPES",
    "Client",
    "ClientRecord",
    "InvalidClientMetadata",
    "NewClient",
    "disable_client",
    "list_clients",
    "load_client",
    "new_client_id",
    "register_client",
]

CLIENTS_CHANNEL = "clients"
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
GRANT_TYPES = ("client_credentials", TOKEN_EXCHANGE)
# Short names accepted on the command line and in the admin API.
GRANT_ALIASES = {"token-exchange": TOKEN_EXCHANGE, "token_exchange": TOKEN_EXCHANGE}

Publish = Callable[[Session, str, str], None]


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    token_endpoint_auth_method: str
    created_at: datetime
    disabled: bool
    exchange_audiences: tuple[str, ...] = ()
    dpop_bound_access_tokens: bool = False
    jwks_uri: str | None = None


@dataclass(frozen=True)
class ClientRecord:
    """A client with what authenticating it needs; stays inside iam.oauth."""

    client: Client
    secret_hash: str | None
    jwks: dict[str, Any] | None


@dataclass(frozen=True)
class NewClient:
    client: Client
    client_secret: str | None  # shown once, never stored; None for private_key_jwt clients


class InvalidClientMetadata(APIError):
    """RFC 7591 §3.2.2 wire code, used for bad registrations from the CLI and the admin API."""

    code = "invalid_client_metadata"


def _record(row: ClientRow) -> ClientRecord:
    client = Client(
        client_id=row.client_id,
        name=row.name,
        scopes=tuple(row.scopes.split()),
        grant_types=tuple(row.grant_types.split()),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        created_at=row.created_at,
        disabled=row.disabled_at is not None,
        exchange_audiences=tuple(row.exchange_audiences.split()),
        dpop_bound_access_tokens=row.dpop_bound_access_tokens,
        jwks_uri=row.jwks_uri,
    )
    return ClientRecord(client=client, secret_hash=row.secret_hash,
                        jwks=json.loads(row.jwks) if row.jwks else None)


def _check_metadata(*, name: str, scopes: Sequence[str], grant_types: Sequence[str], auth_method: str,
                    jwks: dict[str, Any] | None, jwks_uri: str | None, exchange_audiences: Sequence[str]) -> None:
    if not name.strip():
        raise InvalidClientMetadata("client name must not be empty")
    if not scopes and TOKEN_EXCHANGE not in grant_types:
        raise InvalidClientMetadata("give the client at least one scope")
    unknown = unknown_scopes(list(scopes))
    if unknown:
        raise InvalidClientMetadata(f"scope '{unknown[0]}' is not a known scope (see 'iam client scopes')")
    for grant in grant_types:
        if grant not in GRANT_TYPES:
            raise InvalidClientMetadata(f"grant type '{grant}' is not supported; expected one of "
                                        f"{', '.join(GRANT_TYPES)} (or token-exchange)")
    if auth_method not in AUTH_METHODS:
        raise InvalidClientMetadata(f"token_endpoint_auth_method '{auth_method}' is not supported; expected "
                                    f"one of {', '.join(AUTH_METHODS)}")
    if auth_method == "private_key_jwt":
        if (jwks is None) == (jwks_uri is None):
            raise InvalidClientMetadata("a private_key_jwt client needs its public keys: give jwks or jwks_uri, "
                                        "not both")
        if jwks is not None and not keys_from_jwks(jwks):
            raise InvalidClientMetadata("jwks holds no usable public signing key")
        if jwks_uri is not None and not jwks_uri.startswith(("https://", "http://")):
            raise InvalidClientMetadata(f"jwks_uri '{jwks_uri}' is not an http(s) URL")
    elif jwks is not None or jwks_uri is not None:
        raise InvalidClientMetadata(f"jwks and jwks_uri belong to private_key_jwt clients, not {auth_method}")
    if exchange_audiences and TOKEN_EXCHANGE not in grant_types:
        raise InvalidClientMetadata("exchange audiences need the token-exchange grant type")


def new_client_id() -> str:
    """128 random bits in hex: an id that starts with "-" would read as an option to `iam client disable`."""
    return secrets.token_hex(16)


def register_client(
    session: Session,
    *,
    name: str,
    scopes: Sequence[str],
    grant_types: Sequence[str] | None = None,
    token_endpoint_auth_method: str = "client_secret_basic",  # noqa: S107 - a method name, not a secret
    jwks: dict[str, Any] | None = None,
    jwks_uri: str | None = None,
    exchange_audiences: Sequence[str] = (),
    dpop_bound_access_tokens: bool = False,
    publish: Publish | None = None,
) -> NewClient:
    """Register a confidential client; raise InvalidClientMetadata naming the bad field.

    Secret clients get a generated secret (returned once); private_key_jwt clients get none.
    """
    grants = [GRANT_ALIASES.get(grant, grant) for grant in (grant_types or ["client_credentials"])]
    _check_metadata(name=name, scopes=scopes, grant_types=grants, auth_method=token_endpoint_auth_method,
                    jwks=jwks, jwks_uri=jwks_uri, exchange_audiences=exchange_audiences)
    secret = new_secret() if token_endpoint_auth_method in SECRET_METHODS else None
    row = ClientRow(
        client_id=new_client_id(),
        name=name.strip(),
        secret_hash=hash_secret(secret) if secret is not None else None,
        scopes=" ".join(sorted(set(scopes))),
        grant_types=" ".join(dict.fromkeys(grants)),
        token_endpoint_auth_method=token_endpoint_auth_method,
        jwks=json.dumps(jwks) if jwks is not None else None,
        jwks_uri=jwks_uri,
        exchange_audiences=" ".join(dict.fromkeys(exchange_audiences)),
        dpop_bound_access_tokens=dpop_bound_access_tokens,
    )
    session.add(row)
    session.flush()
    if publish is not None:
        publish(session, CLIENTS_CHANNEL, row.client_id)
    return NewClient(client=_record(row).client, client_secret=secret)


def list_clients(session: Session) -> list[Client]:
    rows = session.scalars(select(ClientRow).order_by(ClientRow.created_at, ClientRow.client_id))
    return [_record(row).client for row in rows]


def load_client(session: Session, client_id: str) -> ClientRecord | None:
    row = session.get(ClientRow, client_id)
    return None if row is None else _record(row)


def disable_client(session: Session, client_id: str, *, publish: Publish | None = None) -> Client:
    """Disable a client: it can no longer authenticate, and its tokens are reported inactive."""
    row = session.get(ClientRow, client_id)
    if row is None:
        raise NotFound(f"client '{client_id}' is not registered")
    if row.disabled_at is None:
        row.disabled_at = utc_now()
        session.flush()
    if publish is not None:
        publish(session, CLIENTS_CHANNEL, client_id)
    return _record(row).client
