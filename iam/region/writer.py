"""How region files are written: one CSV dialect, ISO dates, and the manifest.

Every CSV file is UTF-8 without a byte-order mark, comma-separated, ``\\n`` line endings, minimal
quoting (the ``csv`` module's default), with a header row. Rows are streamed: nothing here holds a
whole file in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "IsoDates",
    "RowWriter",
    "csv_file",
    "file_stats",
    "write_json",
]


class RowWriter(Protocol):
    """The part of ``csv.writer`` we use."""

    def writerow(self, row: Iterable[Any], /) -> Any: ...


@contextmanager
def csv_file(path: Path, header: Sequence[str]) -> Iterator[RowWriter]:
    """Open ``path`` for writing in the region CSV dialect and write ``header`` first."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        yield writer


class IsoDates:
    """``date.toordinal()`` numbers to ISO strings, cached: the generator formats millions of dates
    drawn from a few tens of thousands of distinct days."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, ordinal: int) -> str:
        text = self._cache.get(ordinal)
        if text is None:
            text = date.fromordinal(ordinal).isoformat()
            self._cache[ordinal] = text
        return text

    def optional(self, ordinal: int | None) -> str:
        """The ISO date, or "" for an open end."""
        return "" if ordinal is None else self(ordinal)


def write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write ``document`` as indented UTF-8 JSON with a final newline (stable key order as given)."""
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def file_stats(path: Path) -> tuple[str, int]:
    """The SHA-256 of ``path`` as lower-case hex, and its number of lines."""
    digest = hashlib.sha256()
    lines = 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
            lines += block.count(b"\n")
    return digest.hexdigest(), lines
