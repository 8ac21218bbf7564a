"""Structured JSON logs. Messages never carry secrets or tokens: callers log ids and reasons, not values.

Every line is one JSON object: ``time``, ``level``, ``logger``, ``message``, then the record's fields. The one
line per HTTP request (logger ``iam.access``, message ``request``) takes a shorter path, see
:func:`log_request`.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["BufferedLines", "configure_logging", "flush_request_lines", "log_event", "log_request"]

#: How long a request line may wait in the buffer, and how much may gather before it is written at once.
REQUEST_LINES_INTERVAL = 0.2
REQUEST_LINES_LIMIT = 64 << 10

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_SENSITIVE = ("secret", "password", "token", "authorization", "assertion", "private")


def _redacted(key: str) -> bool:
    """Defence in depth: a field whose name suggests a credential is never written."""
    lowered = key.lower()
    return any(word in lowered for word in _SENSITIVE)


def _head(time: datetime, level: str, logger: str, message: str) -> dict[str, Any]:
    """The fields every line starts with, whichever way it is written."""
    return {"time": time.isoformat(timespec="milliseconds"), "level": level, "logger": logger, "message": message}


class JsonFormatter(logging.Formatter):
    """One JSON object a line. Every request writes one, so the per-line work is kept small: the field
    names a line may carry are few, and whether one is skipped or redacted is decided once per name."""

    def __init__(self) -> None:
        super().__init__()
        self._fields: dict[str, int] = {}  # name -> 0 skip, 1 write, 2 redact

    def _kind(self, key: str) -> int:
        kind = self._fields.get(key)
        if kind is None:
            skip = key in _RESERVED or key.startswith("_") or key in ("message", "asctime", "color_message")
            kind = self._fields[key] = 0 if skip else (2 if _redacted(key) else 1)
        return kind

    def format(self, record: logging.LogRecord) -> str:
        entry = _head(datetime.fromtimestamp(record.created, UTC), record.levelname.lower(), record.name,
                      record.getMessage())
        kind = self._kind
        for key, value in vars(record).items():
            found = kind(key)
            if found:
                entry[key] = value if found == 1 else "[redacted]"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, say: the slower encoder takes anything
            return json.dumps(entry, default=str, ensure_ascii=False)


class BufferedLines:
    """Lines gathered in memory and written to a file descriptor at the latest ``interval`` seconds after the
    first one arrived or once ``limit`` bytes have gathered, as busy web servers write their access logs
    (nginx's ``access_log ... buffer= flush=``). A flusher thread (one per process, started with the first
    line) does the timed writes; :meth:`flush` writes the rest (the service calls it when it shuts down, and
    at exit). A crash loses at most the last ``interval`` seconds of lines: acceptable for the request log,
    never used for the access log of patient data, which is durable (:mod:`audit.log`).

    Server workers share one stderr, often a pipe, where only writes of up to ``PIPE_BUF`` bytes (4 KiB) are
    never interleaved with another process's: a batch is written in pieces of whole lines up to that size
    (a longer line alone), each piece retried until it is all written. A write that fails (a full disk, a
    closed pipe) drops its batch, counted in :attr:`dropped`; it never reaches the request that logged.
    """

    def __init__(self, fd: int, *, interval: float = REQUEST_LINES_INTERVAL, limit: int = REQUEST_LINES_LIMIT) -> None:
        self._fd = fd
        self._interval = interval
        self._limit = limit
        #: Lines lost to failed writes.
        self.dropped = 0
        self._renew()
        atexit.register(self.flush)
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        """A fresh buffer, locks and flusher: at start, and in a forked child (which must neither write its
        parent's lines again nor wait on a lock some other thread of the parent held)."""
        self._lines: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()  # guards the buffer; held for an append or a swap only
        self._write_lock = threading.Lock()  # keeps flushes in order
        self._due = threading.Event()
        self._flusher: threading.Thread | None = None

    def write(self, line: bytes) -> None:
        """Add one line (without its line break)."""
        with self._lock:
            self._lines.append(line)
            self._size += len(line) + 1
            first, full = len(self._lines) == 1, self._size >= self._limit
        if full:
            self.flush()
        elif first:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._run, name="iam-log-flusher", daemon=True)
                self._flusher.start()
            self._due.set()

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                lines, self._lines, self._size = self._lines, [], 0
            piece: list[bytes] = []
            size = 0
            try:
                for line in lines:
                    if piece and size + len(line) + 1 > select.PIPE_BUF:
                        self._write_all(b"".join(piece))
                        piece, size = [], 0
                    piece.append(line + b"\n")
                    size += len(line) + 1
                if piece:
                    self._write_all(b"".join(piece))
            except OSError:
                self.dropped += len(lines)  # the lines already written are counted too: an estimate is enough

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            time.sleep(self._interval)  # let the lines of the next moments join this write
            self.flush()


_request_access = logging.getLogger("iam.access")
_request_lines: BufferedLines | None = None


def log_request(fields: dict[str, Any]) -> None:
    """The line for one HTTP request (logger ``iam.access``, level info, message ``request``).

    Once :func:`configure_logging` has set up the process, and while ``iam.access`` is enabled for info and
    has no handlers or filters of its own, these lines skip the logging machinery (a ``LogRecord``, handler
    locks, a JSON encoder and a write and flush per line) and go, encoded by orjson, to :class:`BufferedLines`
    on stderr: with the machinery, this one line cost 180 µs of CPU a request on the benchmark machine, more
    than a quarter of issuing a token. So they reach stderr up to 0.2 s after lines logged later, and
    handlers added to the root logger do not see them; give ``iam.access`` a handler of its own to have
    them go through ``logging`` as before (as they do in tests and when embedded). ``fields`` must be JSON
    types.
    """
    access = _request_access
    if not access.isEnabledFor(logging.INFO):
        return
    lines = _request_lines
    if lines is not None and not access.handlers and not access.filters:
        lines.write(orjson.dumps(_head(datetime.now(UTC), "info", "iam.access", "request") | fields))
    else:
        access.info("request", extra=fields)


def flush_request_lines() -> None:
    """Write the request lines still gathered: the service calls this when it shuts down (servers stopped by
    SIGTERM end without running ``atexit``)."""
    if _request_lines is not None:
        _request_lines.flush()


def configure_logging(level: str = "info") -> None:
    global _request_lines
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if _request_lines is None:
        try:
            _request_lines = BufferedLines(sys.stderr.fileno())
        except (AttributeError, ValueError, OSError):  # stderr is no file (captured): lines go through logging
            _request_lines = None
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our middleware writes the access log with the request id; uvicorn's would repeat it without.
    logging.getLogger("uvicorn.access").disabled = True
    # pycasbin logs its whole model and policy (about 10 KB) at info on its first load in every process.
    logging.getLogger("casbin").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def log_event(logger: logging.Logger, message: str, **fields: Any) -> None:
    logger.info(message, extra=fields)
