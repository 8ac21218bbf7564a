"""ASGI entry point for server processes: settings come from IAM_* variables (set by ``iam serve``)."""

from __future__ import annotations

from fastapi import FastAPI

from iam.app import create_app
from iam.config import load_settings
from iam.logs import configure_logging

__all__ = ["app_from_environment"]


def app_from_environment() -> FastAPI:
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
