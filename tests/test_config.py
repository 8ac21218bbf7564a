"""Settings: defaults, IAM_ variables, the TOML config file, and one clear line for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from iam.config import ConfigError, load_settings


def test_defaults_use_sqlite_under_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IAM_DATABASE_URL", raising=False)
    monkeypatch.delenv("IAM_CONFIG_FILE", raising=False)
    settings = load_settings()
    assert settings.database_url == "sqlite:///./var/iam.db"
    assert settings.issuer_url == "http://127.0.0.1:8000"
    assert settings.signing_alg == "ES256"


def test_environment_selects_postgresql_and_normalises_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_DATABASE_URL", "postgresql://localhost/test")
    assert load_settings().database_url == "postgresql+psycopg://localhost/test"


def test_config_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "iam.toml"
    config.write_text('access_token_ttl = 120\nport = 9000\n')
    monkeypatch.setenv("IAM_CONFIG_FILE", str(config))
    monkeypatch.setenv("IAM_PORT", "9100")
    settings = load_settings()
    assert settings.access_token_ttl == 120
    assert settings.port == 9100


def test_unknown_database_scheme_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_DATABASE_URL", "mysql://localhost/x")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == ("Setting IAM_DATABASE_URL has value 'mysql://localhost/x': "
                                 "expected a sqlite:/// or postgresql+psycopg:// URL")


def test_unreadable_config_file_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IAM_CONFIG_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    missing = tmp_path / "missing.toml"
    assert str(raised.value) == f"IAM_CONFIG_FILE '{missing}' cannot be read: No such file or directory"


def test_config_file_with_bad_toml_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "iam.toml"
    config.write_text("port = = 1\n")
    monkeypatch.setenv("IAM_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings()


def test_unknown_key_in_config_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "iam.toml"
    config.write_text("prot = 1\n")
    monkeypatch.setenv("IAM_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == "Unknown setting 'prot' (IAM_PROT); check the name"


def test_short_secret_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_SECRET_KEY", "short-secret")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value) == "Setting IAM_SECRET_KEY has value ***: must be at least 32 characters"


def test_out_of_range_token_lifetime_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_ACCESS_TOKEN_TTL", "86400")
    with pytest.raises(ConfigError, match=r"^Setting IAM_ACCESS_TOKEN_TTL has value '86400': "):
        load_settings()


def test_generated_secret_key_file_is_private_and_stable(tmp_path: Path) -> None:
    settings = load_settings(secret_key_file=tmp_path / "var" / "secret.key")
    first = settings.resolved_secret_key()
    assert settings.secret_key_file.stat().st_mode & 0o777 == 0o600
    assert settings.resolved_secret_key() == first
    assert len(first) >= 32
