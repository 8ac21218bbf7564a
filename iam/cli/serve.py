"""``iam serve``: run the HTTP service."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from typing import Any

import click
import uvicorn
from uvicorn.supervisors import Multiprocess

from iam.cli.options import database_option, settings_from
from iam.config import Settings
from iam.http.protocol import CoalescingHttpToolsProtocol
from iam.logs import configure_logging
from iam.runtime import Runtime, start_audit_maintenance

__all__ = ["run_server", "serve"]
_log = logging.getLogger("iam.serve")


def run_server(settings: Settings, *, workers: int) -> None:
    """Migrate and create keys once, then start ``workers`` server processes sharing the database."""
    Runtime.start(settings).close()
    # Worker processes rebuild settings from the environment, so pass on what the command line set.
    os.environ["IAM_DATABASE_URL"] = settings.database_url
    os.environ["IAM_ISSUER"] = settings.issuer_url
    os.environ["IAM_MIGRATE_ON_START"] = "false"
    os.environ["IAM_DEMO"] = "true" if settings.demo else "false"
    configure_logging(settings.log_level)
    # With several workers the supervising process, otherwise idle, indexes the access log and signs its
    # checkpoints; one worker runs them itself.
    supervised = workers > 1 and settings.audit_maintenance
    os.environ["IAM_AUDIT_MAINTENANCE"] = "true" if settings.audit_maintenance and not supervised else "false"
    stop_maintenance = start_audit_maintenance(settings) if supervised else None
    config = uvicorn.Config("iam.asgi:app_from_environment", factory=True, host=settings.host, port=settings.port,
                            workers=workers, log_config=None, access_log=False, server_header=False,
                            http=CoalescingHttpToolsProtocol)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[PerWorkerListener.reserve(settings.host, settings.port)]).run()
        else:
            server = uvicorn.Server(config)
            server.run()
            if not server.started:
                sys.exit(3)  # uvicorn's exit status for a failed start-up
    finally:
        if stop_maintenance is not None:
            # uvicorn's handlers only queue signals, and nobody reads the queue now: let a second Ctrl-C or
            # SIGTERM stop the process during the last index run and checkpoint.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            stop_maintenance()


class PerWorkerListener(socket.socket):
    """The port, reserved in the supervisor; each worker process that receives it gets a listening socket of
    its own on that port (``SO_REUSEPORT``), so the kernel spreads connections evenly over the workers.

    uvicorn hands every worker the one socket the supervisor bound. Whichever worker's event loop wakes first
    then accepts every pending connection: 64 connections opened at once were seen split 40/24 and 43/21,
    and the worker holding 40 answered each of them almost twice as late. The reserved socket never listens,
    so no connection waits on it; a replacement for a dead worker simply binds a new listener."""

    @classmethod
    def reserve(cls, host: str, port: int) -> PerWorkerListener:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = cls(family, socket.SOCK_STREAM)
        try:
            if port:
                # Sockets that all set SO_REUSEPORT share a port, so a second server started on the same port
                # would silently take half of the first one's connections: a plain bind must succeed first.
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind((host, port))
            _share_port(sock)
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            sys.exit(f"cannot listen on {host}:{port}: {exc.strerror}")
        _log.info("listening", extra={"address": f"http://{host}:{sock.getsockname()[1]}"})
        return sock

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent to a worker process: what arrives there is a fresh socket bound to the same address.
        return _bound_listener, (self.family, self.getsockname()[:2])


def _share_port(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)


def _bound_listener(family: int, address: tuple[str, int]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    _share_port(sock)
    sock.bind(address)
    return sock


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
