"""``region`` command group: ``region generate`` writes a synthetic region (a thin adapter).

Only argument parsing, the progress bar and output live here; ``iam.region.generate`` does the
work. Usage errors (bad option values, a scale outside (0, 10], an output path that is a file)
print one line, ``error: ...``, on stderr and exit with status 2, also when the group is attached
to a parent command. The summary goes to stdout as JSON so it can be piped; the progress bars go
to stderr, and only when it is a terminal.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from .generator import DEFAULT_AS_OF, MAX_SCALE, generate, validate_scale

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

__all__ = ["region_cli"]


class _OneLineUsageError(click.ClickException):
    """A usage error shown as one ``error: ...`` line on stderr (no usage block), exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=True)


class _WorkFailed(click.ClickException):
    """The work itself failed (a file could not be written): one line, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", file=file, err=True)


def _one_line(error: click.UsageError) -> click.ClickException:
    if isinstance(error, click.exceptions.NoArgsIsHelpError):
        return error  # "region" alone prints the help text, as click intends
    return _OneLineUsageError(error.format_message())


class _Command(click.Command):
    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _one_line(error) from None


class _Group(click.Group):
    command_class = _Command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _one_line(error) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            raise _one_line(error) from None


class _StageBars:
    """Turns ``progress(stage, done, total)`` calls into one click progress bar per stage."""

    def __init__(self) -> None:
        self._bar: ProgressBar[int] | None = None
        self._stage = ""
        self._done = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage or self._bar is None:
            self.close()
            self._bar = click.progressbar(
                length=max(total, 1), label=f"{stage:<18}", file=sys.stderr, show_pos=True
            )
            self._bar.__enter__()
            self._stage, self._done = stage, 0
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _scale(ctx: click.Context, param: click.Parameter, value: float) -> float:
    try:
        return validate_scale(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


@click.group(name="region", cls=_Group)
def region_cli() -> None:
    """Synthetic health-region data (organisations, HR feed, HPR, patients, care relationships)."""


@region_cli.command(
    "generate",
    epilog=(
        "\b\nExample (a 1 % region, a few seconds):\n"
        "  iam region generate --out ./region-small --scale 0.01 --seed 7\n"
        "\b\nFiles and columns are described in iam/region/FORMATS.md."
    ),
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path),
    help="Directory to write into (created if missing; files of the same names are replaced).",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    callback=_scale,
    help=f"Size relative to the reference region (0 < scale <= {MAX_SCALE:g}); "
    "1.0 = 40,000 staff and 720,000 patients.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    default=DEFAULT_AS_OF.isoformat(),
    show_default=True,
    help="The day the data describe (YYYY-MM-DD); every date is relative to it.",
)
@click.option("--quiet", is_flag=True, help="No progress bars (they are only shown on a terminal anyway).")
def generate_command(
    out_dir: Path, scale: float, seed: int, as_of: datetime, quiet: bool
) -> None:
    """Write a deterministic synthetic region into --out and print its counts as JSON.

    The same --seed, --scale and --as-of always give byte-identical files.
    """
    bars = _StageBars()
    try:
        show = not quiet and sys.stderr.isatty()
        summary = generate(
            out_dir, scale=scale, seed=seed, as_of=as_of.date(), progress=bars if show else None
        )
    except ValueError as error:
        raise _OneLineUsageError(str(error)) from None
    except OSError as error:
        raise _WorkFailed(f"cannot write to {str(out_dir)!r}: {error}") from None
    finally:
        bars.close()
    click.echo(json.dumps(summary.as_dict(), indent=2))
