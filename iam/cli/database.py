"""``iam db``: schema migrations."""

from __future__ import annotations

import click

from iam.cli.options import database_option, settings_from
from iam.db import make_engine, upgrade

__all__ = ["db"]


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@database_option
def upgrade_command(database_url: str | None) -> None:
    """Apply every pending migration.

    \b
    Example:
      iam db upgrade --database-url postgresql+psycopg://localhost/iam
    """
    settings = settings_from(database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} is up to date", err=True)
