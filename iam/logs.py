"""Structured JSON logs. Messages never carry secrets or tokens: callers log ids and reasons, not values."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["configure_logging", "log_event"]

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_SENSITIVE = ("secret", "password", "token", "authorization", "assertion", "private")


def _redacted(key: str) -> bool:
    """Defence in depth: a field whose name suggests a credential is never written."""
    lowered = key.lower()
    return any(word in lowered for word in _SENSITIVE)


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
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        kind = self._kind
        for key, value in vars(record).items():
            found = kind(key)
            if found:
                entry[key] = value if found == 1 else "[redacted]"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our middleware writes the access log with the request id; uvicorn's would repeat it without.
    logging.getLogger("uvicorn.access").disabled = True


def log_event(logger: logging.Logger, message: str, **fields: Any) -> None:
    logger.info(message, extra=fields)
