"""``iam serve``: run the HTTP service."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys

import click
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from iam.cli.options import database_option, settings_from
from iam.config import Settings
from iam.http import listener
from iam.http.protocol import CoalescingHttpToolsProtocol
from iam.logs import configure_logging
from iam.runtime import Runtime, start_audit_maintenance

__all__ = ["run_server", "serve"]
_log = logging.getLogger("iam.serve")


def run_server(settings: Settings, *, workers: int) -> None:
    """Migrate and create keys once, then start ``workers`` server processes sharing the database."""
    # The port first: a server that cannot have it must not migrate the database or start maintenance.
    reserved = _reserve(settings) if workers > 1 and listener.supported() else None
    Runtime.start(settings).close()
    # Worker processes rebuild settings from the environment, so pass on what the command line set.
    os.environ["IAM_DATABASE_URL"] = settings.database_url
    os.environ["IAM_ISSUER"] = settings.issuer_url
    os.environ["IAM_MIGRATE_ON_START"] = "false"
    os.environ["IAM_DEMO"] = "true" if settings.demo else "false"
    configure_logging(settings.log_level)
    if reserved is not None:
        _log.info("each worker listens on the port", extra={"host": settings.host, "port": settings.port})
    # With several workers the supervising process, otherwise idle, indexes the access log and signs its
    # checkpoints; one worker runs them itself.
    supervised = workers > 1 and settings.audit_maintenance
    os.environ["IAM_AUDIT_MAINTENANCE"] = "true" if settings.audit_maintenance and not supervised else "false"
    stop_maintenance = start_audit_maintenance(settings) if supervised else None
    config = uvicorn.Config("iam.asgi:app_from_environment", factory=True, host=settings.host, port=settings.port,
                            workers=workers, log_config=None, access_log=False, server_header=False,
                            http=CoalescingHttpToolsProtocol)
    try:
        # uvicorn re-raises a Ctrl-C once it has shut down; as with uvicorn.run, that is a normal end.
        started = True
        with contextlib.suppress(KeyboardInterrupt):
            if workers > 1:
                supervisor = Multiprocess(config, sockets=[reserved or config.bind_socket()])
                supervisor.run()
                started = all(process.exitcode != STARTUP_FAILURE for process in supervisor.processes)
            else:
                server = uvicorn.Server(config)
                server.run()
                started = server.started
        if not started:
            sys.exit(STARTUP_FAILURE)
    finally:
        if stop_maintenance is not None:
            # uvicorn's handlers only queue signals, and nobody reads the queue now: let a second Ctrl-C or
            # SIGTERM stop the process during the last index run and checkpoint.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            stop_maintenance()


def _reserve(settings: Settings) -> listener.ReservedPort:
    try:
        reserved = listener.ReservedPort.reserve(settings.host, settings.port)
    except OSError as exc:
        click.echo(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    return reserved


@click.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes; use one per core for throughput.")
@database_option
def serve(host: str | None, port: int | None, workers: int, database_url: str | None) -> None:
    """Serve the API. Migrations run first; with no settings it uses SQLite under ./var/.

    \b
    Example:
      IAM_DATABASE_URL=postgresql+psycopg://localhost/iam iam serve --port 8000 --workers 2
    """
    settings = settings_from(host=host, port=port, database_url=database_url)
    if "issuer" not in settings.model_fields_set:
        # Unless configured, the issuer is where we listen, so discovery documents point back to us.
        settings = settings_from(host=host, port=port, database_url=database_url,
                                 issuer=f"http://{settings.host}:{settings.port}")
    run_server(settings, workers=workers)
