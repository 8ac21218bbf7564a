"""Events for a SIEM: JSON lines, and syslog lines in RFC 5424 format.

Syslog: facility 13 (log audit); severity 6 (informational) for permits and admin events, 5 (notice) for
denials and emergency access, 3 (error) for errors. The structured-data element ``iamAudit@32473`` carries
the event's fields (32473 is the documentation enterprise number of RFC 5612; a deployment with its own
IANA enterprise number sets it with ``enterprise``). Values escape ``"``, ``\\`` and ``]`` (RFC 5424
§6.3.3); the MSG part is a one-line summary in UTF-8 with the BOM the RFC asks for.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from audit.query import EXPORT_FIELDS, LoggedEvent

__all__ = ["json_line", "syslog_line"]

_FACILITY = 13
_SKIP_IN_SD = {"details"}


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def json_line(event: LoggedEvent) -> str:
    """One compact JSON object, no line breaks inside."""
    return event.model_dump_json()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]").replace("\n", " ").replace("\r", " ")


def _severity(event: LoggedEvent) -> int:
    if event.outcome == "error":
        return 3
    if event.outcome == "deny" or event.emergency:
        return 5
    return 6


def syslog_line(event: LoggedEvent, *, hostname: str = "-", enterprise: int = 32473) -> str:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOST iam-audit - MSGID [SD] MSG``."""
    pri = _FACILITY * 8 + _severity(event)
    params = []
    for name in EXPORT_FIELDS:
        if name in _SKIP_IN_SD:
            continue
        value = getattr(event, name)
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, datetime):
            text = _time(value)
        else:
            text = str(value)
        params.append(f'{name}="{_escape(text)}"')
    if event.details:
        params.append(f'details="{_escape(json.dumps(event.details, separators=(",", ":")))}"')
    who = event.user_name or event.user_id or event.client_id or "unknown"
    subject = f" patient {event.patient}" if event.patient else (f" {event.target_type} {event.target_id}"
                                                                  if event.target_type else "")
    summary = f"{who} {event.action}{subject}: {event.outcome or 'done'}"
    host = hostname if hostname and " " not in hostname else "-"
    return (f"<{pri}>1 {_time(event.occurred_at)} {host} iam-audit - {event.kind} "
            f"[iamAudit@{enterprise} {' '.join(params)}] \ufeff{summary}")
