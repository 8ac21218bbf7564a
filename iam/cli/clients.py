"""``iam client``: register OAuth clients."""

from __future__ import annotations

import json

import click

from iam.cli.options import database_option, settings_from
from iam.oauth.clients import register_client
from iam.oauth.scopes import SCOPES
from iam.runtime import Runtime

__all__ = ["client"]


@click.group()
def client() -> None:
    """OAuth client registry."""


@client.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True, help="A scope to grant; repeat for more.")
@database_option
def create(name: str, scopes: tuple[str, ...], database_url: str | None) -> None:
    """Register a client and print its client_id and client_secret as JSON (the secret is shown once).

    \b
    Example:
      iam client create journal --scope authz --scope audit:write
    """
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        with runtime.sessions.begin() as session:
            created = register_client(session, name=name, scopes=list(scopes))
    finally:
        runtime.close()
    click.echo(json.dumps({"client_id": created.client.client_id, "client_secret": created.client_secret,
                           "scopes": list(created.client.scopes)}))


@client.command("scopes")
def scopes() -> None:
    """List the scopes a client can be given.

    \b
    Example:
      iam client scopes
    """
    for name, description in SCOPES.items():
        click.echo(f"{name:16} {description}")
