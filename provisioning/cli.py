"""``iam hr``, ``iam org``, ``iam hpr`` and ``iam provisioning``: the provisioning command line.

Exit codes: 0 done (or a dry run), 1 the input was refused (bad rows, unreadable file: nothing applied) or
the database failed, 2 bad usage. Problems go to stderr, one per line as ``file:line: field: reason``;
the plan summary goes to stdout.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Literal, TypeVar

import click

from iam.cli.options import database_option, settings_from
from iam.cli.progress import ProgressBars
from iam.db.base import utc_now
from iam.runtime import Runtime
from provisioning.clock import hr_date
from provisioning.feed import Problem
from provisioning.hpr import check_licences, register_from_source
from provisioning.hrfile import FeedFileError
from provisioning.imports import InvalidFeed, import_hr_file
from provisioning.lifecycle import run_tick
from provisioning.orgs import apply_organisations, plan_organisations, read_organisations
from provisioning.plan import Plan
from provisioning.region_loader import load_region
from provisioning.rules import RulesError, configured_rules

__all__ = ["hpr", "hr", "org", "provisioning"]

T = TypeVar("T")
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _fail(problems: list[Problem], message: str) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


@contextmanager
def _runtime(database_url: str | None) -> Iterator[Runtime]:
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        yield runtime
    except FeedFileError as exc:
        _fail(exc.problems, "the file was refused; nothing applied")
    except InvalidFeed as exc:
        _fail(exc.problems, exc.message)
    except RulesError as exc:
        _fail([], str(exc))
    finally:
        runtime.close()


def _show(plan: Plan, *, verbose: bool) -> None:
    click.echo(plan.summary())
    if verbose:
        for line in plan.details():
            click.echo(f"  {line}")


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not an ISO 8601 date-time", param_hint="--at") from None
    if parsed.tzinfo is None:
        raise click.BadParameter(f"'{value}' has no time zone, e.g. 2026-12-01T06:00:00+01:00", param_hint="--at")
    return parsed


def _verbose(func: Callable[..., T]) -> Callable[..., T]:
    return click.option("--verbose", "-v", is_flag=True, help="List every change, not only the summary.")(func)


@click.group()
def hr() -> None:
    """HR feeds: the source of who works where."""


@hr.command("import")
@click.argument("file", type=EXISTING_FILE)
@click.option("--mode", type=click.Choice(["snapshot", "delta"]), default="snapshot", show_default=True,
              help="snapshot: the file lists all staff, everyone else leaves; delta: only the people listed change.")
@click.option("--dry-run", is_flag=True, help="Show the plan and stop; nothing is applied.")
@click.option("--skip-invalid", is_flag=True, help="Apply the good rows; write the bad ones to --rejects.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --skip-invalid writes rejected rows (same format, plus the reasons).")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="HR date to apply dates against (default today).")
@click.option("--max-leavers", type=click.IntRange(0), metavar="N",
              help="Allow a snapshot to make up to N people leavers (default: 10 % of accounts, at least 10).")
@_verbose
@database_option
def import_feed(file: Path, mode: Literal["snapshot", "delta"], dry_run: bool, skip_invalid: bool,
                rejects: Path | None, today: datetime | None, max_leavers: int | None, verbose: bool,
                database_url: str | None) -> None:
    """Import an HR feed (hr_staff.csv or hr_staff.json): plan, show the summary, apply in one transaction.

    Every bad row is reported as file:line: field: reason. By default one bad row means nothing is applied.
    Importing the same file again says "no changes".

    \b
    Example:
      iam hr import var/demo-region/hr_staff.csv --dry-run
      iam hr import feed.json --mode delta --skip-invalid --rejects rejected.json
    """
    if skip_invalid and rejects is None:
        raise click.UsageError("--skip-invalid needs --rejects FILE, so that no rejected row is lost")
    with _runtime(database_url) as runtime, ProgressBars("hr import") as bars:
        report = import_hr_file(
            runtime.sessions, file, mode=mode, actor=_actor(), dry_run=dry_run, skip_invalid=skip_invalid,
            rejects=rejects, today=today.date() if today else None,
            rules=configured_rules(runtime.settings.role_rules_file), bus=runtime.bus, progress=bars.update,
            max_leavers=max_leavers)
    for problem in report.problems:
        click.echo(str(problem), err=True)
    _show(report.plan, verbose=verbose)
    if report.rejected_lines and rejects is not None and not dry_run:
        click.echo(f"{len(report.rejected_lines)} rejected rows written to {rejects}")
    if dry_run:
        click.echo("dry run: nothing applied")


@click.group()
def org() -> None:
    """The organisation register (legal entity -> point of care -> department)."""


@org.command("import")
@click.argument("file", type=EXISTING_FILE)
@click.option("--dry-run", is_flag=True, help="Show what would change and stop.")
@database_option
def import_organisations(file: Path, dry_run: bool, database_url: str | None) -> None:
    """Import the complete organisation register (organisations.csv); units not in it are closed.

    \b
    Example:
      iam org import var/demo-region/organisations.csv
    """
    with _runtime(database_url) as runtime, runtime.sessions() as session:
        plan = plan_organisations(session, read_organisations(file))
        click.echo(plan.summary())
        if dry_run:
            click.echo("dry run: nothing applied")
            return
        apply_organisations(session, plan, actor=_actor(), bus=runtime.bus, details={"file": file.name})
        session.commit()


@click.group()
def hpr() -> None:
    """Licence checks against the health personnel register (HPR)."""


@hpr.command("check")
@click.option("--source", help="HPR extract file (default: IAM_HPR_SOURCE).")
@_verbose
@database_option
def check(source: str | None, verbose: bool, database_url: str | None) -> None:
    """Refresh every person's HPR authorisations and suspend or restore the roles that need them.

    \b
    Example:
      iam hpr check --source var/demo-region/hpr.csv
    """
    with _runtime(database_url) as runtime:
        chosen = source or runtime.settings.hpr_source
        if chosen is None:
            raise click.UsageError("no HPR register: give --source FILE or set IAM_HPR_SOURCE")
        with runtime.sessions.begin() as session:
            sync, plan, _ = check_licences(session, register_from_source(chosen), actor=_actor(),
                                           rules=configured_rules(runtime.settings.role_rules_file),
                                           bus=runtime.bus)
    click.echo(f"HPR licences: {sync.added} added, {sync.changed} changed, {sync.removed} removed")
    _show(plan, verbose=verbose)


@click.group()
def provisioning() -> None:
    """Date-driven lifecycle and bulk loading."""


@provisioning.command("tick")
@click.option("--at", "at_text", metavar="DATETIME", help="Pretend it is this moment (ISO 8601 with zone).")
@_verbose
@database_option
def tick(at_text: str | None, verbose: bool, database_url: str | None) -> None:
    """Apply date-driven changes now: activate joiners, disable leavers, end grace periods, expire licences.

    `iam serve` does this every IAM_PROVISIONING_TICK_SECONDS (default 60).

    \b
    Example:
      iam provisioning tick
    """
    at = _parse_at(at_text)
    with _runtime(database_url) as runtime, runtime.sessions.begin() as session:
        result = run_tick(session, at=at, rules=configured_rules(runtime.settings.role_rules_file),
                          bus=runtime.bus, actor=_actor())
    if not result.ran:
        click.echo("another tick is running; skipped")
        return
    assert result.plan is not None
    _show(result.plan, verbose=verbose)
    if result.announced:
        click.echo(f"announced {result.announced} people whose grants started or ended by date")


@provisioning.command("load-region")
@click.argument("region_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="HR date to apply dates against (default today).")
@database_option
def load(region_dir: Path, today: datetime | None, database_url: str | None) -> None:
    """Load a generated region's organisations, HPR extract and HR feed in one transaction.

    \b
    Example:
      iam region generate --out var/region --scale 0.01 && iam provisioning load-region var/region
    """
    day: date | None = today.date() if today else None
    with _runtime(database_url) as runtime, ProgressBars("loading region") as bars:
        loaded = load_region(runtime, region_dir, progress=bars.update, today=day, actor=_actor())
    click.echo(loaded.summary())
    click.echo(f"as of {(day or hr_date(utc_now())).isoformat()}")
