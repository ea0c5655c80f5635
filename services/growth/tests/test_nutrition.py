from __future__ import annotations

import pytest

from mch_growth.domain.nutrition import (
    Faltering,
    FalteringKind,
    NutritionStatus,
    Severity,
    Weighing,
    assess,
    classify,
    detect_faltering,
)
from mch_growth.domain.zscores import (
    ENGINE_VERSION,
    INDICATORS,
    REFERENCE,
    Indicator,
    Measurement,
    Position,
    Sex,
    ZScores,
)

NORMAL, MODERATE, SEVERE = Severity.NORMAL, Severity.MODERATE, Severity.SEVERE


def scores(flagged: frozenset[Indicator] = frozenset(), **z: float) -> ZScores:
    values: dict[Indicator, float | None] = dict.fromkeys(INDICATORS)
    values.update(z)  # type: ignore[arg-type]  # the keyword names are indicators
    return ZScores(
        z=values,
        flagged=flagged,
        length_height_cm=None,
        bmi=None,
        whz_table=None,
        position_implausible=False,
    )


@pytest.mark.parametrize(
    ("waz", "underweight", "grade"),
    [
        (0.5, NORMAL, 0),
        (-2.0, NORMAL, 0),  # the cut-off is "below -2"
        (-2.001, MODERATE, 1),
        (-3.0, MODERATE, 1),
        (-3.001, SEVERE, 2),
        (-4.0, SEVERE, 2),
        (-4.001, SEVERE, 3),
    ],
)
def test_weight_for_age_gives_underweight_and_the_vietnamese_grade(
    waz: float, underweight: Severity, grade: int
) -> None:
    status = classify(scores(waz=waz))
    assert status.underweight == underweight
    assert status.vn_grade == grade


@pytest.mark.parametrize(
    ("lhaz", "stunting"), [(-1.99, NORMAL), (-2.01, MODERATE), (-3.01, SEVERE)]
)
def test_length_for_age_gives_stunting(lhaz: float, stunting: Severity) -> None:
    assert classify(scores(lhaz=lhaz)).stunting == stunting


@pytest.mark.parametrize(
    ("whz", "wasting", "overweight"),
    [
        (0.0, NORMAL, NORMAL),
        (-2.01, MODERATE, NORMAL),
        (-3.01, SEVERE, NORMAL),
        (2.0, NORMAL, NORMAL),  # "above +2"
        (2.01, NORMAL, MODERATE),
        (3.0, NORMAL, MODERATE),
        (3.01, NORMAL, SEVERE),
    ],
)
def test_weight_for_length_gives_wasting_and_overweight(
    whz: float, wasting: Severity, overweight: Severity
) -> None:
    status = classify(scores(whz=whz))
    assert (status.wasting, status.overweight) == (wasting, overweight)


def test_missing_or_flagged_z_scores_cannot_be_judged() -> None:
    status = classify(scores(frozenset({"waz", "whz"}), waz=-6.5, whz=5.5))
    assert status == NutritionStatus(None, None, None, None, None)


def test_oedema_counts_as_severe_underweight_and_wasting() -> None:
    status = classify(scores(lhaz=-2.5), oedema=True)
    assert status == NutritionStatus(
        underweight=SEVERE, stunting=MODERATE, wasting=SEVERE, overweight=None, vn_grade=None
    )


def test_assess_scores_and_classifies_one_visit() -> None:
    # A boy of 400 days, 7.3 kg, 70.0 cm lying.
    # wfa boys 400: L 0.0552, M 9.9065, S 0.10953; lhfa boys 400: L 1, M 77.0812, S 0.03157;
    # wfl boys 70.0: L -0.3521, M 8.4227, S 0.08229
    waz = ((7.3 / 9.9065) ** 0.0552 - 1) / (0.0552 * 0.10953)  # -2.76
    lhaz = (70.0 / 77.0812 - 1) / 0.03157  # -2.91
    whz = ((7.3 / 8.4227) ** -0.3521 - 1) / (-0.3521 * 0.08229)  # -1.78
    visit = Measurement(Sex.MALE, 400, 7.3, 70.0, Position.LYING)
    result = assess(visit)
    assert result.measurement == visit
    assert result.scores.z["waz"] == pytest.approx(waz, rel=1e-12)
    assert result.scores.z["lhaz"] == pytest.approx(lhaz, rel=1e-12)
    assert result.scores.z["whz"] == pytest.approx(whz, rel=1e-12)
    assert result.status == NutritionStatus(
        underweight=MODERATE, stunting=MODERATE, wasting=NORMAL, overweight=NORMAL, vn_grade=1
    )
    assert (result.reference, result.engine_version) == (REFERENCE, ENGINE_VERSION)


# --- faltering -----------------------------------------------------------------------------


def test_weight_lost_is_faltering_at_any_age_and_interval() -> None:
    assert detect_faltering(Weighing(300, 8.5), Weighing(330, 8.4)) == Faltering(
        FalteringKind.WEIGHT_LOSS, 30, -0.1
    )
    lost_late = detect_faltering(Weighing(1200, 14.0), Weighing(1400, 13.8))
    assert lost_late is not None
    assert lost_late.kind == FalteringKind.WEIGHT_LOSS


@pytest.mark.parametrize(
    ("previous_day", "current_day", "faltering"),
    [
        (300, 320, False),  # 20 days: too close to say
        (300, 321, True),  # 21 days: monthly
        (300, 345, True),  # 45 days: monthly
        (300, 346, False),  # 46 days: no longer monthly
        (700, 730, True),  # still under 2 years
        (701, 731, False),  # 2 years old
    ],
)
def test_no_weight_gain_between_monthly_visits_under_2_years(
    previous_day: int, current_day: int, faltering: bool
) -> None:
    found = detect_faltering(Weighing(previous_day, 9.2), Weighing(current_day, 9.2))
    if faltering:
        assert found == Faltering(FalteringKind.NO_WEIGHT_GAIN, current_day - previous_day, 0.0)
    else:
        assert found is None


def test_weights_are_compared_in_grams() -> None:
    assert detect_faltering(Weighing(300, 8.1), Weighing(330, 8.1000000001)) == Faltering(
        FalteringKind.NO_WEIGHT_GAIN, 30, 0.0
    )
    assert detect_faltering(Weighing(300, 8.1), Weighing(330, 8.12)) is None


def test_weighings_must_be_in_order() -> None:
    with pytest.raises(ValueError, match="must come after"):
        detect_faltering(Weighing(330, 8.5), Weighing(330, 8.6))
