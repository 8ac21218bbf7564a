"""``iam hr import``, ``iam org import``, ``iam hpr check``, ``iam provisioning tick|load-region`` as users run them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from iam.cli import cli
from provisioning.models import PersonRow
from tests.cli_helpers import run_iam
from tests.conftest import TEST_SECRET_KEY
from tests.provisioning.conftest import World, moment, org_number


def _env(database_url: str) -> dict[str, str]:
    return {"IAM_DATABASE_URL": database_url, "IAM_SECRET_KEY": TEST_SECRET_KEY}


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """The ``iam`` command in this process (a real process costs 1.7 s of imports; the bad-rows test runs
    one to check exactly what a user sees: exit code and stderr)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("command", [["hr", "import"], ["org", "import"], ["hpr", "check"],
                                     ["provisioning", "tick"], ["provisioning", "load-region"]])
def test_every_provisioning_command_has_help_with_an_example(command: list[str]) -> None:
    result = invoke(*command, "--help")

    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_skip_invalid_without_a_rejects_file_is_a_usage_error(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("employee_id\n", encoding="utf-8")

    result = invoke("hr", "import", str(feed), "--skip-invalid")

    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: --skip-invalid needs --rejects FILE, so that no rejected row is lost")


def test_bad_rows_are_printed_one_per_line_and_nothing_is_applied(world: World, database_url: str) -> None:
    u = world.units
    unknown = org_number("39999900")
    feed = world.feed([world.row(1, "physician", u.ward_a, "2020-01-01"),
                       world.row(2, "physician", unknown, "2020-01-01"),
                       world.row(3, "physician", u.ward_a, "2021-05-01", "2021-04-30")], name="staff.csv")

    result = run_iam("hr", "import", str(feed), env=_env(database_url), cwd=world.folder)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"staff.csv:3: department: unit {unknown} is not in the organisation register",
        "staff.csv:4: end_date: end date 2021-04-30 is before start date 2021-05-01",
        "error: 2 bad rows in staff.csv; nothing applied (fix them, or use --skip-invalid --rejects FILE to apply "
        "the rest)",
    ]
    assert result.stdout == ""
    with world.runtime.sessions() as session:
        assert session.execute(select(func.count()).select_from(PersonRow)).scalar_one() == 0


def test_dry_run_then_import_then_the_same_file_again_says_no_changes(world: World, database_url: str) -> None:
    u = world.units
    feed = world.feed([world.row(1, "physician", u.ward_a, "2020-01-01"),
                       world.row(5, "nurse", u.zone_1, "2020-01-01")], name="staff.csv")
    env = _env(database_url)

    dry = invoke("hr", "import", str(feed), "--dry-run", "--today", "2026-12-01", env=env)
    applied = invoke("hr", "import", str(feed), "--today", "2026-12-01", "-v", env=env)
    again = invoke("hr", "import", str(feed), "--today", "2026-12-01", env=env)

    assert dry.exit_code == applied.exit_code == again.exit_code == 0
    assert dry.stdout.splitlines()[0] == "plan (snapshot, 2026-12-01): 2 people in the input"
    assert dry.stdout.splitlines()[1].split() == ["joiners", "2", "(rehires", "0)"]
    assert dry.stdout.splitlines()[-1] == "dry run: nothing applied"
    assert "  joiner   E001 Given1 Family1" in applied.stdout.splitlines()
    assert again.stdout.splitlines() == ["plan (snapshot, 2026-12-01): 2 people in the input", "no changes"]


def test_tick_licence_check_and_organisation_import_from_the_command_line(world: World, database_url: str) -> None:
    u = world.units
    world.load([world.row(1, "physician", u.ward_a, "2026-12-10")], at=moment(date(2026, 12, 1)))
    env = _env(database_url)

    tick = invoke("provisioning", "tick", "--at", "2026-12-10T08:00:00+01:00", "-v", env=env)
    check = invoke("hpr", "check", "--source", str(world.folder / "hpr.csv"), env=env)
    organisations = invoke("org", "import", str(world.folder / "organisations.csv"), env=env)

    assert tick.exit_code == 0, tick.stderr
    assert tick.stdout.splitlines()[0] == "plan (tick, 2026-12-10)"
    assert "  account  E001 Given1 Family1: pending -> active (employment in effect)" in tick.stdout.splitlines()
    assert check.exit_code == 0, check.stderr
    assert check.stdout.splitlines()[0] == "HPR licences: 0 added, 0 changed, 0 removed"
    assert organisations.stdout.splitlines() == ["organisation register: no changes"]


def test_load_region_command_loads_a_generated_region(database_url: str, small_region: Path) -> None:
    result = invoke("provisioning", "load-region", str(small_region), "--today", "2026-12-01",
                    env=_env(database_url))

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("organisation register: ")
    assert result.stdout.splitlines()[-1] == "as of 2026-12-01"
