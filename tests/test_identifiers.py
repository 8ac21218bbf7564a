"""Norwegian identifiers (iam.identifiers): national ids, organisation numbers, HPR numbers."""

from __future__ import annotations

from datetime import date

import pytest

from iam import identifiers
from iam.identifiers import (
    hpr_number_error,
    is_valid_hpr_number,
    is_valid_national_id,
    is_valid_org_number,
    make_national_id,
    make_org_number,
    national_id_birth_date,
    national_id_error,
    org_number_error,
)

# 15.07.1965, individual number 005: the control digits were checked by hand
# (k1: 148 mod 11 = 5 -> 6; k2: 138 mod 11 = 6 -> 5).
ORDINARY = "15076500565"
D_NUMBER = "55076500559"  # day + 40
H_NUMBER = "15476500548"  # month + 40
SYNTHETIC = "15876500520"  # month + 80 (Tenor / NHN test persons)
SYNTHETIC_D_NUMBER = "55876500514"
LEAP_DAY_2020 = "29822050180"  # synthetic, individual number 501 (born 2000-2039)


@pytest.mark.parametrize("national_id", [ORDINARY, D_NUMBER, H_NUMBER, SYNTHETIC, SYNTHETIC_D_NUMBER, LEAP_DAY_2020])
def test_known_valid_national_ids_pass(national_id: str) -> None:
    assert national_id_error(national_id) is None
    assert is_valid_national_id(national_id)


@pytest.mark.parametrize(
    ("national_id", "reason"),
    [
        ("1507650056", "not 11 digits"),
        ("150765005650", "not 11 digits"),
        ("1507650056a", "not 11 digits"),
        ("15076500 65", "not 11 digits"),
        ("١٥٠٧٦٥٠٠٥٦٥", "not 11 digits"),  # Arabic-Indic digits are digits to str.isdigit, not to us
        ("15076500566", "control digit 2 is 6, expected 5"),
        ("15076500575", "control digit 1 is 7, expected 6"),
        ("15076500335", "control digit 1 is 3, but no control digit fits the digits before it"),
        ("15076501435", "control digit 2 is 5, but no control digit fits the digits before it"),
        ("31026500565", "no such date 31.02"),
        ("29026500565", "no such date 29.02.1965"),
        ("31046500565", "no such date 31.04"),
        ("15136500565", "month 13 is not a month (01-12, +40 for H-numbers, +80 for synthetic ids)"),
        ("15936500565", "month 93 is not a month (01-12, +40 for H-numbers, +80 for synthetic ids)"),
        ("00076500565", "day 00 is not a day (01-31, +40 for D-numbers)"),
        ("72076500565", "day 72 is not a day (01-31, +40 for D-numbers)"),
        ("15074561200", "individual number 612 is not used with year 45"),
    ],
)
def test_known_invalid_national_ids_give_the_exact_reason(national_id: str, reason: str) -> None:
    assert national_id_error(national_id) == reason
    assert not is_valid_national_id(national_id)


def test_national_id_error_never_repeats_the_identifier() -> None:
    reason = national_id_error("15076500566")
    assert reason is not None
    assert "15076500566" not in reason


@pytest.mark.parametrize(
    ("national_id", "born"),
    [
        (ORDINARY, date(1965, 7, 15)),
        (SYNTHETIC_D_NUMBER, date(1965, 7, 15)),
        (H_NUMBER, date(1965, 7, 15)),
        (LEAP_DAY_2020, date(2020, 2, 29)),
    ],
)
def test_birth_date_is_decoded_without_d_h_or_synthetic_offsets(national_id: str, born: date) -> None:
    assert national_id_birth_date(national_id) == born


def test_birth_date_of_an_invalid_id_raises_with_the_reason() -> None:
    with pytest.raises(ValueError, match=r"^not a valid national id: control digit 2 is 6, expected 5$"):
        national_id_birth_date("15076500566")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"synthetic": False}, ORDINARY),
        ({"synthetic": False, "d_number": True}, D_NUMBER),
        ({}, SYNTHETIC),
        ({"d_number": True}, SYNTHETIC_D_NUMBER),
    ],
)
def test_make_national_id_builds_the_known_ids(kwargs: dict[str, bool], expected: str) -> None:
    assert make_national_id(date(1965, 7, 15), 5, **kwargs) == expected


def test_make_national_id_refuses_an_individual_number_without_control_digit() -> None:
    with pytest.raises(ValueError, match=r"^no control digit 1 exists for individual number 003 on 1965-07-15$"):
        make_national_id(date(1965, 7, 15), 3, synthetic=False)


def test_make_national_id_refuses_an_individual_number_of_another_century() -> None:
    with pytest.raises(
        ValueError,
        match=r"^individual number 600 is not used for births in 1965 \(allowed: 000-499 or 900-999\)$",
    ):
        make_national_id(date(1965, 7, 15), 600)


def test_make_national_id_refuses_births_after_2039() -> None:
    with pytest.raises(ValueError, match=r"^birth year 2040 is outside 1854-2039$"):
        make_national_id(date(2040, 1, 1), 600)


@pytest.mark.parametrize("org_number", ["974760673", "310942081"])
def test_known_valid_org_numbers_pass(org_number: str) -> None:
    assert org_number_error(org_number) is None
    assert is_valid_org_number(org_number)


@pytest.mark.parametrize(
    ("org_number", "reason"),
    [
        ("97476067", "not 9 digits"),
        ("9747606733", "not 9 digits"),
        ("97476067x", "not 9 digits"),
        ("974760674", "control digit is 4, expected 3"),
        ("974760690", "control digit is 0, but no control digit fits the digits before it"),
    ],
)
def test_known_invalid_org_numbers_give_the_exact_reason(org_number: str, reason: str) -> None:
    assert org_number_error(org_number) == reason
    assert not is_valid_org_number(org_number)


def test_make_org_number_appends_the_control_digit() -> None:
    assert make_org_number("97476067") == "974760673"


@pytest.mark.parametrize(
    ("first_eight", "reason"),
    [
        ("97476069", "^no control digit exists for organisation number prefix 97476069$"),
        ("9747606", "^first_eight is not 8 digits$"),
    ],
)
def test_make_org_number_refuses_a_prefix_without_control_digit(first_eight: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        make_org_number(first_eight)


@pytest.mark.parametrize("hpr_number", ["1234567", "12345678", "123456789"])
def test_hpr_numbers_of_7_to_9_digits_are_well_formed(hpr_number: str) -> None:
    assert hpr_number_error(hpr_number) is None
    assert is_valid_hpr_number(hpr_number)


@pytest.mark.parametrize("hpr_number", ["123456", "1234567890", "12345a7", "", "1234 567"])
def test_hpr_numbers_of_another_shape_are_refused(hpr_number: str) -> None:
    assert hpr_number_error(hpr_number) == "not 7 to 9 digits"
    assert not is_valid_hpr_number(hpr_number)


def test_public_api_is_exactly_dunder_all() -> None:
    public = sorted(
        name
        for name, value in vars(identifiers).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == identifiers.__name__
    )
    assert public == sorted(identifiers.__all__)
