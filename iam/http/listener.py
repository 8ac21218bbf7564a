"""The listening sockets of ``iam serve --workers N``: one per worker process, all on one port (``SO_REUSEPORT``).

uvicorn hands every worker the one socket its supervisor bound, and whichever worker's event loop wakes first
accepts every pending connection: 64 connections opened at once were split 40/24 and 43/21, and the busier
worker's clients waited almost twice as long. Here the supervisor only reserves the port, and each worker
binds a listener of its own to it, so the kernel spreads new connections over the workers by a hash of their
addresses.

The contract:

* Linux only (elsewhere the option is missing or does not balance); :func:`supported` says whether it applies,
  and ``iam serve`` keeps uvicorn's shared socket otherwise.
* A port another server holds is refused at start-up: a plain bind must succeed first, and the reservation
  sets ``SO_REUSEPORT`` alone, so the plain bind of any later server conflicts with it from the start.
* The kernel admits further ``SO_REUSEPORT`` listeners of the same user to the port; that user can read the
  database and the keys anyway.
* Connections still waiting in a worker's accept queue when that worker stops (a restart, a crash) are reset,
  not handed to the other workers, unless the ``net.ipv4.tcp_migrate_req`` sysctl is 1.
* A worker that cannot bind exits with uvicorn's start-up failure status, which stops the supervisor instead
  of having it restart the worker forever.
"""

from __future__ import annotations

import socket
import sys
from typing import Any, TypeVar

from uvicorn.config import STARTUP_FAILURE

__all__ = ["ReservedPort", "supported"]
_Socket = TypeVar("_Socket", bound=socket.socket)


def supported() -> bool:
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class ReservedPort(socket.socket):
    """The port, bound and never listening (no connection waits on it) in the supervisor; what a worker
    process receives in its place is a fresh socket bound to the same address, for it to listen on."""

    @classmethod
    def reserve(cls, host: str, port: int) -> ReservedPort:
        """Bind ``host:port``; raise OSError when another process holds it."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # SO_REUSEADDR tolerates the TIME_WAIT connections a previous run left, nothing that listens.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
        return _bound(cls, family, (host, port))

    def __reduce__(self) -> tuple[Any, ...]:
        # How multiprocessing sends it to a worker: by address (with an IPv6 scope), not by descriptor.
        return _worker_listener, (self.family, self.getsockname())


def _bound(kind: type[_Socket], family: int, address: tuple[Any, ...]) -> _Socket:
    """A socket of ``kind`` bound to ``address`` with ``SO_REUSEPORT``; closed again if the bind fails."""
    sock = kind(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _worker_listener(family: int, address: tuple[Any, ...]) -> socket.socket:
    try:
        return _bound(socket.socket, family, address)
    except OSError as exc:
        print(f"error: cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(STARTUP_FAILURE)
