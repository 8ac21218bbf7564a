"""The background task of ``iam serve``: started by the app's lifespan, it runs the tick and the licence check."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from iam.app import create_app
from iam.config import Settings
from iam.db.base import utc_now
from iam.runtime import Runtime
from provisioning.clock import hr_date
from tests.provisioning.conftest import LICENCES, World, wait_until


def test_the_app_runs_the_tick_and_the_licence_check_in_the_background(settings: Settings, tmp_path: Path) -> None:
    fast = settings.model_copy(update={"provisioning_tick_seconds": 0.1, "hpr_check_seconds": 0.1,
                                       "hpr_source": str(tmp_path / "hpr.csv")})
    runtime = Runtime.start(fast)
    try:
        world = World(runtime, tmp_path)
        starts_today = hr_date(utc_now()).isoformat()
        world.load([world.row(1, "physician", world.units.ward_a, starts_today),
                    world.row(5, "nurse", world.units.ward_b, "2020-01-01")], at=utc_now() - timedelta(days=1))
        world.write_hpr({n: [(code, "valid", "2000-01-01", "")] for n, code in LICENCES.items()}
                        | {5: [("SP", "suspended", "2000-01-01", "2026-01-01")]})
        assert world.facts(1, utc_now()).account_status == "pending"

        with TestClient(create_app(fast, runtime=runtime)):
            wait_until(lambda: world.facts(1, utc_now()).account_status == "active")
            wait_until(lambda: [r.licence_ok for r in world.facts(5, utc_now()).roles] == [False])

        assert [r.role for r in world.facts(1, utc_now()).roles] == ["physician"]
    finally:
        runtime.close()
