"""The background task of ``iam serve``: the date-driven tick and the scheduled HPR licence check.

One daemon thread per process (started from the app's lifespan, stopped with it). The first tick runs one
interval after start-up; each run is its own transaction, and a failed run is logged and retried at the next
interval. Several processes or nodes may run schedulers: the tick takes the provisioning lock without waiting
(the others skip), the licence check waits its turn.
"""

from __future__ import annotations

import logging
import threading
import time

from iam.logs import log_event
from iam.runtime import Runtime
from provisioning.hpr import check_licences, register_from_source
from provisioning.lifecycle import run_tick
from provisioning.rules import configured_rules

__all__ = ["ProvisioningScheduler", "start_scheduler"]

_log = logging.getLogger("provisioning.scheduler")


class ProvisioningScheduler:
    def __init__(self, runtime: Runtime, *, tick_seconds: float, hpr_seconds: float) -> None:
        self._runtime = runtime
        self._tick_seconds = tick_seconds
        self._hpr_seconds = hpr_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.checks = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="iam-provisioning", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        now = time.monotonic()
        next_tick = now + self._tick_seconds if self._tick_seconds else None
        next_check = now + self._hpr_seconds if self._hpr_seconds else None
        while True:
            due = [t for t in (next_tick, next_check) if t is not None]
            if not due or self._stop.wait(max(0.0, min(due) - time.monotonic())):
                return
            now = time.monotonic()
            if next_tick is not None and now >= next_tick:
                self._tick()
                next_tick = time.monotonic() + self._tick_seconds
            if next_check is not None and now >= next_check:
                self._check()
                next_check = time.monotonic() + self._hpr_seconds

    def _tick(self) -> None:
        runtime = self._runtime
        try:
            with runtime.sessions.begin() as session:
                result = run_tick(session, rules=configured_rules(runtime.settings.role_rules_file),
                                  bus=runtime.bus)
            self.ticks += 1
            if result.plan is not None and not result.plan.is_empty:
                log_event(_log, "provisioning tick applied changes", **result.plan.counts())
        except Exception:  # the next interval retries; one bad run must not stop the schedule
            _log.exception("provisioning tick failed")

    def _check(self) -> None:
        runtime = self._runtime
        source = runtime.settings.hpr_source
        if source is None:
            return
        try:
            with runtime.sessions.begin() as session:
                sync, plan, _ = check_licences(session, register_from_source(source),
                                               rules=configured_rules(runtime.settings.role_rules_file),
                                               bus=runtime.bus)
            self.checks += 1
            if not plan.is_empty or sync.hpr_numbers:
                log_event(_log, "HPR licence check applied changes", licences_added=sync.added,
                          licences_changed=sync.changed, licences_removed=sync.removed, **plan.counts())
        except Exception:
            _log.exception("HPR licence check failed")


def start_scheduler(runtime: Runtime) -> ProvisioningScheduler | None:
    """Start the background task as the settings say; None when both schedules are off."""
    settings = runtime.settings
    hpr_seconds = settings.hpr_check_seconds if settings.hpr_source else 0.0
    if not settings.provisioning_tick_seconds and not hpr_seconds:
        return None
    scheduler = ProvisioningScheduler(runtime, tick_seconds=settings.provisioning_tick_seconds,
                                      hpr_seconds=hpr_seconds)
    scheduler.start()
    return scheduler
