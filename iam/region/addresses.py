"""Street addresses for households: one unique address string per household.

An address looks like ``"Bjørkevegen 12, 7012 Elvedal"``; when a second household lands on the same
street number it gets a dwelling number (bolignummer), ``"Bjørkevegen 12, H0102, 7012 Elvedal"``, as
in an apartment block. So two people share an address string exactly when they share a household,
which is what the log-review rule "same address as the staff member" looks for.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .model import Municipality
from .names import OUTSIDE_TOWNS, street_names

__all__ = ["AddressBook"]

_HOUSE_NUMBERS = 120


class AddressBook:
    """Hands out household addresses; remembers which street numbers are taken."""

    __slots__ = ("_municipalities", "_outside_streets", "_taken")

    def __init__(self, municipalities: Sequence[Municipality], rng: random.Random) -> None:
        self._municipalities = municipalities
        self._outside_streets = street_names(rng, 60)
        self._taken: dict[tuple[int, int, int], int] = {}

    def _dwelling(self, key: tuple[int, int, int]) -> str:
        households = self._taken.get(key, 0)
        self._taken[key] = households + 1
        if not households:
            return ""
        floor, flat = divmod(households - 1, 8)
        return f", H{floor + 1:02d}{flat + 1:02d}"

    def new(self, rng: random.Random, municipality: int) -> str:
        """A fresh household address in ``municipality`` (an index into the municipality list)."""
        muni = self._municipalities[municipality]
        street = rng.randrange(len(muni.streets))
        number = rng.randrange(1, _HOUSE_NUMBERS)
        dwelling = self._dwelling((municipality, street, number))
        # Up to ten postcodes per municipality, chosen by street so that a street keeps one.
        codes = 1 + min(9, int(muni.population // 15_000))
        postcode = f"{muni.postcode_base + street % codes:04d}"
        return f"{muni.streets[street]} {number}{dwelling}, {postcode} {muni.name}"

    def outside(self, rng: random.Random) -> str:
        """A fresh household address in a town outside the region (staff who commute in)."""
        town = rng.randrange(len(OUTSIDE_TOWNS))
        street = rng.randrange(len(self._outside_streets))
        number = rng.randrange(1, _HOUSE_NUMBERS)
        dwelling = self._dwelling((-1 - town, street, number))
        postcode, name = OUTSIDE_TOWNS[town]
        return f"{self._outside_streets[street]} {number}{dwelling}, {postcode} {name}"
