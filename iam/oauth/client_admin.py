"""Admin API for the client registry (scope ``admin``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from iam.oauth.bearer import require_scope
from iam.oauth.clients import Client, disable_client, list_clients, register_client
from iam.oauth.rfc9068 import AccessTokenClaims
from iam.runtime import Runtime, get_runtime

__all__ = ["router"]

router = APIRouter(prefix="/admin/v1/clients", tags=["admin"])


class ClientCreate(BaseModel):
    """RFC 7591 §2 metadata, the parts we support."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(default_factory=list)
    grant_types: list[str] = Field(["client_credentials"], min_length=1)
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "private_key_jwt"] = (
        "client_secret_basic")  # noqa: S105 - a method name, not a secret
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = Field(None, max_length=2000)
    exchange_audiences: list[str] = Field(default_factory=list)
    dpop_bound_access_tokens: bool = False


class ClientPublic(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    grant_types: list[str]
    token_endpoint_auth_method: str
    exchange_audiences: list[str]
    dpop_bound_access_tokens: bool
    jwks_uri: str | None
    created_at: datetime
    disabled: bool

    @classmethod
    def of(cls, client: Client) -> ClientPublic:
        return cls(client_id=client.client_id, name=client.name, scopes=list(client.scopes),
                   grant_types=list(client.grant_types), token_endpoint_auth_method=client.token_endpoint_auth_method,
                   exchange_audiences=list(client.exchange_audiences),
                   dpop_bound_access_tokens=client.dpop_bound_access_tokens, jwks_uri=client.jwks_uri,
                   created_at=client.created_at, disabled=client.disabled)


class ClientCreated(ClientPublic):
    client_secret: str | None = Field(description="Shown once; none for private_key_jwt clients.")


@router.get("", summary="List registered clients")
def get_clients(
    _: AccessTokenClaims = Depends(require_scope("admin")), runtime: Runtime = Depends(get_runtime)
) -> list[ClientPublic]:
    with runtime.sessions() as session:
        return [ClientPublic.of(client) for client in list_clients(session)]


@router.post("", status_code=201, summary="Register a client; a secret is shown once")
def create_client(
    body: ClientCreate,
    _: AccessTokenClaims = Depends(require_scope("admin")),
    runtime: Runtime = Depends(get_runtime),
) -> ClientCreated:
    with runtime.sessions.begin() as session:
        created = register_client(
            session, name=body.name, scopes=body.scopes, grant_types=body.grant_types,
            token_endpoint_auth_method=body.token_endpoint_auth_method, jwks=body.jwks, jwks_uri=body.jwks_uri,
            exchange_audiences=body.exchange_audiences, dpop_bound_access_tokens=body.dpop_bound_access_tokens,
            publish=runtime.oauth.publish)
    public = ClientPublic.of(created.client)
    return ClientCreated(**public.model_dump(), client_secret=created.client_secret)


@router.post("/{client_id}/disable", summary="Disable a client; its tokens stop working on every node")
def disable(
    client_id: str,
    _: AccessTokenClaims = Depends(require_scope("admin")),
    runtime: Runtime = Depends(get_runtime),
) -> ClientPublic:
    with runtime.sessions.begin() as session:
        client = disable_client(session, client_id, publish=runtime.oauth.publish)
    # This node forgets the client at once; the others when the notice reaches them.
    runtime.oauth.clients.on_notice(client_id)
    return ClientPublic.of(client)
