"""Typed service configuration.

Settings come, highest priority first, from keyword arguments, ``IAM_*`` environment variables, an optional
TOML file named by ``IAM_CONFIG_FILE`` (keys as the field names without the prefix), and the defaults below.
Nothing reads the environment at import time: call :func:`load_settings`.

Raises :class:`ConfigError` with one line naming the setting, the value and what was expected.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["ConfigError", "Settings", "load_settings"]

DEFAULT_DATABASE_URL = "sqlite:///./var/iam.db"


class ConfigError(Exception):
    """A setting is missing, unreadable or invalid; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IAM_", extra="forbid", frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://host/db",
    )
    issuer: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8000"), description="Our OAuth issuer identifier (iss)."
    )
    secret_key: SecretStr | None = Field(
        None, description="Key that encrypts signing keys at rest; at least 32 characters."
    )
    secret_key_file: Path = Field(
        Path("./var/secret.key"),
        description="Where a generated secret key is kept when IAM_SECRET_KEY is not set.",
    )
    access_token_ttl: int = Field(600, ge=30, le=3600, description="Access token lifetime, seconds.")
    signing_alg: Literal["ES256", "RS256", "EdDSA"] = "ES256"
    federation_file: Path | None = Field(
        None, description="YAML file of trusted upstream login providers (iam/oauth/FEDERATION.md).")
    exchange_token_ttl: int = Field(
        900, ge=30, le=3600, description="Lifetime of exchanged (care context) tokens, seconds; at most 60 min.")
    exchange_decision_section: str = Field(
        "notes", description="Record section the decision engine is asked about before a patient-bound token.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    migrate_on_start: bool = True
    audit_checkpoint_interval: float = Field(
        60.0, ge=0, description="Seconds between signed access-log checkpoints; 0 turns them off."
    )
    audit_maintenance: bool = Field(
        True, description="Run the access log's search indexer and checkpoint signing in this process. "
                          "'iam serve --workers N' runs them once, in its supervising process, and turns "
                          "this off in the workers.")
    demo: bool = False
    policy_dir: Path | None = Field(
        None, description="Folder of the Casbin policy files; the packaged policies/ when not set. A policy "
                          "published to the database (iam policy publish) takes precedence.")
    emergency_access_hours: float = Field(
        4.0, gt=0, le=24, description="How long a break-the-glass declaration grants access, hours.")
    authz_patient_cache_size: int = Field(
        100_000, ge=100, description="Patients whose decision facts are kept in memory per process.")
    authz_subject_ttl: float = Field(
        300.0, ge=1, description="Longest time a user's roles are cached without a change notice, seconds.")
    provisioning_tick_seconds: float = Field(
        60.0, ge=0, description="Seconds between date-driven provisioning ticks in `iam serve`; 0 turns them off.")
    hpr_source: str | None = Field(
        None, description="HPR register for scheduled licence checks: the path of an HPR extract file.")
    hpr_check_seconds: float = Field(
        3600.0, ge=0, description="Seconds between scheduled HPR licence checks (needs IAM_HPR_SOURCE); 0 = off.")
    role_rules_file: Path | None = Field(
        None, description="Role rules YAML (provisioning/role_rules.yaml when not set).")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("expected a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @property
    def issuer_url(self) -> str:
        return str(self.issuer).rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    def resolved_secret_key(self) -> bytes:
        """The at-rest encryption key: ``IAM_SECRET_KEY``, else the key file (created on first use).

        Generating a random key file is not a default password: it is unique per installation. Production
        sets IAM_SECRET_KEY from a secret store so the key never sits beside the database.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.secret_key_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"IAM_SECRET_KEY_FILE '{path}' cannot be read: {exc.strerror}") from None
        if len(key) < 32:
            raise ConfigError(f"IAM_SECRET_KEY_FILE '{path}' holds a key shorter than 32 characters")
        return key.encode()


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by IAM_CONFIG_FILE, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        name = os.environ.get("IAM_CONFIG_FILE")
        if not name:
            return {}
        try:
            with open(name, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"IAM_CONFIG_FILE '{name}' cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"IAM_CONFIG_FILE '{name}' is not valid TOML: {exc}") from None
        return data


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides, environment and config file; raise ConfigError on bad values."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "settings"
        value = first.get("input")
        shown = "***" if field == "secret_key" else repr(value)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"Unknown setting '{field}' (IAM_{field.upper()}); check the name") from None
        raise ConfigError(f"Setting IAM_{field.upper()} has value {shown}: {message}") from None
