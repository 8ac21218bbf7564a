"""``iam ldap sync``: pull people from an LDAP directory (see ``provisioning/ldap/README.md``).

Exit codes: 0 applied (or dry run) with no rejected entries; 1 the directory failed, or some entries were
rejected (the rest were applied); 2 the config file or settings are invalid.
"""

from __future__ import annotations

from pathlib import Path

import click

from iam.cli.options import database_option, settings_from
from iam.cli.progress import ProgressBars
from iam.db import make_engine, make_session_factory, upgrade
from provisioning.ldap.config import LdapConfigError, load_config
from provisioning.ldap.directory import DirectoryError
from provisioning.ldap.sync import sync_directory

__all__ = ["ldap"]


@click.group()
def ldap() -> None:
    """LDAP directory sync (OpenLDAP, Active Directory) through the provisioning engine."""


@ldap.command("sync")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="YAML file: connection, search and attribute mapping (provisioning/ldap/README.md).")
@click.option("--full", is_flag=True, help="Read every entry and make people missing from the directory leavers.")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@database_option
@click.pass_context
def sync_command(ctx: click.Context, config_path: Path, full: bool, dry_run: bool, database_url: str | None) -> None:
    """Sync people from an LDAP directory: incremental by modifyTimestamp/uSNChanged, --full finds deletions.

    \b
    Example:
      IAM_LDAP_PASSWORD=... iam ldap sync --config /etc/iam/ldap.yaml --dry-run
      iam ldap sync --config /etc/iam/ldap.yaml --full
    """
    try:
        config = load_config(config_path)
    except LdapConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    settings = settings_from(database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        if settings.migrate_on_start:
            upgrade(engine)
        with ProgressBars("ldap sync") as bars:
            report = sync_directory(make_session_factory(engine), config, full=full, dry_run=dry_run,
                                    actor="iam ldap sync", progress=bars.update)
    except LdapConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    except DirectoryError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(1)
    finally:
        engine.dispose()
    click.echo(report.summary())
    if report.problems:
        ctx.exit(1)
