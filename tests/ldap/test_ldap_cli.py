"""The ``iam ldap sync`` command: summary, exit codes, and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli_helpers import run_iam
from tests.ldap.conftest import PASSWORD_ENV
from tests.ldap.slapd import ADMIN_PASSWORD


def _env(database_url: str, password: str = ADMIN_PASSWORD) -> dict[str, str]:
    return {"IAM_DATABASE_URL": database_url, PASSWORD_ENV: password, "IAM_SECRET_KEY": "k" * 40}


def test_sync_prints_the_plan_and_a_second_run_is_incremental_with_no_changes(
        database_url: str, config_file: Path, registers: None, staff: list[dict[str, Any]]) -> None:
    dry = run_iam("ldap", "sync", "--config", str(config_file), "--dry-run", env=_env(database_url))
    assert dry.returncode == 0, dry.stderr
    assert f"ldap sync (full): {len(staff)} directory entries read" in dry.stdout
    assert dry.stdout.rstrip().endswith("dry run: nothing applied")
    first = run_iam("ldap", "sync", "--config", str(config_file), env=_env(database_url))
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith("applied")
    second = run_iam("ldap", "sync", "--config", str(config_file), env=_env(database_url))
    assert second.returncode == 0, second.stderr
    assert "ldap sync (incremental)" in second.stdout
    assert "no changes" in second.stdout


def _unused_database(tmp_path: Path) -> str:
    # These failures happen before the database is opened, so one database kind is enough.
    return f"sqlite:///{tmp_path / 'unused.db'}"


def test_a_refused_bind_is_one_line_and_exit_1(tmp_path: Path, config_file: Path) -> None:
    result = run_iam("ldap", "sync", "--config", str(config_file),
                     env={**_env(_unused_database(tmp_path), password="wrong"), "IAM_MIGRATE_ON_START": "false"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: bind as 'cn=admin,dc=region,dc=test' to {_url(config_file)} failed: invalidCredentials"]


def test_an_unknown_config_key_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("source: x\nconection: {}\n")
    result = run_iam("ldap", "sync", "--config", str(path), env=_env(_unused_database(tmp_path)))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: LDAP config '{path}': unknown key 'conection'"


def test_a_missing_password_variable_is_exit_2(tmp_path: Path, config_file: Path) -> None:
    result = run_iam("ldap", "sync", "--config", str(config_file),
                     env={"IAM_DATABASE_URL": _unused_database(tmp_path), "IAM_MIGRATE_ON_START": "false"})
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: environment variable {PASSWORD_ENV} (connection.password_env) is not set"


def _url(config_file: Path) -> str:
    line = next(line for line in config_file.read_text().splitlines() if line.strip().startswith("url:"))
    return line.split("url:", 1)[1].strip()
