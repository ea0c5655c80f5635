from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from mch_growth.domain.intake import (
    Reason,
    parse_date,
    parse_number,
    parse_oedema,
    parse_position,
    parse_sex,
    parse_sex_code,
    parse_visit,
)
from mch_growth.domain.zscores import Measurement, Position, Sex


def invalid(parse: Callable[[object], object], value: object) -> bool:
    try:
        parse(value)
    except ValueError:
        return True
    return False


@pytest.mark.parametrize(
    ("value", "sex"),
    [
        ("M", Sex.MALE),
        ("m", Sex.MALE),
        (" F ", Sex.FEMALE),
        ("male", Sex.MALE),
        ("FEMALE", Sex.FEMALE),
    ],
)
def test_sex_reads_the_platforms_spelling_and_its_aliases(value: object, sex: Sex) -> None:
    assert parse_sex_code(value) is sex
    assert parse_sex(value) is sex


@pytest.mark.parametrize(("value", "sex"), [(1, Sex.MALE), ("1", Sex.MALE), (" 2", Sex.FEMALE)])
def test_a_survey_file_may_give_who_anthro_codes(value: object, sex: Sex) -> None:
    assert parse_sex(value) is sex
    assert invalid(parse_sex_code, value)


@pytest.mark.parametrize("value", [3, "x", True, 1.0, "boy"])
def test_other_sexes_are_invalid(value: object) -> None:
    assert invalid(parse_sex, value)
    assert invalid(parse_sex_code, value)


def test_sex_comes_out_as_m_or_f() -> None:
    assert (Sex.MALE.code, Sex.FEMALE.code) == ("M", "F")
    assert (Sex.of("M"), Sex.of("F")) == (Sex.MALE, Sex.FEMALE)


@pytest.mark.parametrize(
    ("value", "position"),
    [("L", Position.LYING), ("lying", Position.LYING), ("h", Position.STANDING)],
)
def test_positions_read_their_aliases(value: str, position: Position) -> None:
    assert parse_position(value) is position


@pytest.mark.parametrize("value", ["2024-1-05", "20240105", "2024-02-30", 20240105])
def test_dates_must_be_yyyy_mm_dd(value: object) -> None:
    assert invalid(parse_date, value)


@pytest.mark.parametrize("value", ["nan", "inf", "1_5", "8,5", True, [8.5]])
def test_numbers_must_be_finite_and_plain(value: object) -> None:
    assert invalid(parse_number, value)


def test_empty_fields_are_not_given() -> None:
    assert parse_sex("") is None
    assert parse_sex_code(" ") is None
    assert parse_date(" ") is None
    assert parse_number(None) is None
    assert parse_position("") is Position.UNKNOWN
    assert parse_oedema("") is False
    assert parse_position("Standing") is Position.STANDING
    assert parse_oedema("Y") is True


def test_a_visit_keeps_its_good_fields_and_names_its_bad_ones() -> None:
    parsed = parse_visit(
        {
            "sex": "F",
            "birth_date": "2024-01-01",
            "visit_date": "2024-03-01",
            "weight_kg": "abc",
            "length_height_cm": 0,
            "measured": "sitting",
            "head_circumference_cm": 39.5,
            "oedema": "maybe",
        }
    )
    assert parsed.age_days == 60
    assert parsed.measurement == Measurement(Sex.FEMALE, 60, head_cm=39.5)
    assert parsed.reasons == (
        Reason.INVALID_MEASURED,
        Reason.NON_NUMERIC_WEIGHT,
        Reason.NON_POSITIVE_LENGTH,
        Reason.INVALID_OEDEMA,
    )


def test_a_visit_before_the_birth_has_no_age() -> None:
    parsed = parse_visit({"sex": "M", "birth_date": "2024-03-01", "visit_date": "2024-01-01"})
    assert parsed.age_days is None
    assert parsed.reasons == (Reason.VISIT_BEFORE_BIRTH,)
    assert parse_visit({}).reasons == (Reason.MISSING_SEX,)
    assert date(2024, 3, 1) == parse_date("2024-03-01")
