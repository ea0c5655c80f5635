"""The z-score rules, each pinned by a case computed by hand from the table rows it uses.

Every expected value below is written out from the L, M, S of the CSV row(s) named in the
comment, with WHO's formulas:
    z = ((X / M) ** L - 1) / (L * S)            (LMS)
    SD(k) = M * (1 + L * S * k) ** (1 / L)      (the measurement at k SD)
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mch_growth.domain.zscores import (
    ENGINE_VERSION,
    REFERENCE,
    Indicator,
    Measurement,
    Position,
    Sex,
    ZScores,
    compute_zscores,
    round2,
    score,
    score_many,
    shown,
    value_at,
)

LYING, STANDING, UNKNOWN = Position.LYING, Position.STANDING, Position.UNKNOWN
BOY, GIRL = Sex.MALE, Sex.FEMALE


def lms_z(x: float, lam: float, mu: float, sigma: float) -> float:
    return float(((x / mu) ** lam - 1) / (lam * sigma))


def at_sd(k: float, lam: float, mu: float, sigma: float) -> float:
    return float(mu * (1 + lam * sigma * k) ** (1 / lam))


def visit(sex: Sex = BOY, age: int | None = None, **fields: object) -> ZScores:
    return score(Measurement(sex=sex, age_days=age, **fields))  # type: ignore[arg-type]


def close(value: float | None, expected: float) -> bool:
    return value is not None and math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-12)


# --- restricted tails (weight-for-age, boys, day 365: L 0.0645, M 9.646, S 0.10925) ---------

WFA_BOY_365 = (0.0645, 9.646, 0.10925)


def test_weight_beyond_plus_3_sd_follows_the_straight_tail() -> None:
    lam, mu, sigma = WFA_BOY_365
    sd3 = mu * (1 + lam * sigma * 3) ** (1 / lam)
    sd2 = mu * (1 + lam * sigma * 2) ** (1 / lam)
    expected = 3 + (15.0 - sd3) / (sd3 - sd2)
    assert lms_z(15.0, *WFA_BOY_365) > 3
    assert abs(expected - lms_z(15.0, *WFA_BOY_365)) > 0.05  # the tail really differs

    assert close(visit(BOY, 365, weight_kg=15.0).z["waz"], expected)


def test_weight_below_minus_3_sd_follows_the_straight_tail() -> None:
    lam, mu, sigma = WFA_BOY_365
    sd_minus3 = mu * (1 - lam * sigma * 3) ** (1 / lam)
    sd_minus2 = mu * (1 - lam * sigma * 2) ** (1 / lam)
    expected = -3 + (6.0 - sd_minus3) / (sd_minus2 - sd_minus3)
    assert lms_z(6.0, *WFA_BOY_365) < -3
    assert abs(expected - lms_z(6.0, *WFA_BOY_365)) > 0.05

    assert close(visit(BOY, 365, weight_kg=6.0).z["waz"], expected)


def test_weight_within_3_sd_uses_the_lms_formula() -> None:
    assert close(visit(BOY, 365, weight_kg=9.0).z["waz"], lms_z(9.0, *WFA_BOY_365))


# --- lying / standing -----------------------------------------------------------------------


def test_standing_before_731_days_adds_0_7_cm() -> None:
    # 75.0 cm standing at day 400 is read as 75.7 cm lying.
    # lhfa boys day 400: L 1, M 77.0812, S 0.03157; wfl boys 75.7: L -0.3521, M 9.644, S 0.08303
    result = visit(BOY, 400, weight_kg=9.0, length_height_cm=75.0, position=STANDING)
    assert result.length_height_cm == pytest.approx(75.7, abs=1e-12)
    assert close(result.z["lhaz"], (75.7 / 77.0812 - 1) / 0.03157)
    assert close(result.z["whz"], lms_z(9.0, -0.3521, 9.644, 0.08303))
    assert result.whz_table == "wfl"
    assert not result.position_implausible


def test_lying_from_731_days_subtracts_0_7_cm_and_bmi_uses_the_corrected_height() -> None:
    # 88.0 cm lying at day 800 is read as 87.3 cm standing.
    # lhfa boys day 800: L 1, M 89.0391, S 0.03586; wfh boys 87.3: L -0.3521, M 12.2382, S 0.08082
    # bfa boys day 800: L -0.5402, M 15.9306, S 0.07802
    result = visit(BOY, 800, weight_kg=12.0, length_height_cm=88.0, position=LYING)
    bmi = 12.0 / 0.873**2
    assert result.bmi == pytest.approx(bmi, rel=1e-12)
    assert close(result.z["lhaz"], (87.3 / 89.0391 - 1) / 0.03586)
    assert close(result.z["whz"], lms_z(12.0, -0.3521, 12.2382, 0.08082))
    assert result.whz_table == "wfh"
    assert close(result.z["baz"], lms_z(bmi, -0.5402, 15.9306, 0.07802))


def test_position_that_suits_the_age_or_is_unknown_is_not_corrected() -> None:
    # lhfa boys day 800: L 1, M 89.0391, S 0.03586; day 400: L 1, M 77.0812, S 0.03157
    for position in (STANDING, UNKNOWN):
        result = visit(BOY, 800, length_height_cm=88.0, position=position)
        assert close(result.z["lhaz"], (88.0 / 89.0391 - 1) / 0.03586)
    for position in (LYING, UNKNOWN):
        result = visit(BOY, 400, length_height_cm=75.0, position=position)
        assert close(result.z["lhaz"], (75.0 / 77.0812 - 1) / 0.03157)


def test_standing_before_9_months_is_kept_as_given_and_flagged_implausible() -> None:
    # Day 273 is 8.97 months: no correction. lhfa boys day 273: L 1, M 71.9273, S 0.03117
    early = visit(BOY, 273, length_height_cm=70.0, position=STANDING)
    assert early.position_implausible
    assert early.length_height_cm == 70.0
    assert close(early.z["lhaz"], (70.0 / 71.9273 - 1) / 0.03117)
    # Day 274 is 9.002 months: corrected as usual. lhfa boys day 274: L 1, M 71.9714, S 0.03117
    later = visit(BOY, 274, length_height_cm=70.0, position=STANDING)
    assert not later.position_implausible
    assert close(later.z["lhaz"], (70.7 / 71.9714 - 1) / 0.03117)


# --- weight-for-length / height: table edges, interpolation, choice ------------------------


def test_weight_for_length_covers_45_0_to_110_0_cm_inclusive() -> None:
    # wfl boys 45.0: L -0.3521, M 2.441, S 0.09182; 110.0: L -0.3521, M 18.2689, S 0.08755
    low = visit(BOY, 100, weight_kg=2.5, length_height_cm=45.0, position=LYING)
    high = visit(BOY, 700, weight_kg=18.0, length_height_cm=110.0, position=LYING)
    assert close(low.z["whz"], lms_z(2.5, -0.3521, 2.441, 0.09182))
    assert close(high.z["whz"], lms_z(18.0, -0.3521, 18.2689, 0.08755))
    for outside in (44.9, 44.95, 110.05, 110.1):
        result = visit(BOY, 100, weight_kg=5.0, length_height_cm=outside, position=LYING)
        assert result.z["whz"] is None
        assert result.whz_table is None


def test_weight_for_height_covers_65_0_to_120_0_cm_inclusive() -> None:
    # wfh boys 65.0: L -0.3521, M 7.4327, S 0.08217; 120.0: L -0.3521, M 22.353, S 0.09424
    low = visit(BOY, 800, weight_kg=7.5, length_height_cm=65.0, position=STANDING)
    high = visit(BOY, 1800, weight_kg=22.0, length_height_cm=120.0, position=STANDING)
    assert close(low.z["whz"], lms_z(7.5, -0.3521, 7.4327, 0.08217))
    assert close(high.z["whz"], lms_z(22.0, -0.3521, 22.353, 0.09424))
    for outside in (64.9, 64.95, 120.05, 120.1):
        result = visit(BOY, 800, weight_kg=10.0, length_height_cm=outside, position=STANDING)
        assert result.z["whz"] is None


def test_fractional_length_interpolates_l_m_s_between_the_two_rows() -> None:
    # 65.35 cm lies half-way between wfl boys 65.3 (L -0.3521, M 7.338, S 0.0822)
    # and 65.4 (L -0.3521, M 7.3617, S 0.08219).
    mu = 7.338 + 0.5 * (7.3617 - 7.338)
    sigma = 0.0822 + 0.5 * (0.08219 - 0.0822)
    result = visit(BOY, 300, weight_kg=7.4, length_height_cm=65.35, position=LYING)
    assert math.isclose(result.z["whz"] or 0.0, lms_z(7.4, -0.3521, mu, sigma), rel_tol=1e-9)


def test_a_length_on_the_grid_uses_its_row_even_off_by_a_floating_point_hair() -> None:
    # 66.1 - 0.7 is 65.39999999999999 in binary: it must still be row 65.4 of wfh boys
    # (L -0.3521, M 7.5269, S 0.08214), not a blend of rows 65.3 and 65.4.
    assert 66.1 - 0.7 != 65.4
    result = visit(BOY, 800, weight_kg=7.6, length_height_cm=66.1, position=LYING)
    assert close(result.z["whz"], lms_z(7.6, -0.3521, 7.5269, 0.08214))
    # Just outside a table edge by one unit in the last place is still the edge row.
    # wfl boys 45.0: L -0.3521, M 2.441, S 0.09182; 110.0: L -0.3521, M 18.2689, S 0.08755
    below_45 = float(np.nextafter(45.0, 0.0))
    above_110 = float(np.nextafter(110.0, 200.0))
    low = visit(BOY, 100, weight_kg=2.5, length_height_cm=below_45, position=LYING)
    high = visit(BOY, 700, weight_kg=18.0, length_height_cm=above_110, position=LYING)
    assert close(low.z["whz"], lms_z(2.5, -0.3521, 2.441, 0.09182))
    assert close(high.z["whz"], lms_z(18.0, -0.3521, 18.2689, 0.08755))


def test_unknown_age_gives_only_weight_for_length_or_height_chosen_by_position() -> None:
    # Lying 90.0 cm uses wfl girls 90.0 (L -0.3833, M 12.4723, S 0.08906) although >= 87 cm;
    # standing 80.0 cm uses wfh girls 80.0 (L -0.3833, M 10.2332, S 0.08932), uncorrected.
    lying = visit(GIRL, None, weight_kg=12.0, length_height_cm=90.0, position=LYING, head_cm=48.0)
    standing = visit(GIRL, None, weight_kg=10.0, length_height_cm=80.0, position=STANDING)
    assert close(lying.z["whz"], lms_z(12.0, -0.3833, 12.4723, 0.08906))
    assert lying.whz_table == "wfl"
    assert close(standing.z["whz"], lms_z(10.0, -0.3833, 10.2332, 0.08932))
    assert standing.whz_table == "wfh"
    for ind in ("waz", "lhaz", "baz", "hcaz"):
        assert lying.z[ind] is None
    assert lying.bmi == pytest.approx(12.0 / 0.9**2)


def test_unknown_age_and_position_choose_by_87_cm() -> None:
    # wfl girls 86.9: L -0.3833, M 11.6948, S 0.08895; wfh girls 87.0: L -0.3833, M 11.8965,
    # S 0.08896
    below = visit(GIRL, None, weight_kg=11.5, length_height_cm=86.9)
    at = visit(GIRL, None, weight_kg=11.5, length_height_cm=87.0)
    assert below.whz_table == "wfl"
    assert close(below.z["whz"], lms_z(11.5, -0.3833, 11.6948, 0.08895))
    assert at.whz_table == "wfh"
    assert close(at.z["whz"], lms_z(11.5, -0.3833, 11.8965, 0.08896))


# --- the 2006 -> 2007 hand-over and the age limits --------------------------------------------


def test_day_1856_uses_the_2006_standards() -> None:
    # wfa boys 1856: L -0.1534, M 18.4968, S 0.1358; lhfa: L 1, M 110.4969, S 0.04226;
    # hcfa: L 1, M 50.7752, S 0.02948; wfh boys 110.0: L -0.3521, M 18.5158, S 0.088;
    # bfa boys 1856: L -0.7235, M 15.184, S 0.0874
    r = visit(BOY, 1856, weight_kg=18.0, length_height_cm=110.0, position=STANDING, head_cm=50.0)
    assert close(r.z["waz"], lms_z(18.0, -0.1534, 18.4968, 0.1358))
    assert close(r.z["lhaz"], (110.0 / 110.4969 - 1) / 0.04226)
    assert close(r.z["hcaz"], (50.0 / 50.7752 - 1) / 0.02948)
    assert close(r.z["whz"], lms_z(18.0, -0.3521, 18.5158, 0.088))
    assert close(r.z["baz"], lms_z(18.0 / 1.1**2, -0.7235, 15.184, 0.0874))


def test_day_1857_uses_the_2007_reference_between_months_61_and_62() -> None:
    # 1857 / 30.4375 = 61 + 5/487 months.
    f = 5 / 487
    assert 1857 * 16 == 61 * 487 + 5
    # who2007 boys, month 61 and 62:
    #   wfa L -0.2026/-0.213,  M 18.5057/18.6802,  S 0.12988/0.13028
    #   hfa L 1/1,             M 110.2647/110.8006, S 0.04164/0.04172
    #   bfa L -0.7387/-0.7621, M 15.2641/15.2616,  S 0.0839/0.08414
    wfa = (-0.2026 + f * (-0.213 + 0.2026), 18.5057 + f * (18.6802 - 18.5057), 0.12988 + f * 0.0004)
    hfa_m, hfa_s = 110.2647 + f * (110.8006 - 110.2647), 0.04164 + f * (0.04172 - 0.04164)
    bfa = (
        -0.7387 + f * (-0.7621 + 0.7387),
        15.2641 + f * (15.2616 - 15.2641),
        0.0839 + f * 0.00024,
    )
    r = visit(BOY, 1857, weight_kg=18.0, length_height_cm=110.0, position=STANDING, head_cm=50.0)
    assert close(r.z["waz"], lms_z(18.0, *wfa))
    assert close(r.z["lhaz"], (110.0 / hfa_m - 1) / hfa_s)
    assert close(r.z["baz"], lms_z(18.0 / 1.1**2, *bfa))
    assert r.z["hcaz"] is None  # head circumference stops with the 2006 standards
    assert r.z["whz"] is None  # so does weight-for-height


def test_a_whole_month_reads_its_2007_row_exactly() -> None:
    # Day 1948 is exactly 64 months: who2007 wfa boys 64: L -0.2338, M 19.034, S 0.13105.
    assert close(visit(BOY, 1948, weight_kg=19.0).z["waz"], lms_z(19.0, -0.2338, 19.034, 0.13105))


def test_2007_limits_weight_to_120_months_and_height_to_228_months() -> None:
    # Day 3652 is 119.98 months, day 3653 is 120.02; day 6939 is 227.98, day 6940 is 228.01.
    # who2007 wfa girls 119/120: L -0.595/-0.5958, M 31.5319/31.8578, S 0.17224/0.17262
    f = (3652 * 16 - 119 * 487) / 487
    wfa = (-0.595 + f * (-0.0008), 31.5319 + f * (31.8578 - 31.5319), 0.17224 + f * 0.00038)
    assert close(visit(GIRL, 3652, weight_kg=30.0).z["waz"], lms_z(30.0, *wfa))
    assert visit(GIRL, 3653, weight_kg=30.0).z["waz"] is None
    # who2007 hfa girls 227/228: L 1, M 163.1534/163.1548, S 0.04012/0.04009
    g = (6939 * 16 - 227 * 487) / 487
    mu, sigma = 163.1534 + g * 0.0014, 0.04012 + g * (0.04009 - 0.04012)
    assert close(visit(GIRL, 6939, length_height_cm=160.0).z["lhaz"], (160.0 / mu - 1) / sigma)
    assert visit(GIRL, 6940, length_height_cm=160.0).z["lhaz"] is None


def test_arm_circumference_and_skinfolds_start_at_day_91() -> None:
    # acfa boys day 91: L 0.3933, M 13.4779, S 0.07474
    assert visit(BOY, 90, muac_cm=13.0).z["acaz"] is None
    assert close(visit(BOY, 91, muac_cm=13.0).z["acaz"], lms_z(13.0, 0.3933, 13.4779, 0.07474))


# --- oedema, bad measurements, bad sex or age ------------------------------------------------


def test_oedema_suppresses_only_the_weight_based_z_scores() -> None:
    # lhfa girls 500: L 1, M 79.0642, S 0.03564; hcfa: L 1, M 45.9499, S 0.02997;
    # acfa: L -0.1733, M 14.3962, S 0.08171
    fields = {
        "weight_kg": 9.0,
        "length_height_cm": 79.0,
        "position": LYING,
        "head_cm": 46.0,
        "muac_cm": 14.0,
    }
    with_oedema = visit(GIRL, 500, oedema=True, **fields)
    assert with_oedema.z["waz"] is None
    assert with_oedema.z["whz"] is None
    assert with_oedema.z["baz"] is None
    assert close(with_oedema.z["lhaz"], (79.0 / 79.0642 - 1) / 0.03564)
    assert close(with_oedema.z["hcaz"], (46.0 / 45.9499 - 1) / 0.02997)
    assert close(with_oedema.z["acaz"], lms_z(14.0, -0.1733, 14.3962, 0.08171))
    without = visit(GIRL, 500, **fields)
    assert all(without.z[ind] is not None for ind in ("waz", "whz", "baz"))


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_a_measurement_of_zero_or_less_gives_no_z_score(bad: float) -> None:
    no_weight = visit(GIRL, 500, weight_kg=bad, length_height_cm=79.0, position=LYING)
    assert (no_weight.z["waz"], no_weight.z["whz"], no_weight.z["baz"]) == (None, None, None)
    assert no_weight.z["lhaz"] is not None
    no_length = visit(GIRL, 500, weight_kg=9.0, length_height_cm=bad, position=LYING)
    assert (no_length.z["lhaz"], no_length.z["whz"], no_length.z["baz"]) == (None, None, None)
    assert no_length.z["waz"] is not None
    no_rest = visit(GIRL, 500, head_cm=bad, muac_cm=bad, triceps_mm=bad, subscapular_mm=bad)
    assert all(no_rest.z[ind] is None for ind in ("hcaz", "acaz", "tsaz", "ssaz"))


def test_invalid_sex_or_negative_age_gives_nothing() -> None:
    fields = {"weight_kg": 9.0, "length_height_cm": 79.0, "position": LYING}
    result = compute_zscores([0, 3, 2], [500.0, 500.0, -1.0], **fields)
    for values in result.z.values():
        assert np.isnan(values).all()


# --- flags -------------------------------------------------------------------------------------

# Girls at day 500 (wfh: standing at day 800, 85.0 cm): the row of each indicator.
ROWS: dict[Indicator, tuple[float, float, float]] = {
    "waz": (-0.2515, 9.9023, 0.12304),  # wfa girls 500
    "lhaz": (1.0, 79.0642, 0.03564),  # lhfa girls 500
    "whz": (-0.3833, 11.3934, 0.08896),  # wfh girls 85.0
    "baz": (-0.4711, 15.8612, 0.08683),  # bfa girls 500
    "hcaz": (1.0, 45.9499, 0.02997),  # hcfa girls 500
    "acaz": (-0.1733, 14.3962, 0.08171),  # acfa girls 500
    "tsaz": (-0.1649, 7.7565, 0.20356),  # tsfa girls 500
    "ssaz": (-0.5653, 6.2892, 0.18508),  # ssfa girls 500
}
RESTRICTED = {"waz", "whz", "baz", "acaz", "tsaz", "ssaz"}
LIMITS: dict[Indicator, tuple[float, float]] = {
    "waz": (-6, 5),
    "lhaz": (-6, 6),
    "whz": (-5, 5),
    "baz": (-5, 5),
    "hcaz": (-5, 5),
    "acaz": (-5, 5),
    "tsaz": (-5, 5),
    "ssaz": (-5, 5),
}


def measurement_at(indicator: Indicator, z: float) -> float:
    """The measurement that the row of ``indicator`` puts at ``z`` (the formulas inverted)."""
    lam, mu, sigma = ROWS[indicator]
    if indicator not in RESTRICTED or abs(z) <= 3:
        return at_sd(z, lam, mu, sigma)
    side = 1 if z > 0 else -1
    sd3, sd2 = at_sd(3 * side, lam, mu, sigma), at_sd(2 * side, lam, mu, sigma)
    return sd3 + (z - 3 * side) * (sd3 - sd2) * side


def visit_at(indicator: Indicator, z: float) -> ZScores:
    x = measurement_at(indicator, z)
    if indicator == "whz":
        return visit(GIRL, 800, weight_kg=x, length_height_cm=85.0, position=STANDING)
    if indicator == "baz":
        return visit(GIRL, 500, weight_kg=x * 0.79**2, length_height_cm=79.0, position=LYING)
    field = {
        "waz": "weight_kg",
        "lhaz": "length_height_cm",
        "hcaz": "head_cm",
        "acaz": "muac_cm",
        "tsaz": "triceps_mm",
        "ssaz": "subscapular_mm",
    }[indicator]
    position = LYING if indicator == "lhaz" else UNKNOWN
    return visit(GIRL, 500, position=position, **{field: x})


@pytest.mark.parametrize("indicator", sorted(LIMITS))
@pytest.mark.parametrize("side", [0, 1])
def test_flag_limits_apply_to_the_z_score_rounded_to_2_decimals(
    indicator: Indicator, side: int
) -> None:
    limit = LIMITS[indicator][side]
    outward = 1 if side else -1
    # limit +/- 0.004 rounds onto the limit (not flagged); +/- 0.006 rounds past it (flagged).
    inside = visit_at(indicator, limit + outward * 0.004)
    outside = visit_at(indicator, limit + outward * 0.006)
    assert inside.z[indicator] == pytest.approx(limit + outward * 0.004, abs=1e-9)
    assert indicator not in inside.flagged
    assert outside.z[indicator] == pytest.approx(limit + outward * 0.006, abs=1e-9)
    assert indicator in outside.flagged
    assert outside.valid(indicator) is None
    assert outside.z[indicator] is not None  # a flagged z-score is still reported


# --- presentation and identity -----------------------------------------------------------------


def test_rounding_is_for_presentation_only() -> None:
    assert shown(-0.004) == 0.0
    assert math.copysign(1.0, shown(-0.004) or 1.0) == 1.0  # no negative zero
    assert shown(1.235001) == 1.24
    assert shown(None) is None
    assert list(round2(np.array([1.005001, np.nan]))[:1]) == [1.01]
    full = visit(BOY, 365, weight_kg=9.0).z["waz"]
    assert full is not None
    assert full != round(full, 2)  # the engine keeps full precision


def test_vector_and_scalar_paths_agree() -> None:
    visits = [
        Measurement(BOY, 400, 9.0, 75.0, STANDING, 46.0),
        Measurement(GIRL, None, 11.5, 86.9),
        Measurement(GIRL, 3000, 25.0, 125.0, STANDING),
    ]
    assert score_many(visits) == [score(v) for v in visits]


def test_value_at_gives_the_measurement_at_a_z_score() -> None:
    # wfa boys 365: L 0.0645, M 9.646, S 0.10925
    assert value_at(WFA_BOY_365, 0.0) == pytest.approx(9.646)
    assert value_at(WFA_BOY_365, 2.0) == pytest.approx(at_sd(2.0, *WFA_BOY_365))
    assert lms_z(value_at(WFA_BOY_365, -1.5), *WFA_BOY_365) == pytest.approx(-1.5)


def test_results_can_name_what_produced_them() -> None:
    assert ENGINE_VERSION
    assert "2006" in REFERENCE
    assert "2007" in REFERENCE
    assert "1857" in REFERENCE
