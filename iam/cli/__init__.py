"""The ``iam`` command line. Each area adds its commands here; errors print one line, never a traceback.

Exit codes: 0 success, 1 the work failed (database unreachable, bad input file, port in use), 2 bad usage or
settings, 3 ``iam serve``: a server process failed to start (uvicorn's start-up failure status).
"""

from __future__ import annotations

from typing import Any

import click

from iam import __version__
from iam.config import ConfigError
from iam.db.engine import DatabaseError
from iam.errors import APIError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns our own exceptions into one clear line and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except (DatabaseError, APIError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iam")
def cli() -> None:
    """IAM for a shared regional patient record.

    \b
    Example:
      iam demo                 # generate a demo region, load it and serve it
      iam serve --port 8000    # serve with settings from IAM_* variables
    """


def _register() -> None:
    from iam.cli import clients, database, demo, serve
    from iam.region.cli import region_cli

    cli.add_command(serve.serve)
    cli.add_command(demo.demo)
    cli.add_command(database.db)
    cli.add_command(clients.client)
    cli.add_command(region_cli)

    from iam.oauth import cli as oauth_cli

    cli.add_command(oauth_cli.keys)
    clients.client.add_command(oauth_cli.client_register)
    clients.client.add_command(oauth_cli.client_disable)

    from provisioning.ldap.cli import ldap

    cli.add_command(ldap)

    from audit.cli import audit_cli

    cli.add_command(audit_cli)

    from iam.authz.cli import policy

    cli.add_command(policy)

    from provisioning import cli as provisioning_cli

    for group in (provisioning_cli.hr, provisioning_cli.org, provisioning_cli.hpr, provisioning_cli.provisioning):
        cli.add_command(group)


_register()


def main() -> None:
    cli.main(prog_name="iam")


if __name__ == "__main__":  # pragma: no cover
    main()
