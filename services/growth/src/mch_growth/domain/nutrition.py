"""Nutrition status from z-scores, the assessment of one visit, and growth faltering between visits.

Cut-offs (WHO, as the reporting indicators use them), on full-precision z-scores that are defined
and not flagged implausible:

* underweight: weight-for-age < -2 SD moderate, < -3 SD severe;
* stunting: length/height-for-age < -2 SD moderate, < -3 SD severe;
* wasting: weight-for-length/height < -2 SD moderate, < -3 SD severe;
* overweight: weight-for-length/height > +2 SD moderate (WHO "overweight"), > +3 SD severe
  (WHO "obese");
* Vietnam's grades of malnutrition (suy dinh dưỡng độ I, II, III) on weight-for-age:
  grade I below -2 SD, grade II below -3 SD, grade III below -4 SD; grade 0 is not malnourished.

Bilateral oedema leaves the weight-based z-scores undefined, yet WHO counts such a child below
-3 SD: underweight and wasting are then severe, overweight cannot be judged, and the Vietnamese
grade (which needs the z-score to tell II from III) is left undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from mch_growth.domain.zscores import (
    ENGINE_VERSION,
    HEIGHT_FROM_DAY,
    REFERENCE,
    Measurement,
    ZScores,
    score_many,
)

MONTHLY_INTERVAL_DAYS: Final = range(21, 46)
"""Two visits count as a month apart when 21 to 45 days separate them."""
TWO_YEARS_DAYS: Final = HEIGHT_FROM_DAY
"""Under 2 years is younger than 731 days, the same line the standards draw for length."""


class Severity(StrEnum):
    NORMAL = "normal"
    MODERATE = "moderate"
    SEVERE = "severe"


@dataclass(frozen=True, slots=True)
class NutritionStatus:
    """``None`` where the status cannot be judged (no valid z-score)."""

    underweight: Severity | None
    stunting: Severity | None
    wasting: Severity | None
    overweight: Severity | None
    vn_grade: int | None
    """Vietnam's malnutrition grade: 0 (none), 1, 2 or 3."""


@dataclass(frozen=True, slots=True)
class Assessment:
    """One visit scored: z-scores, flags, nutrition status, and what produced them."""

    measurement: Measurement
    scores: ZScores
    status: NutritionStatus
    reference: str = REFERENCE
    engine_version: str = ENGINE_VERSION


def classify(scores: ZScores, *, oedema: bool = False) -> NutritionStatus:
    """Nutrition status from one visit's z-scores."""
    waz, lhaz, whz = scores.valid("waz"), scores.valid("lhaz"), scores.valid("whz")
    if oedema:
        return NutritionStatus(
            underweight=Severity.SEVERE,
            stunting=_below(lhaz),
            wasting=Severity.SEVERE,
            overweight=None,
            vn_grade=None,
        )
    return NutritionStatus(
        underweight=_below(waz),
        stunting=_below(lhaz),
        wasting=_below(whz),
        overweight=_above(whz),
        vn_grade=None if waz is None else _vn_grade(waz),
    )


def assess_many(measurements: Sequence[Measurement]) -> list[Assessment]:
    """Assess many visits in one vectorised pass of the z-score engine."""
    return [
        Assessment(measurement=m, scores=s, status=classify(s, oedema=m.oedema))
        for m, s in zip(measurements, score_many(measurements), strict=True)
    ]


def assess(measurement: Measurement) -> Assessment:
    """Assess one child visit."""
    return assess_many([measurement])[0]


class FalteringKind(StrEnum):
    WEIGHT_LOSS = "weight_loss"
    NO_WEIGHT_GAIN = "no_weight_gain"


@dataclass(frozen=True, slots=True)
class Weighing:
    """A child's weight at an age (completed days); weights taken with oedema do not belong here."""

    age_days: int
    weight_kg: float


@dataclass(frozen=True, slots=True)
class Faltering:
    kind: FalteringKind
    days_between: int
    weight_change_kg: float


def detect_faltering(previous: Weighing, current: Weighing) -> Faltering | None:
    """Growth faltering between two consecutive weighings of one child, or ``None``.

    This is the handbook's reading of the weight curve between two points:

    * weight lost (the curve goes down) at any age and over any interval is faltering;
    * no weight gain (the curve stays flat) is faltering for a child under 2 years (current age
      below 731 days, the standards' own two-year line) when the two visits are monthly, that is
      21 to 45 days apart (a monthly schedule with a week or two of slack either way). Over a
      shorter interval a flat weight means little; over a longer one the visits are not monthly.

    Weights are compared in whole grams so that equal readings compare equal.
    Raises ``ValueError`` when ``current`` is not later than ``previous``.
    """
    days = current.age_days - previous.age_days
    if days <= 0:
        raise ValueError(
            f"the current weighing (day {current.age_days}) must come after "
            f"the previous one (day {previous.age_days})"
        )
    change_g = round(current.weight_kg * 1000) - round(previous.weight_kg * 1000)
    if change_g < 0:
        kind = FalteringKind.WEIGHT_LOSS
    elif change_g == 0 and days in MONTHLY_INTERVAL_DAYS and current.age_days < TWO_YEARS_DAYS:
        kind = FalteringKind.NO_WEIGHT_GAIN
    else:
        return None
    return Faltering(kind=kind, days_between=days, weight_change_kg=change_g / 1000)


def _below(z: float | None) -> Severity | None:
    if z is None:
        return None
    if z < -3:
        return Severity.SEVERE
    return Severity.MODERATE if z < -2 else Severity.NORMAL


def _above(z: float | None) -> Severity | None:
    if z is None:
        return None
    if z > 3:
        return Severity.SEVERE
    return Severity.MODERATE if z > 2 else Severity.NORMAL


def _vn_grade(waz: float) -> int:
    if waz < -4:
        return 3
    if waz < -3:
        return 2
    return 1 if waz < -2 else 0
