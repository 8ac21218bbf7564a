"""``iam audit``: verify, prove, search, export, checkpoint and retain (thin adapters over ``audit``).

Exit codes follow the rest of ``iam``: 0 done (``verify``: the log is intact), 1 the work failed
(``verify``: tampering found), 2 bad usage. Machine-readable output goes to stdout, progress to stderr.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
from sqlalchemy.orm import Session

from audit.proofs import build_proof
from audit.query import SearchFilters, events_page, iter_events
from audit.retention import apply_retention
from audit.siem import json_line, syslog_line
from audit.verify import Report, verify_log
from iam.cli.options import database_option, settings_from
from iam.cli.progress import ProgressBars
from iam.db import make_engine
from iam.runtime import Runtime

__all__ = ["audit_cli"]


class _Time(click.ParamType):  # type: ignore[type-arg]
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not a date or time; expected e.g. 2024-05-01 or 2024-05-01T12:00:00Z", param, ctx)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


TIME = _Time()


@click.group("audit")
def audit_cli() -> None:
    """The access log: verify it, prove an event, search, export to a SIEM, checkpoint, retain."""


def _print_report(report: Report) -> None:
    click.echo(f"events checked: {report.events} (seq {report.first_seq or '-'} to {report.last_seq or '-'})")
    if report.retention_cut:
        click.echo(f"retention cut: events up to seq {report.retention_cut} were deleted under the policy")
    click.echo(f"checkpoints: {report.checkpoints}")
    if report.ok:
        click.echo("OK: the hash chain and every checkpoint verify")
        return
    click.echo(f"TAMPERED: {len(report.problems)} problem(s); the first:")
    for problem in report.problems:
        click.echo(f"  [{problem.kind}] {problem.message}")


@audit_cli.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check against a checkpoint kept outside the database (JSON from 'iam audit checkpoint').")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Processes checking ranges in parallel; 0: one per core for logs over 500,000 events.")
@database_option
def verify(checkpoint_file: Path | None, as_json: bool, workers: int, database_url: str | None) -> None:
    """Check the whole hash chain and every signed checkpoint; exit 1 and name the first problem if not intact.

    \b
    Example:
      iam audit verify --checkpoint /secure/last-checkpoint.json
    """
    settings = settings_from(database_url=database_url)
    engine = make_engine(settings.database_url)
    external = [json.loads(checkpoint_file.read_text())] if checkpoint_file else []
    try:
        with ProgressBars("verify") as bars:
            report = verify_log(engine, external_checkpoints=external, workers=workers or None,
                                progress=lambda done, total: bars.update("events", done, total))
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report)
    sys.exit(0 if report.ok else 1)


@audit_cli.command("prove")
@click.argument("event_id")
@database_option
def prove(event_id: str, database_url: str | None) -> None:
    """Print an RFC 9162 inclusion proof of EVENT_ID under a signed checkpoint (JSON).

    \b
    Example:
      iam audit prove 6f1c3b7e-1d2a-4f5e-9a8b-7c6d5e4f3a2b > proof.json
    """
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        assert runtime.audit.checkpointer is not None
        with runtime.sessions() as session:
            document = build_proof(session, runtime.audit.checkpointer, event_id)
    finally:
        runtime.close()
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@audit_cli.command("checkpoint")
@database_option
def checkpoint(database_url: str | None) -> None:
    """Sign a checkpoint over the log now and print it (keep a copy outside the database).

    \b
    Example:
      iam audit checkpoint > /secure/checkpoint-$(date +%F).json
    """
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        assert runtime.audit.checkpointer is not None
        runtime.audit.flush()
        created = runtime.audit.checkpointer.create(force=True)
    finally:
        runtime.close()
    assert created is not None
    click.echo(json.dumps(created.to_json(), indent=2))


def _filters(patient: str | None, user: str | None, unit: str | None, start: datetime | None,
             end: datetime | None, emergency: bool | None, outcome: str | None, kind: str | None) -> SearchFilters:
    return SearchFilters(patient=patient, user=user, unit=unit, start=start, end=end, emergency=emergency,
                         outcome=outcome, kind=kind)


@audit_cli.command("search")
@click.option("--patient", help="Patient national id.")
@click.option("--user", help="Internal person id of the user.")
@click.option("--unit", help="Department (unit) id.")
@click.option("--from", "start", type=TIME, help="Occurred at or after (UTC if no zone).")
@click.option("--to", "end", type=TIME, help="Occurred at or before (UTC if no zone).")
@click.option("--emergency/--no-emergency", default=None, help="Only emergency (or only normal) access.")
@click.option("--outcome", type=click.Choice(["permit", "deny", "error"]))
@click.option("--kind", type=click.Choice(["access", "admin"]))
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--cursor", help="next_cursor printed by a previous search.")
@database_option
def search(patient: str | None, user: str | None, unit: str | None, start: datetime | None,
           end: datetime | None, emergency: bool | None, outcome: str | None, kind: str | None, limit: int,
           cursor: str | None, database_url: str | None) -> None:
    """Search the log, newest first: one JSON line per event; the next cursor goes to stderr.

    \b
    Example:
      iam audit search --patient 01020312345 --from 2024-01-01 --outcome deny
    """
    settings = settings_from(database_url=database_url)
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            page = events_page(session, _filters(patient, user, unit, start, end, emergency, outcome, kind),
                               limit=limit, cursor=cursor)
    finally:
        engine.dispose()
    for event in page.events:
        click.echo(json_line(event))
    if page.next_cursor:
        click.echo(f"next cursor: {page.next_cursor}", err=True)


@audit_cli.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "syslog"]), default="jsonl", show_default=True)
@click.option("--since", type=TIME, help="Events that occurred at or after this time (UTC if no zone).")
@click.option("--until", type=TIME, help="Events that occurred at or before this time.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.option("--hostname", default=None, help="HOSTNAME field of syslog lines (default: this host).")
@database_option
def export(fmt: str, since: datetime | None, until: datetime | None, output: Path | None, hostname: str | None,
           database_url: str | None) -> None:
    """Stream events, oldest first, to a SIEM as JSON lines or RFC 5424 syslog lines.

    \b
    Example:
      iam audit export --format syslog --since 2024-05-01T00:00:00Z | logger --rfc5424 -n siem.example
    """
    settings = settings_from(database_url=database_url)
    engine = make_engine(settings.database_url)
    host = hostname or socket.gethostname()

    def lines(session: Session) -> Iterator[str]:
        for event in iter_events(session, SearchFilters(start=since, end=until), oldest_first=True):
            yield (json_line(event) if fmt == "jsonl" else syslog_line(event, hostname=host)) + "\n"

    def write(target: IO[str]) -> int:
        count = 0
        with Session(engine) as session:
            for line in lines(session):
                target.write(line)
                count += 1
        return count

    try:
        if output is None:
            written = write(sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as handle:
                written = write(handle)
    finally:
        engine.dispose()
    click.echo(f"exported {written} events", err=True)


@audit_cli.command("retain")
@click.option("--before", type=TIME, required=True, help="Delete events appended before this time.")
@click.option("--yes", is_flag=True, help="Confirm the deletion.")
@database_option
def retain(before: datetime, yes: bool, database_url: str | None) -> None:
    """Delete old events under the retention policy, leaving a signed anchor so the log stays verifiable.

    \b
    Example:
      iam audit retain --before 2014-01-01 --yes
    """
    if not yes:
        raise click.UsageError("retention deletes events for good; add --yes to confirm")
    runtime = Runtime.start(settings_from(database_url=database_url))
    try:
        result = apply_retention(runtime.audit, runtime.keys, before=before, actor="cli")
    finally:
        runtime.close()
    if result is None:
        click.echo(json.dumps({"deleted": 0}))
        return
    click.echo(json.dumps({"deleted": result.deleted, "cut_seq": result.cut_seq,
                           "checkpoint_id": result.checkpoint_id, "anchor_id": result.anchor_id}))
