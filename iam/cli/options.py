"""Options shared by commands that open the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from iam.config import Settings, load_settings

__all__ = ["database_option", "settings_from"]

F = TypeVar("F", bound=Callable[..., Any])


def database_option(func: F) -> F:
    option = click.option(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL (default: IAM_DATABASE_URL, else sqlite:///./var/iam.db).",
    )
    return option(func)


def settings_from(**overrides: Any) -> Settings:
    return load_settings(**overrides)
