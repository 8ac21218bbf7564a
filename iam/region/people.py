"""Who a synthetic person is: birth date and a unique synthetic national id.

All national ids are synthetic (month + 80, as in Tenor and NHN test data), so no generated id can
belong to a real person; D-numbers additionally have day + 40. The sex digit (the last digit of the
individual number) matches the person's recorded sex: even for women, odd for men.
"""

from __future__ import annotations

import random
from datetime import date

from iam.identifiers import individual_number_ranges, make_national_id

__all__ = ["birth_ordinal", "new_national_id"]

_DAYS_PER_YEAR = 365.2425


def birth_ordinal(rng: random.Random, as_of: int, age: int) -> int:
    """A birth date (as ``date.toordinal()``) for someone who is ``age`` years old on ``as_of``."""
    return as_of - int(age * _DAYS_PER_YEAR) - rng.randrange(365)


def new_national_id(
    rng: random.Random, used: set[str], birth: int, *, female: bool, d_number: bool = False
) -> tuple[str, int]:
    """A national id not in ``used`` (which it joins), and the birth date it encodes.

    Individual numbers are drawn at random within the century's allocation. If a date is
    crowded (hundreds of people born the same day) the birth date moves one day earlier, so the
    returned birth date may differ from ``birth``.
    """
    attempts = 0
    while True:
        if attempts and attempts % 200 == 0:
            birth -= 1
        attempts += 1
        born = date.fromordinal(birth)
        ranges = individual_number_ranges(born.year)
        pick = rng.randrange(sum(len(r) for r in ranges))
        individual = ranges[0].start
        for r in ranges:
            if pick < len(r):
                individual = r.start + pick
                break
            pick -= len(r)
        # Ranges start on an even number and have even length, so fixing the parity stays inside.
        individual += (0 if female else 1) - individual % 2
        try:
            national_id = make_national_id(born, individual, synthetic=True, d_number=d_number)
        except ValueError:  # no control digit exists for this individual number: draw again
            continue
        if national_id not in used:
            used.add(national_id)
            return national_id, birth
