"""Norwegian identifiers: national id (fødselsnummer / D-number), organisation number, HPR number.

Contracts
---------
* ``national_id_error(s)`` returns ``None`` for a valid 11-digit national id and otherwise one short
  English reason, for example ``"not 11 digits"``, ``"no such date 31.02"`` or
  ``"control digit 2 is 4, expected 7"``. Reasons never repeat the identifier itself, so they are safe
  to log and to show to a user.
* A national id is ``DDMMYY III K1 K2``. Accepted variants of the date part:
  - D-number: day + 40 (foreign nationals without a Norwegian birth number);
  - H-number: month + 40 (help numbers used inside health care);
  - synthetic test id: month + 80 (Skatteetaten's Tenor test data and Norsk helsenett's test persons).
  A D-number may also be synthetic (day + 40 *and* month + 80).
* The individual number ``III`` fixes the century (Skatteetaten's allocation rules); a combination
  that no century allows, such as individual number 612 with year 45, is refused.
* Control digits use the mod-11 weights of Folkeregisteret's pre-2032 scheme. The 2032 reform (new
  numbers without a sex digit and with a relaxed control digit 1) is not implemented yet.
* ``org_number_error`` checks 9 digits and the mod-11 control digit (Enhetsregisteret). It does not
  require a leading 8 or 9: synthetic test organisations (Tenor) start with 2 or 3.
* ``hpr_number_error`` checks only the shape (7 to 9 digits): HPR numbers are sequence numbers issued
  by Helsedirektoratet and carry no control digit, so a well-formed number may still not exist.

Nothing here raises for bad *input*; only the ``make_*`` functions raise ``ValueError`` when asked
to build an identifier that cannot exist.
"""

from __future__ import annotations

import calendar
import functools
import operator
from datetime import date

__all__ = [
    "hpr_number_error",
    "individual_number_ranges",
    "is_valid_hpr_number",
    "is_valid_national_id",
    "is_valid_org_number",
    "make_national_id",
    "make_org_number",
    "national_id_birth_date",
    "national_id_error",
    "org_number_error",
]

_K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_ORG_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)

_D_NUMBER_OFFSET = 40
_H_NUMBER_OFFSET = 40
_SYNTHETIC_OFFSET = 80


def _digits(s: object, length: int) -> bool:
    # str.isdigit() also accepts other scripts' digits ("٣"); identifiers are ASCII only.
    return isinstance(s, str) and len(s) == length and s.isascii() and s.isdigit()


def _mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    """The mod-11 control digit for ``digits``, or None when the remainder leaves no digit (10)."""
    # Callers pass exactly len(weights) ASCII digits; bytes give code points, "0" is 48.
    total: int = sum(map(operator.mul, weights, digits.encode("ascii"))) - 48 * sum(weights)
    control = 11 - total % 11
    if control == 11:
        return 0
    if control == 10:
        return None
    return control


def _century(individual: int, yy: int) -> int | None:
    """The century (1800, 1900 or 2000) that Skatteetaten allocates to this individual number."""
    if individual <= 499:
        return 1900
    if individual <= 749 and yy >= 54:
        return 1800
    if individual >= 900 and yy >= 40:
        return 1900
    if yy <= 39:
        return 2000
    return None


def _decode_date(s: str) -> tuple[date | None, str | None]:
    """Split the date part of an 11-digit string into (birth date, None) or (None, reason)."""
    day, month, yy = int(s[0:2]), int(s[2:4]), int(s[4:6])
    individual = int(s[6:9])
    if day > _D_NUMBER_OFFSET:
        day -= _D_NUMBER_OFFSET
    if month > _SYNTHETIC_OFFSET:
        month -= _SYNTHETIC_OFFSET
    elif month > _H_NUMBER_OFFSET:
        month -= _H_NUMBER_OFFSET
    if not 1 <= month <= 12:
        return None, (
            f"month {s[2:4]} is not a month (01-12, +40 for H-numbers, +80 for synthetic ids)"
        )
    if not 1 <= day <= 31:
        return None, f"day {s[0:2]} is not a day (01-31, +40 for D-numbers)"
    # A date that no year has (31.02) is reported without a year; 29.02 depends on the year.
    if day > calendar.monthrange(2000, month)[1]:
        return None, f"no such date {day:02d}.{month:02d}"
    century = _century(individual, yy)
    if century is None:
        return None, f"individual number {s[6:9]} is not used with year {s[4:6]}"
    year = century + yy
    if day > calendar.monthrange(year, month)[1]:
        return None, f"no such date {day:02d}.{month:02d}.{year}"
    return date(year, month, day), None


def national_id_error(s: str) -> str | None:
    """Why ``s`` is not a valid national id (fødselsnummer, D-, H- or synthetic number), or None.

    Checks, in this order: 11 ASCII digits; day, month and individual number form a real birth
    date; control digit 1; control digit 2. Only the first failure is reported.
    """
    if not _digits(s, 11):
        return "not 11 digits"
    return _eleven_digits_error(s)


# Every decision checks the patient's national id; a region's patients recur all day, and the check (dates,
# two mod-11 digits) costs about 9 µs against 0.2 µs for a cache hit. Only 11-digit strings are cached, so
# no request can fill the cache with large values.
@functools.lru_cache(maxsize=1 << 15)
def _eleven_digits_error(s: str) -> str | None:
    _, reason = _decode_date(s)
    if reason is not None:
        return reason
    for position, weights in ((1, _K1_WEIGHTS), (2, _K2_WEIGHTS)):
        expected = _mod11(s[: len(weights)], weights)
        actual = s[len(weights)]
        if expected is None:
            return f"control digit {position} is {actual}, but no control digit fits the digits before it"
        if int(actual) != expected:
            return f"control digit {position} is {actual}, expected {expected}"
    return None


def is_valid_national_id(s: str) -> bool:
    """True when ``s`` is a valid national id; see ``national_id_error`` for the rules."""
    return national_id_error(s) is None


def national_id_birth_date(s: str) -> date:
    """The birth date encoded in a valid national id (D-, H- and synthetic offsets removed).

    Raises ``ValueError`` with the reason from ``national_id_error`` when ``s`` is not valid.
    """
    reason = national_id_error(s)
    if reason is not None:
        raise ValueError(f"not a valid national id: {reason}")
    birth, _ = _decode_date(s)
    assert birth is not None  # guaranteed by national_id_error returning None
    return birth


def individual_number_ranges(year: int) -> tuple[range, ...]:
    """The individual numbers (0-999) Skatteetaten allocates to births in ``year``; () if none."""
    if 1854 <= year <= 1899:
        return (range(500, 750),)
    if 1900 <= year <= 1939:
        return (range(0, 500),)
    if 1940 <= year <= 1999:
        return (range(0, 500), range(900, 1000))
    if 2000 <= year <= 2039:
        return (range(500, 1000),)
    return ()


def make_national_id(
    birth_date: date,
    individual_number: int,
    *,
    synthetic: bool = True,
    d_number: bool = False,
) -> str:
    """Build the national id for ``birth_date`` and ``individual_number`` (0-999).

    ``synthetic=True`` adds 80 to the month, as Tenor and NHN test persons do, so generated ids can
    never be a real person's. ``d_number=True`` adds 40 to the day. The last digit of the individual
    number is the sex digit (odd: male, even: female).

    Raises ``ValueError`` when the individual number is outside 0-999, is not allocated for the
    birth year's century, or when no control digit exists for it (about 1 in 5 individual numbers
    per date has none; callers should try another number).
    """
    if not 0 <= individual_number <= 999:
        raise ValueError(f"individual number {individual_number} is not in 0-999")
    ranges = individual_number_ranges(birth_date.year)
    if not ranges:
        raise ValueError(f"birth year {birth_date.year} is outside 1854-2039")
    if not any(individual_number in r for r in ranges):
        allowed = " or ".join(f"{r.start:03d}-{r.stop - 1:03d}" for r in ranges)
        raise ValueError(
            f"individual number {individual_number:03d} is not used for births in "
            f"{birth_date.year} (allowed: {allowed})"
        )
    day = birth_date.day + (_D_NUMBER_OFFSET if d_number else 0)
    month = birth_date.month + (_SYNTHETIC_OFFSET if synthetic else 0)
    base = f"{day:02d}{month:02d}{birth_date.year % 100:02d}{individual_number:03d}"
    k1 = _mod11(base, _K1_WEIGHTS)
    if k1 is None:
        raise ValueError(
            f"no control digit 1 exists for individual number {individual_number:03d} "
            f"on {birth_date.isoformat()}"
        )
    k2 = _mod11(f"{base}{k1}", _K2_WEIGHTS)
    if k2 is None:
        raise ValueError(
            f"no control digit 2 exists for individual number {individual_number:03d} "
            f"on {birth_date.isoformat()}"
        )
    return f"{base}{k1}{k2}"


def org_number_error(s: str) -> str | None:
    """Why ``s`` is not a valid 9-digit organisation number (mod-11 control digit), or None."""
    if not _digits(s, 9):
        return "not 9 digits"
    expected = _mod11(s[:8], _ORG_WEIGHTS)
    if expected is None:
        return f"control digit is {s[8]}, but no control digit fits the digits before it"
    if int(s[8]) != expected:
        return f"control digit is {s[8]}, expected {expected}"
    return None


def make_org_number(first_eight: str) -> str:
    """The organisation number that starts with ``first_eight`` (8 ASCII digits) plus its control digit.

    Raises ``ValueError`` when ``first_eight`` is not 8 digits or when no control digit exists for
    it (about 1 in 11 prefixes; callers should try another).
    """
    if not _digits(first_eight, 8):
        raise ValueError("first_eight is not 8 digits")
    control = _mod11(first_eight, _ORG_WEIGHTS)
    if control is None:
        raise ValueError(f"no control digit exists for organisation number prefix {first_eight}")
    return f"{first_eight}{control}"


def is_valid_org_number(s: str) -> bool:
    """True when ``s`` is a valid organisation number; see ``org_number_error``."""
    return org_number_error(s) is None


def hpr_number_error(s: str) -> str | None:
    """Why ``s`` is not a well-formed HPR number (7 to 9 ASCII digits), or None."""
    if not (isinstance(s, str) and s.isascii() and s.isdigit() and 7 <= len(s) <= 9):
        return "not 7 to 9 digits"
    return None


def is_valid_hpr_number(s: str) -> bool:
    """True when ``s`` is a well-formed HPR number; existence is not (and cannot be) checked here."""
    return hpr_number_error(s) is None
