"""ASGI entry point for server processes: settings come from IAM_* variables (set by ``iam serve``)."""

from __future__ import annotations

import gc
import sys

from fastapi import FastAPI

from iam.app import create_app
from iam.config import load_settings
from iam.logs import configure_logging

__all__ = ["app_from_environment"]

# A server process holds large long-lived caches (every user's roles, patients' facts, verified tokens) and
# allocates many short-lived objects per decision. With CPython's default thresholds (700, 10, 10) the
# collector kept traversing the caches: batches of ten decisions went from 450/s to 630-750/s on two
# workers with these thresholds (bench/authz_http.py). Reference counting still frees almost everything
# at once; the thresholds only space out the cycle searches.
GC_THRESHOLDS = (100_000, 50, 100)
# The access-log writer thread holds the writers' lock of the database across several SQLite calls, and after
# each call it waits for the GIL until the event loop thread yields it: at most the switch interval, 5 ms by
# default. On a 2-core EPYC under load its transactions held that lock 2.3-19 ms (p50, per 5 s) instead of
# 1.1 ms with 1 ms, and every other process's writer waited that long (timing the writer under the load of
# bench/authz_http.py).
SWITCH_INTERVAL_S = 0.001


def app_from_environment() -> FastAPI:
    settings = load_settings()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    configure_logging(settings.log_level)
    return create_app(settings)
