"""Progress bars for long work, driven by ``progress(stage, done, total)`` callbacks."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

import click

__all__ = ["ProgressBars"]


class ProgressBars:
    """One click progress bar per stage on stderr; silent when stderr is not a terminal."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._stage: str | None = None
        self._bar: Any = None
        self._done = 0
        self._enabled = sys.stderr.isatty()

    def update(self, stage: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        if stage != self._stage:
            self._close_bar()
            self._stage = stage
            self._done = 0
            self._bar = click.progressbar(length=max(total, 1), label=f"{self._label}: {stage}", file=sys.stderr)
            self._bar.__enter__()
        if self._bar is not None and done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close_bar()
