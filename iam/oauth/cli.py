"""``iam keys`` (signing key rotation) and the authorization server's ``iam client`` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from iam.cli.options import database_option, settings_from
from iam.oauth.clients import AUTH_METHODS, disable_client, register_client
from iam.oauth.server import KEYS_CHANNEL
from iam.runtime import Runtime

__all__ = ["client_disable", "client_register", "keys"]


@contextmanager
def _runtime(database_url: str | None) -> Iterator[Runtime]:
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        yield runtime
    finally:
        runtime.close()


@click.group()
def keys() -> None:
    """Signing keys of the access tokens (published at /oauth2/jwks)."""


@keys.command("rotate")
@click.option("--alg", type=click.Choice(["ES256", "RS256", "EdDSA"]), default="ES256", show_default=True,
              help="Algorithm of the new key.")
@click.option("--activate-in", "activate_in", type=click.IntRange(0, 86_400), default=120, show_default=True,
              metavar="SECONDS",
              help="Publish now, sign from this many seconds on; at least the JWKS cache time (60 s) so "
                   "resource servers hold the key before the first token it signs.")
@database_option
def rotate(alg: str, activate_in: int, database_url: str | None) -> None:
    """Introduce a new signing key; the old ones stay published until their last tokens have expired.

    Every node sharing the database reloads its keys when the rotation commits.

    \b
    Example:
      iam keys rotate --alg EdDSA --activate-in 300
    """
    with _runtime(database_url) as runtime:
        info = runtime.keys.rotate(alg=alg, activate_in=timedelta(seconds=activate_in),
                                   publish=lambda session: runtime.bus.publish(session, KEYS_CHANNEL, "rotate"))
    click.echo(json.dumps({"kid": info.kid, "alg": info.alg, "active_from": info.active_from.isoformat()}))


@keys.command("list")
@database_option
def list_keys(database_url: str | None) -> None:
    """List signing keys with when each signs and until when it is published.

    \b
    Example:
      iam keys list
    """
    with _runtime(database_url) as runtime:
        for info in runtime.keys.describe():
            retire = info.retire_at.isoformat() if info.retire_at else "-"
            click.echo(f"{info.kid}  {info.alg:6} signs from {info.active_from.isoformat()}  retires {retire}")


@click.command("register")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, help="A scope to grant; repeat for more.")
@click.option("--grant-type", "grant_types", multiple=True, default=("client_credentials",), show_default=True,
              help="client_credentials or token-exchange; repeat for both.")
@click.option("--auth-method", type=click.Choice(list(AUTH_METHODS)), default="client_secret_basic",
              show_default=True, help="How the client authenticates at the token endpoint.")
@click.option("--jwks-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="private_key_jwt: a JWK Set file with the client's public keys.")
@click.option("--jwks-uri", help="private_key_jwt: where the client publishes its public keys.")
@click.option("--audience", "audiences", multiple=True,
              help="token-exchange: an audience the client may obtain tokens for; repeat for more.")
@click.option("--dpop-bound", is_flag=True, help="Every token of this client must be DPoP-bound (RFC 9449).")
@database_option
def client_register(name: str, scopes: tuple[str, ...], grant_types: tuple[str, ...], auth_method: str,
                    jwks_file: Path | None, jwks_uri: str | None, audiences: tuple[str, ...], dpop_bound: bool,
                    database_url: str | None) -> None:
    """Register a client with full metadata and print it as JSON (a secret is shown once).

    \b
    Example:
      iam client register journal --grant-type token-exchange --auth-method private_key_jwt \\
          --jwks-file journal-jwks.json --audience https://journal.region.example
    """
    jwks: dict[str, Any] | None = None
    if jwks_file is not None:
        try:
            jwks = json.loads(jwks_file.read_text())
        except ValueError:
            raise click.BadParameter(f"'{jwks_file}' is not JSON", param_hint="--jwks-file") from None
    with _runtime(database_url) as runtime, runtime.sessions.begin() as session:
        created = register_client(session, name=name, scopes=list(scopes), grant_types=list(grant_types),
                                  token_endpoint_auth_method=auth_method, jwks=jwks, jwks_uri=jwks_uri,
                                  exchange_audiences=list(audiences), dpop_bound_access_tokens=dpop_bound,
                                  publish=runtime.bus.publish)
    client = created.client
    click.echo(json.dumps({"client_id": client.client_id, "client_secret": created.client_secret,
                           "scopes": list(client.scopes), "grant_types": list(client.grant_types),
                           "token_endpoint_auth_method": client.token_endpoint_auth_method,
                           "exchange_audiences": list(client.exchange_audiences)}))


@click.command("disable")
@click.argument("client_id")
@database_option
def client_disable(client_id: str, database_url: str | None) -> None:
    """Disable a client: it cannot authenticate, and its tokens are refused on every node at once.

    \b
    Example:
      iam client disable 9f2c41...
      iam client disable -- -Qe3xYz...   (an older id that begins with "-")
    """
    with _runtime(database_url) as runtime, runtime.sessions.begin() as session:
        disable_client(session, client_id, publish=runtime.bus.publish)
    click.echo(f"client {client_id} disabled")
