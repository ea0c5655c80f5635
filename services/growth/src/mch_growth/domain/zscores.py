"""WHO z-scores for child anthropometry, vectorised over NumPy arrays.

The rules are WHO's (WHO Anthro for 0-5 years, AnthroPlus for the 2007 reference) with the
platform's conventions:

* age in whole days; months are ``age_days / 30.4375``;
* the 2006 standards for days 0-1856, the 2007 reference from day 1857 with L, M and S
  interpolated between whole months (weight-for-age to 120 months, length/height-for-age and
  BMI-for-age to 228 months); head circumference and weight-for-length/height stop at day 1856,
  arm circumference and the skinfolds cover days 91-1856;
* a standing measurement before 731 days gains 0.7 cm, a lying one from 731 days loses 0.7 cm;
  a standing measurement before 9 months is kept as given, uncorrected, and reported as an
  implausible position; with no age nothing is corrected;
* weight-for-length below 731 days, weight-for-height from 731 days; with no age the measured
  position decides, and with no position either, 87 cm does; the corrected value must lie in
  45.0-110.0 cm (length) or 65.0-120.0 cm (height); fractional lengths interpolate L, M and S
  between the two 0.1 cm rows around them;
* restricted tails beyond +/-3 SD for weight-for-age, weight-for-length/height, BMI-for-age,
  arm circumference and the skinfolds;
* bilateral oedema suppresses weight-for-age, weight-for-length/height and BMI-for-age;
  a measurement <= 0 gives no z-score;
* a z-score is flagged (still reported) when, rounded to 2 decimals, it lies outside
  ``FLAG_LIMITS``.

Full precision is kept throughout; ``round2`` is for presentation (and the flag test).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from mch_events.contracts.common import SexCode
from mch_growth.domain.reference import FloatArray, LmsTable, TableName, load_table

ENGINE_VERSION: Final = "1.0.0"
REFERENCE: Final = (
    "WHO Child Growth Standards 2006 (days 0-1856) + WHO Growth Reference 2007 (from day 1857)"
)

BoolArray = npt.NDArray[np.bool_]

Indicator = Literal["waz", "lhaz", "whz", "baz", "hcaz", "acaz", "tsaz", "ssaz"]
INDICATORS: Final[tuple[Indicator, ...]] = get_args(Indicator)

FLAG_LIMITS: Final[Mapping[Indicator, tuple[float, float]]] = {
    "waz": (-6.0, 5.0),
    "lhaz": (-6.0, 6.0),
    "whz": (-5.0, 5.0),
    "baz": (-5.0, 5.0),
    "hcaz": (-5.0, 5.0),
    "acaz": (-5.0, 5.0),
    "tsaz": (-5.0, 5.0),
    "ssaz": (-5.0, 5.0),
}

WhzTable = Literal["wfl", "wfh"]

LAST_2006_DAY: Final = 1856
"""The last day of the 2006 standards; the 2007 reference takes over from the next day."""
HEIGHT_FROM_DAY: Final = 731
"""The 2006 standards describe recumbent length before this day and standing height from it."""
POSITION_CORRECTION_CM: Final = 0.7
UNKNOWN_AGE_HEIGHT_FROM_CM: Final = 87.0

# 30.4375 days = 487/16 days, so months = 16 * days / 487 exactly in integers: whole months,
# the fraction between them and the "before 9 months" test never suffer rounding.
_MONTH_NUMERATOR: Final = 487
_MONTH_DENOMINATOR: Final = 16
_IMPLAUSIBLE_STANDING_BEFORE_MONTHS: Final = 9

# Lengths are matched on the 0.1 cm grid in tenths; anything this close to a grid line is on it
# (65.3 * 10 is 652.9999999999999 in binary floating point).
_GRID_TOLERANCE_TENTHS: Final = 1e-6

_AGE_TABLES: Final[dict[Indicator, tuple[TableName, TableName | None]]] = {
    "waz": ("who2006_wfa", "who2007_wfa"),
    "lhaz": ("who2006_lhfa", "who2007_hfa"),
    "baz": ("who2006_bfa", "who2007_bfa"),
    "hcaz": ("who2006_hcfa", None),
    "acaz": ("who2006_acfa", None),
    "tsaz": ("who2006_tsfa", None),
    "ssaz": ("who2006_ssfa", None),
}


class Sex(IntEnum):
    """The engine's sex: the row of the WHO tables (1 boys, 2 girls). Outside the engine sex is
    ``M`` or ``F`` (``of`` and ``code`` convert)."""

    MALE = 1
    FEMALE = 2

    @classmethod
    def of(cls, code: SexCode) -> Sex:
        return cls.MALE if code == "M" else cls.FEMALE

    @property
    def code(self) -> SexCode:
        return "M" if self is Sex.MALE else "F"


class Position(IntEnum):
    """How length/height was measured."""

    UNKNOWN = 0
    LYING = 1
    STANDING = 2


@dataclass(frozen=True, slots=True)
class ZScoreArrays:
    """Results for n children; NaN where a z-score is undefined."""

    z: Mapping[Indicator, FloatArray]
    flagged: Mapping[Indicator, BoolArray]
    length_height_cm: FloatArray
    """The measurement after the position correction, as used for every lookup and for BMI."""
    bmi: FloatArray
    whz_uses_height: BoolArray
    """Which table gave ``whz`` (True: weight-for-height); meaningful where ``whz`` is defined."""
    position_implausible: BoolArray

    def row(self, i: int) -> ZScores:
        z = {ind: _optional(self.z[ind][i]) for ind in INDICATORS}
        whz_table: WhzTable | None = None
        if z["whz"] is not None:
            whz_table = "wfh" if self.whz_uses_height[i] else "wfl"
        return ZScores(
            z=z,
            flagged=frozenset(ind for ind in INDICATORS if self.flagged[ind][i]),
            length_height_cm=_optional(self.length_height_cm[i]),
            bmi=_optional(self.bmi[i]),
            whz_table=whz_table,
            position_implausible=bool(self.position_implausible[i]),
        )


@dataclass(frozen=True, slots=True)
class Measurement:
    """One child visit. Weight in kg, lengths and circumferences in cm, skinfolds in mm."""

    sex: Sex
    age_days: int | None
    weight_kg: float | None = None
    length_height_cm: float | None = None
    position: Position = Position.UNKNOWN
    head_cm: float | None = None
    muac_cm: float | None = None
    triceps_mm: float | None = None
    subscapular_mm: float | None = None
    oedema: bool = False


@dataclass(frozen=True, slots=True)
class ZScores:
    """Results for one child, at full precision; ``None`` where a z-score is undefined."""

    z: Mapping[Indicator, float | None]
    flagged: frozenset[Indicator]
    length_height_cm: float | None
    bmi: float | None
    whz_table: WhzTable | None
    position_implausible: bool

    def valid(self, indicator: Indicator) -> float | None:
        """The z-score if it is defined and not flagged implausible, else ``None``."""
        return None if indicator in self.flagged else self.z[indicator]


def age_in_days(birth: date, visit: date) -> int:
    """Age as WHO counts it: the calendar difference in whole days."""
    return (visit - birth).days


def round2(values: FloatArray) -> FloatArray:
    """Z-scores as presented (and as the flag limits read them): 2 decimals, no negative zero."""
    rounded: FloatArray = np.round(values, 2) + 0.0
    return rounded


def shown(z: float | None) -> float | None:
    """One z-score as presented, by the same rounding as ``round2``."""
    return None if z is None else float(round2(np.array([z]))[0])


def compute_zscores(
    sex: npt.ArrayLike,
    age_days: npt.ArrayLike,
    *,
    weight_kg: npt.ArrayLike | None = None,
    length_height_cm: npt.ArrayLike | None = None,
    position: npt.ArrayLike | None = None,
    head_cm: npt.ArrayLike | None = None,
    muac_cm: npt.ArrayLike | None = None,
    triceps_mm: npt.ArrayLike | None = None,
    subscapular_mm: npt.ArrayLike | None = None,
    oedema: npt.ArrayLike | None = None,
) -> ZScoreArrays:
    """Z-scores for n children at once.

    ``sex`` holds 1 (male) or 2 (female); anything else yields no z-score. ``age_days`` holds
    completed days, NaN when unknown (a fraction is truncated); a negative age yields no
    z-score. Measurements are NaN when not taken. ``position`` holds ``Position`` codes.
    ``oedema`` holds booleans. Scalars are broadcast to the length of ``sex``.
    """
    sex_a = np.atleast_1d(np.asarray(sex))
    n = sex_a.shape[0]
    age = _floats(age_days, n)
    weight = _floats(weight_kg, n)
    raw_lh = _floats(length_height_cm, n)
    pos = np.broadcast_to(
        np.asarray(Position.UNKNOWN if position is None else position, dtype=np.int64), (n,)
    )
    has_oedema = np.broadcast_to(np.asarray(False if oedema is None else oedema, bool), (n,))

    with np.errstate(divide="ignore", invalid="ignore"):
        sex_ok = (sex_a == Sex.MALE) | (sex_a == Sex.FEMALE)
        age_known = np.isfinite(age)
        usable = sex_ok & ~(age_known & (age < 0))
        aged = usable & age_known
        sx = np.where(sex_ok, sex_a, Sex.MALE).astype(np.intp) - 1
        day = np.where(aged, np.floor(age), 0).astype(np.int64)

        lying = pos == Position.LYING
        standing = pos == Position.STANDING
        implausible = (
            aged
            & standing
            & (day * _MONTH_DENOMINATOR < _IMPLAUSIBLE_STANDING_BEFORE_MONTHS * _MONTH_NUMERATOR)
        )
        add = aged & standing & (day < HEIGHT_FROM_DAY) & ~implausible
        subtract = aged & lying & (day >= HEIGHT_FROM_DAY)
        lh = raw_lh + np.where(add, POSITION_CORRECTION_CM, 0.0)
        lh = lh - np.where(subtract, POSITION_CORRECTION_CM, 0.0)

        weight_ok = (weight > 0) & ~has_oedema
        lh_ok = (raw_lh > 0) & (lh > 0)
        bmi = np.where((weight > 0) & lh_ok, weight / np.square(lh / 100.0), np.nan)

        measures: dict[Indicator, tuple[FloatArray, BoolArray, bool]] = {
            "waz": (weight, weight_ok, True),
            "lhaz": (lh, lh_ok, False),
            "baz": (bmi, weight_ok & lh_ok, True),
            "hcaz": (*_positive(head_cm, n), False),
            "acaz": (*_positive(muac_cm, n), True),
            "tsaz": (*_positive(triceps_mm, n), True),
            "ssaz": (*_positive(subscapular_mm, n), True),
        }
        z: dict[Indicator, FloatArray] = {}
        for ind, (value, ok, restricted) in measures.items():
            table06, table07 = _AGE_TABLES[ind]
            lms = _lms_by_age(
                load_table(table06),
                None if table07 is None else load_table(table07),
                sx,
                day,
                aged & ok,
            )
            z[ind] = _zscore(value, lms, restricted=restricted)

        by_height = np.where(
            aged,
            day >= HEIGHT_FROM_DAY,
            np.where(lying | standing, standing, lh >= UNKNOWN_AGE_HEIGHT_FROM_CM),
        )
        in_2006 = ~aged | (day <= LAST_2006_DAY)
        whz_ok = usable & weight_ok & lh_ok & in_2006
        wfl = _zscore(
            weight,
            _lms_by_tenths(load_table("who2006_wfl"), sx, lh, whz_ok & ~by_height),
            restricted=True,
        )
        wfh = _zscore(
            weight,
            _lms_by_tenths(load_table("who2006_wfh"), sx, lh, whz_ok & by_height),
            restricted=True,
        )
        z["whz"] = np.where(by_height, wfh, wfl)

        ordered = {ind: z[ind] for ind in INDICATORS}
        flagged: dict[Indicator, BoolArray] = {}
        for ind, values in ordered.items():
            low, high = FLAG_LIMITS[ind]
            rounded = round2(values)
            flagged[ind] = (rounded < low) | (rounded > high)

    return ZScoreArrays(
        z=ordered,
        flagged=flagged,
        length_height_cm=np.where(lh_ok, lh, np.nan),
        bmi=bmi,
        whz_uses_height=by_height,
        position_implausible=implausible,
    )


def score_many(measurements: Sequence[Measurement]) -> list[ZScores]:
    """Z-scores for each measurement, computed in one vectorised pass."""
    result = compute_zscores(
        [m.sex for m in measurements],
        [_nan(m.age_days) for m in measurements],
        weight_kg=[_nan(m.weight_kg) for m in measurements],
        length_height_cm=[_nan(m.length_height_cm) for m in measurements],
        position=[m.position for m in measurements],
        head_cm=[_nan(m.head_cm) for m in measurements],
        muac_cm=[_nan(m.muac_cm) for m in measurements],
        triceps_mm=[_nan(m.triceps_mm) for m in measurements],
        subscapular_mm=[_nan(m.subscapular_mm) for m in measurements],
        oedema=[m.oedema for m in measurements],
    )
    return [result.row(i) for i in range(len(measurements))]


def score(measurement: Measurement) -> ZScores:
    """Z-scores for one measurement."""
    return score_many([measurement])[0]


LmsArrays = tuple[FloatArray, FloatArray, FloatArray]


def measurement_at(lms: LmsArrays, z: float) -> FloatArray:
    """The measurement that lies exactly ``z`` SD from the median: M * (1 + L*S*z) ** (1/L)."""
    lam, mu, sigma = lms
    values: FloatArray = mu * np.power(1.0 + lam * sigma * z, 1.0 / lam)
    return values


def value_at(lms: tuple[float, float, float], z: float) -> float:
    """``measurement_at`` for one row of L, M, S."""
    lam, mu, sigma = (np.array([v]) for v in lms)
    return float(measurement_at((lam, mu, sigma), z)[0])


def _lms_by_age(
    t2006: LmsTable,
    t2007: LmsTable | None,
    sx: npt.NDArray[np.intp],
    day: npt.NDArray[np.int64],
    ok: BoolArray,
) -> LmsArrays:
    """L, M, S for each child's age: the 2006 row of that day, or the 2007 reference between months."""
    n = day.shape[0]
    lam, mu, sigma = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    sel = ok & (day >= t2006.first) & (day <= t2006.last)
    col, g = day[sel] - t2006.first, sx[sel]
    lam[sel], mu[sel], sigma[sel] = t2006.L[g, col], t2006.M[g, col], t2006.S[g, col]
    if t2007 is not None:
        # The 2007 reference takes over the day after the 2006 standards end and reaches as far
        # as its own last month (120 months for weight, 228 for height and BMI).
        last_day = t2007.last * _MONTH_NUMERATOR // _MONTH_DENOMINATOR
        sel = ok & (day > t2006.last) & (day <= last_day)
        scaled = day[sel] * _MONTH_DENOMINATOR
        lo = scaled // _MONTH_NUMERATOR - t2007.first
        frac = (scaled % _MONTH_NUMERATOR) / _MONTH_NUMERATOR
        hi = np.minimum(lo + 1, t2007.last - t2007.first)
        g = sx[sel]
        for out, table in ((lam, t2007.L), (mu, t2007.M), (sigma, t2007.S)):
            out[sel] = table[g, lo] + frac * (table[g, hi] - table[g, lo])
    return lam, mu, sigma


def _lms_by_tenths(
    table: LmsTable, sx: npt.NDArray[np.intp], cm: FloatArray, ok: BoolArray
) -> LmsArrays:
    """L, M, S for a length or height, interpolated between the 0.1 cm rows around it."""
    n = cm.shape[0]
    lam, mu, sigma = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    tenths = cm * 10.0
    nearest = np.rint(tenths)
    on_grid = np.abs(tenths - nearest) < _GRID_TOLERANCE_TENTHS
    lo = np.where(on_grid, nearest, np.floor(tenths))
    frac = np.where(on_grid, 0.0, tenths - lo)
    sel = ok & (lo >= table.first) & ((lo < table.last) | ((lo == table.last) & on_grid))
    col = lo[sel].astype(np.intp) - table.first
    hi = np.minimum(col + 1, table.last - table.first)
    f, g = frac[sel], sx[sel]
    for out, values in ((lam, table.L), (mu, table.M), (sigma, table.S)):
        out[sel] = values[g, col] + f * (values[g, hi] - values[g, col])
    return lam, mu, sigma


def _zscore(x: FloatArray, lms: LmsArrays, *, restricted: bool) -> FloatArray:
    lam, mu, sigma = lms
    z: FloatArray = (np.power(x / mu, lam) - 1.0) / (lam * sigma)
    if restricted:
        # Beyond +/-3 SD the LMS curve is replaced by a straight line through SD3 (or SD-3) with
        # the slope of the 2-3 SD interval, so extreme weights do not explode the z-score.
        for side, beyond in ((1.0, z > 3.0), (-1.0, z < -3.0)):
            if beyond.any():
                row = (lam[beyond], mu[beyond], sigma[beyond])
                sd3, sd2 = measurement_at(row, 3.0 * side), measurement_at(row, 2.0 * side)
                z[beyond] = 3.0 * side + (x[beyond] - sd3) / ((sd3 - sd2) * side)
    return z


def _floats(values: npt.ArrayLike | None, n: int) -> FloatArray:
    if values is None:
        return np.full(n, np.nan)
    return np.broadcast_to(np.asarray(values, dtype=np.float64), (n,))


def _positive(values: npt.ArrayLike | None, n: int) -> tuple[FloatArray, BoolArray]:
    x = _floats(values, n)
    return x, x > 0


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _optional(value: np.float64) -> float | None:
    return float(value) if np.isfinite(value) else None
