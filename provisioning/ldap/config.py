"""The LDAP sync configuration file (YAML): connection, search, and the attribute mapping.

The format is documented in ``provisioning/ldap/README.md`` with a complete example in
``provisioning/ldap/example-config.yaml``. :func:`load_config` validates the whole file and raises
:class:`LdapConfigError` with one line naming the file, the key and the value. The bind password is never
in the file: it is read from the environment variable or the file the config names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "AttributeMap",
    "ConnectionConfig",
    "EmploymentAttributes",
    "LdapConfig",
    "LdapConfigError",
    "SearchConfig",
    "load_config",
]


class LdapConfigError(Exception):
    """The config file is unreadable or invalid, or the bind password cannot be found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConnectionConfig(_Strict):
    url: str = Field(description="ldap://host:389 or ldaps://host:636")
    start_tls: bool = Field(False, description="Upgrade an ldap:// connection with StartTLS before binding.")
    bind_dn: str | None = Field(None, description="DN for a simple bind; absent = anonymous bind.")
    password_env: str | None = Field(None, description="Environment variable holding the bind password.")
    password_file: Path | None = Field(None, description="File holding the bind password (first line).")
    ca_file: Path | None = Field(None, description="PEM CA bundle that signed the server's certificate.")
    verify_certificate: bool = Field(True, description="Refuse a server certificate we cannot verify.")
    timeout: float = Field(10.0, gt=0, description="Seconds to connect and to wait for each response.")

    @field_validator("url")
    @classmethod
    def _ldap_url(cls, value: str) -> str:
        if not value.startswith(("ldap://", "ldaps://")):
            raise ValueError("expected an ldap:// or ldaps:// URL")
        return value

    @model_validator(mode="after")
    def _tls_choice(self) -> ConnectionConfig:
        if self.start_tls and self.url.startswith("ldaps://"):
            raise ValueError("start_tls applies to ldap:// URLs; ldaps:// is TLS from the start")
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.start_tls or self.url.startswith("ldaps://")

    def password(self) -> str | None:
        """The bind password from the environment variable or file; LdapConfigError when missing."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise LdapConfigError(f"environment variable {self.password_env} (connection.password_env) "
                                      "is not set")
            return value
        if self.password_file:
            try:
                return self.password_file.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, IndexError):
                raise LdapConfigError(f"connection.password_file '{self.password_file}' cannot be read") from None
        return None


class SearchConfig(_Strict):
    base: str = Field(description="Base DN of the people to sync.")
    filter: str = Field("(objectClass=inetOrgPerson)", description="LDAP filter selecting people.")
    scope: Literal["subtree", "level"] = "subtree"
    page_size: int = Field(1000, ge=1, le=10000, description="Entries per page (RFC 2696 paged results).")
    change_attribute: Literal["modifyTimestamp", "uSNChanged"] = Field(
        "modifyTimestamp", description="What an incremental sync compares: uSNChanged for Active Directory.")

    @field_validator("filter")
    @classmethod
    def _parenthesised(cls, value: str) -> str:
        if not (value.startswith("(") and value.endswith(")")):
            raise ValueError("an LDAP filter is enclosed in parentheses, e.g. (objectClass=person)")
        return value


class AttributeMap(_Strict):
    """Which LDAP attribute holds each person field. ``hpr_number``, ``employee_id`` and ``address`` may
    be null when the directory has no such attribute."""

    national_id: str
    given_name: str = "givenName"
    family_name: str = "sn"
    employee_id: str | None = "employeeNumber"
    hpr_number: str | None = None
    address: str | None = None


class EmploymentAttributes(_Strict):
    """One employment from plain attributes (the usual directory: one job per entry)."""

    position_code: str = "title"
    legal_entity: str = "o"
    point_of_care: str = "ou"
    department: str = "departmentNumber"
    start_date: str = Field("createTimestamp", description="GeneralizedTime or YYYY-MM-DD attribute.")
    end_date: str | None = None


class EmploymentsAttribute(_Strict):
    """Every employment in one multi-valued attribute, each value ``key=value`` pairs joined by ``;``:
    ``position=nurse;legalEntity=...;pointOfCare=...;department=...;start=2024-01-01;end=2025-06-30``."""

    attribute: str


class LdapConfig(_Strict):
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9:_.-]{0,63}$",
                        description="Source name recorded on persons, employments and grants.")
    connection: ConnectionConfig
    search: SearchConfig
    attributes: AttributeMap
    employment: EmploymentAttributes | None = None
    employments: EmploymentsAttribute | None = None
    position_codes: dict[str, str] = Field(default_factory=dict,
                                           description="Directory value -> HR position code.")

    @model_validator(mode="after")
    def _one_employment_form(self) -> LdapConfig:
        if (self.employment is None) == (self.employments is None):
            raise ValueError("give exactly one of 'employment' (plain attributes) or 'employments' "
                             "(one multi-valued attribute)")
        return self

    def requested_attributes(self) -> list[str]:
        """Every attribute a search must return (the change attribute too, for the next high-water mark)."""
        names = [self.attributes.national_id, self.attributes.given_name, self.attributes.family_name,
                 self.attributes.employee_id, self.attributes.hpr_number, self.attributes.address,
                 self.search.change_attribute]
        if self.employment is not None:
            e = self.employment
            names += [e.position_code, e.legal_entity, e.point_of_care, e.department, e.start_date, e.end_date]
        if self.employments is not None:
            names.append(self.employments.attribute)
        return sorted({name for name in names if name})


def load_config(path: Path) -> LdapConfig:
    """Read and validate a config file; raise :class:`LdapConfigError` naming the key and the value."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LdapConfigError(f"LDAP config '{path}' cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise LdapConfigError(f"LDAP config '{path}' is not valid YAML: {exc}") from None
    try:
        return LdapConfig.model_validate(raw)
    except ValidationError as exc:
        # A misspelt key also makes the right one "missing": report the misspelling first.
        first = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            raise LdapConfigError(f"LDAP config '{path}': unknown key '{where}'") from None
        if first["type"] == "missing":
            raise LdapConfigError(f"LDAP config '{path}': key '{where}' is missing") from None
        raise LdapConfigError(f"LDAP config '{path}': {where} has value {first.get('input')!r}: {message}") from None
