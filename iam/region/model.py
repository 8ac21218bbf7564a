"""The in-memory model of a region shared by the generator's stages (never written as such).

``REFERENCE`` holds the reference region's counts (docs/domain.md) and ``scaled`` turns them into
the counts for a scale. ``Region`` is the organisation tree with the indexes the later stages need:
departments by kind, by municipality and by health trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "REFERENCE",
    "Department",
    "Municipality",
    "Region",
    "Trust",
    "Unit",
    "scaled",
]

#: Counts of the reference region at scale 1.0 (docs/domain.md).
REFERENCE = {
    "health_trusts": 5,
    "municipalities": 66,
    "gp_offices": 170,
    "specialist_practices": 140,
    "physiotherapy_practices": 340,
    "staff": 40_000,
    "patients": 720_000,
}


def scaled(reference: int, scale: float) -> int:
    """``reference * scale`` rounded half up, and at least 1."""
    return max(1, int(reference * scale + 0.5))


@dataclass(frozen=True, slots=True)
class Unit:
    """One row of organisations.csv."""

    unit_id: str
    parent_id: str
    level: str
    name: str
    sector: str
    unit_kind: str
    municipality: str


@dataclass(slots=True)
class Department:
    """A department with what staffing and care relationships need to know about it."""

    index: int
    unit: Unit
    legal_entity: str
    point_of_care: str
    municipality: int
    trust: int
    primary: str
    mix: tuple[tuple[str, int], ...]
    headcount: float

    @property
    def kind(self) -> str:
        return self.unit.unit_kind


@dataclass(slots=True)
class Municipality:
    """A municipality: its people, streets and the departments that serve it."""

    index: int
    name: str
    population: float
    postcode_base: int
    trust: int
    streets: list[str]
    departments: dict[str, list[int]] = field(default_factory=dict)


@dataclass(slots=True)
class Trust:
    """A health trust: the municipalities in its catchment area and its departments by kind.

    ``local`` holds, per hospital, its departments by kind; hospital 0 is the main hospital.
    """

    index: int
    unit_id: str
    municipalities: list[int]
    local: list[dict[str, list[int]]] = field(default_factory=list)
    ambulance_stations: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Region:
    """The whole organisation tree plus indexes by municipality, trust and kind."""

    units: list[Unit]
    departments: list[Department]
    municipalities: list[Municipality]
    trusts: list[Trust]
    by_kind: dict[str, list[int]]
    counts: dict[str, int]
