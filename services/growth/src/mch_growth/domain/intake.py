"""Reading one visit's raw fields (CSV text or JSON values) into engine inputs, with reasons.

The CSV scorer and the HTTP API read the same fields with the same rules, so a row and a JSON
item that say the same thing get the same z-scores and the same reasons; only a survey file may
also give sex as WHO Anthro's 1/2, the API speaks the platform's M/F. A bad field is treated as
not given and named in the reasons; the rest of the visit is still scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from mch_events.contracts.common import position_code, sex_code
from mch_growth.domain.zscores import Measurement, Position, Sex, age_in_days


class Reason(StrEnum):
    """Why a row or item is not (fully) usable."""

    INVALID_ITEM = "invalid_item"
    WRONG_FIELD_COUNT = "wrong_field_count"
    MISSING_SEX = "missing_sex"
    INVALID_SEX = "invalid_sex"
    INVALID_DATE = "invalid_date"
    VISIT_BEFORE_BIRTH = "visit_before_birth"
    INVALID_MEASURED = "invalid_measured"
    NON_NUMERIC_WEIGHT = "non_numeric_weight"
    NON_POSITIVE_WEIGHT = "non_positive_weight"
    NON_NUMERIC_LENGTH = "non_numeric_length"
    NON_POSITIVE_LENGTH = "non_positive_length"
    NON_NUMERIC_HEAD = "non_numeric_head"
    NON_POSITIVE_HEAD = "non_positive_head"
    NON_NUMERIC_MUAC = "non_numeric_muac"
    NON_POSITIVE_MUAC = "non_positive_muac"
    INVALID_OEDEMA = "invalid_oedema"
    IMPLAUSIBLE_POSITION = "implausible_position"
    """Measured standing before 9 months: kept as given, without the 0.7 cm correction."""


_ANTHRO_SEXES: Final[dict[str, Sex]] = {"1": Sex.MALE, "2": Sex.FEMALE}
_OEDEMA: Final[dict[str, bool]] = {
    "": False,
    "n": False,
    "no": False,
    "false": False,
    "0": False,
    "y": True,
    "yes": True,
    "true": True,
    "1": True,
}

# (field, reason when not a number, reason when <= 0)
NUMBER_FIELDS: Final[dict[str, tuple[Reason, Reason]]] = {
    "weight_kg": (Reason.NON_NUMERIC_WEIGHT, Reason.NON_POSITIVE_WEIGHT),
    "length_height_cm": (Reason.NON_NUMERIC_LENGTH, Reason.NON_POSITIVE_LENGTH),
    "head_circumference_cm": (Reason.NON_NUMERIC_HEAD, Reason.NON_POSITIVE_HEAD),
    "muac_cm": (Reason.NON_NUMERIC_MUAC, Reason.NON_POSITIVE_MUAC),
}


def parse_sex_code(value: object) -> Sex | None:
    """M/F or male/female (any case), the platform's spelling; ``None`` when empty. Raises
    ``ValueError`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return Sex.of(sex_code(value))


def parse_sex(value: object) -> Sex | None:
    """What ``parse_sex_code`` reads, and WHO Anthro's 1/2 of a survey file; ``None`` when
    empty. Raises ``ValueError`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | str | None):
        raise ValueError(value)
    anthro = _ANTHRO_SEXES.get(str(value).strip())
    return anthro if anthro is not None else parse_sex_code(value)


def parse_date(value: object) -> date | None:
    """A ``YYYY-MM-DD`` date; ``None`` when empty. Raises ``ValueError`` otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(value)
    text = value.strip()
    if not text:
        return None
    # fromisoformat alone would also take "20240105" or week dates.
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(value)
    return date.fromisoformat(text)


def parse_position(value: object) -> Position:
    """L/H or lying/standing (any case); unknown when empty. Raises ``ValueError`` otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return Position.UNKNOWN
    return Position.LYING if position_code(value) == "lying" else Position.STANDING


def parse_number(value: object) -> float | None:
    """A finite number (or its text); ``None`` when empty. Raises ``ValueError`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if "_" in value:  # float() would read "1_5" as 15
            raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def parse_oedema(value: object) -> bool:
    """y/n, yes/no, true/false, 1/0 or a JSON boolean; no oedema when empty."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if not isinstance(value, str | int):
        raise ValueError(value)
    found = _OEDEMA.get(str(value).strip().lower())
    if found is None:
        raise ValueError(value)
    return found


def age_from_dates(birth: date | None, visit: date | None) -> tuple[int | None, Reason | None]:
    """Age in days when both dates are known, with a reason when the visit precedes the birth."""
    if birth is None or visit is None:
        return None, None
    age = age_in_days(birth, visit)
    if age < 0:
        return None, Reason.VISIT_BEFORE_BIRTH
    return age, None


@dataclass(frozen=True, slots=True)
class ParsedVisit:
    """A visit read from raw fields: the measurement (``None`` without a valid sex), the age
    (``None`` unless both dates are valid and in order) and the reasons."""

    measurement: Measurement | None
    age_days: int | None
    reasons: tuple[Reason, ...]


def parse_visit(fields: Mapping[str, object]) -> ParsedVisit:
    """Read one visit from its fields (the CSV column names, JSON-typed or as text). Sex is
    read as everywhere on the platform (``parse_sex_code``)."""
    reasons: list[Reason] = []
    sex = _read_sex(fields, reasons)
    birth, visit = _read_dates(fields, reasons)
    age, age_reason = age_from_dates(birth, visit)
    if age_reason is not None:
        reasons.append(age_reason)
    try:
        position = parse_position(fields.get("measured"))
    except ValueError:
        position = Position.UNKNOWN
        reasons.append(Reason.INVALID_MEASURED)
    numbers = _read_numbers(fields, reasons)
    try:
        oedema = parse_oedema(fields.get("oedema"))
    except ValueError:
        oedema = False
        reasons.append(Reason.INVALID_OEDEMA)
    if sex is None:
        return ParsedVisit(None, age, tuple(reasons))
    measurement = Measurement(
        sex=sex,
        age_days=age,
        weight_kg=numbers["weight_kg"],
        length_height_cm=numbers["length_height_cm"],
        position=position,
        head_cm=numbers["head_circumference_cm"],
        muac_cm=numbers["muac_cm"],
        oedema=oedema,
    )
    return ParsedVisit(measurement, age, tuple(reasons))


# The readers below append to ``reasons`` what is wrong with the field(s) they read.


def _read_sex(fields: Mapping[str, object], reasons: list[Reason]) -> Sex | None:
    try:
        sex = parse_sex_code(fields.get("sex"))
    except ValueError:
        reasons.append(Reason.INVALID_SEX)
        return None
    if sex is None:
        reasons.append(Reason.MISSING_SEX)
    return sex


def _read_dates(
    fields: Mapping[str, object], reasons: list[Reason]
) -> tuple[date | None, date | None]:
    """The birth and visit dates; one reason however many are invalid."""
    dates: list[date | None] = []
    for name in ("birth_date", "visit_date"):
        try:
            dates.append(parse_date(fields.get(name)))
        except ValueError:
            dates.append(None)
            if Reason.INVALID_DATE not in reasons:
                reasons.append(Reason.INVALID_DATE)
    return dates[0], dates[1]


def _read_numbers(fields: Mapping[str, object], reasons: list[Reason]) -> dict[str, float | None]:
    numbers: dict[str, float | None] = {}
    for name, (non_numeric, non_positive) in NUMBER_FIELDS.items():
        try:
            number = parse_number(fields.get(name))
        except ValueError:
            number = None
            reasons.append(non_numeric)
        if number is not None and number <= 0:
            number = None
            reasons.append(non_positive)
        numbers[name] = number
    return numbers
