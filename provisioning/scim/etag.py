"""Resource versions and preconditions (RFC 7644 §3.14, RFC 9110 §8.8.3 and §13.1).

A version is a weak entity tag over the resource's representation (without ``meta``): it changes whenever
anything a client can read changes, whichever source changed it (SCIM, the HR file, LDAP), and needs no
stored counter. ``If-Match`` uses the weak comparison SCIM's own examples rely on (``W/"..."``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from provisioning.scim.errors import PreconditionFailed

__all__ = ["check_if_match", "if_none_match_hits", "version_of"]


def version_of(representation: dict[str, Any]) -> str:
    """``W/"<16 hex digits>"``: SHA-256 of the canonical JSON of ``representation`` minus ``meta``."""
    content = {key: value for key, value in representation.items() if key != "meta"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f'W/"{digest[:16]}"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith(("W/", "w/")) else tag


def _tags(header: str) -> list[str]:
    # Entity tags cannot contain commas (RFC 9110 §8.8.3), so a plain split is exact.
    return [_opaque(part) for part in header.split(",") if part.strip()]


def check_if_match(header: str | None, current: str, *, resource: str) -> None:
    """Raise :class:`PreconditionFailed` (412) unless ``header`` is absent, ``*`` or lists ``current``."""
    if header is None:
        return
    tags = _tags(header)
    if "*" in tags or _opaque(current) in tags:
        return
    raise PreconditionFailed(f"{resource} is at version {current}, not {header.strip()} (If-Match)")


def if_none_match_hits(header: str | None, current: str) -> bool:
    """Whether a GET's ``If-None-Match`` already names ``current`` (answer 304 Not Modified)."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or _opaque(current) in tags
