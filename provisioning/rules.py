"""Role rules as data: position code + department kind -> birthright roles, licence needs, mover grace.

The file format is documented at the top of ``provisioning/role_rules.yaml`` (the shipped rules).
:func:`load_rules` validates a file completely and raises :class:`RulesError` naming the key and value;
a loaded :class:`RoleRules` is immutable and answers the questions the plan needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "DEFAULT_RULES_PATH",
    "Birthright",
    "RoleRules",
    "RulesError",
    "configured_rules",
    "default_rules",
    "load_rules",
]

DEFAULT_RULES_PATH = Path(__file__).with_name("role_rules.yaml")
ScopeLevel = Literal["legal_entity", "point_of_care", "department"]


class RulesError(Exception):
    """The role rules file is unreadable or invalid; the message names the file, key and value."""


class _Role(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    description: str = ""
    authorisations: tuple[str, ...] = ()
    mover_grace: timedelta = timedelta(0)

    @field_validator("mover_grace")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str
    scope: ScopeLevel | None = None
    unit_kinds: tuple[str, ...] | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1]
    roles: dict[str, _Role] = Field(min_length=1)
    scopes: dict[str, ScopeLevel]
    positions: dict[str, tuple[_Entry, ...]]


@dataclass(frozen=True, slots=True)
class Birthright:
    """One role an employment gives: the role and the level of the tree it is scoped to."""

    role: str
    scope: ScopeLevel


class RoleRules:
    """Validated role rules. Build with :func:`load_rules` or :func:`default_rules`."""

    def __init__(self, parsed: _File, *, path: Path) -> None:
        self.path = path
        self._roles = parsed.roles
        self._scopes = parsed.scopes
        self._positions = parsed.positions
        self._cache: dict[tuple[str, str], tuple[Birthright, ...]] = {}

    @property
    def roles(self) -> tuple[str, ...]:
        """The role catalogue, sorted."""
        return tuple(sorted(self._roles))

    @property
    def positions(self) -> tuple[str, ...]:
        return tuple(sorted(self._positions))

    def knows_position(self, position_code: str) -> bool:
        return position_code in self._positions

    def knows_role(self, role: str) -> bool:
        return role in self._roles

    def knows_unit_kind(self, unit_kind: str) -> bool:
        return unit_kind in self._scopes

    def birthright(self, position_code: str, unit_kind: str) -> tuple[Birthright, ...]:
        """The roles of ``position_code`` in a department of ``unit_kind``.

        Raises KeyError when either is unknown; callers check :meth:`knows_position` and
        :meth:`knows_unit_kind` first to report the problem properly.
        """
        key = (position_code, unit_kind)
        found = self._cache.get(key)
        if found is None:
            default_scope = self._scopes[unit_kind]
            found = tuple(
                Birthright(entry.role, entry.scope or default_scope)
                for entry in self._positions[position_code]
                if entry.unit_kinds is None or unit_kind in entry.unit_kinds
            )
            self._cache[key] = found
        return found

    def authorisations(self, role: str) -> frozenset[str]:
        """HPR authorisation codes of which one must be valid for ``role``; empty = no licence needed."""
        spec = self._roles.get(role)
        return frozenset(spec.authorisations) if spec else frozenset()

    def mover_grace(self, role: str) -> timedelta:
        spec = self._roles.get(role)
        return spec.mover_grace if spec else timedelta(0)

    def description(self, role: str) -> str:
        spec = self._roles.get(role)
        return spec.description if spec else ""


def load_rules(path: Path) -> RoleRules:
    """Read and validate a role rules file; raise :class:`RulesError` on any problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError(f"role rules file '{path}' cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RulesError(f"role rules file '{path}' is not valid YAML: {exc}") from None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise RulesError(
            f"role rules file '{path}': {where} has value {first.get('input')!r}: {first['msg']}"
        ) from None
    for position, entries in parsed.positions.items():
        for index, entry in enumerate(entries):
            if entry.role not in parsed.roles:
                raise RulesError(f"role rules file '{path}': positions.{position}.{index}.role "
                                 f"'{entry.role}' is not in roles")
            for kind in entry.unit_kinds or ():
                if kind not in parsed.scopes:
                    raise RulesError(f"role rules file '{path}': positions.{position}.{index}.unit_kinds "
                                     f"'{kind}' is not in scopes")
    return RoleRules(parsed, path=path)


@lru_cache(maxsize=8)
def _cached(path: Path) -> RoleRules:
    return load_rules(path)


def default_rules() -> RoleRules:
    """The shipped rules (``provisioning/role_rules.yaml``), loaded once per process."""
    return _cached(DEFAULT_RULES_PATH)


def configured_rules(path: Path | None) -> RoleRules:
    """The rules named by ``Settings.role_rules_file`` (``IAM_ROLE_RULES_FILE``), else the shipped ones."""
    return _cached(path.resolve()) if path is not None else default_rules()
