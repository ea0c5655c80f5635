"""Growth charts as SVG, drawn like the handbook's paper chart.

The WHO curves at -3, -2, 0, +2 and +3 SD come from the LMS tables (the value at z is
M * (1 + L*S*z) ** (1/L)). Age-based charts run from birth to 60 months with a mark at each year;
weight-for-length runs over 45-110 cm and weight-for-height over 65-120 cm. Boys' charts are
blue and girls' pink, as in the handbook: the band between -2 and +2 SD is tinted, the median is
the darkest line, and the +/-3 SD lines are red. The child's measurements are dots joined by a
line (``chart_points`` makes them from the child's visits). Text is Vietnamese by default, English
on request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from mch_growth.domain.reference import FloatArray, TableName, load_table
from mch_growth.domain.zscores import (
    HEIGHT_FROM_DAY,
    Measurement,
    Sex,
    ZScores,
    measurement_at,
    score_many,
)

ChartIndicator = Literal["wfa", "lhfa", "wfl", "wfh", "bfa", "hcfa"]
StatureChart = Literal["wfl", "wfh"]
Lang = Literal["vi", "en"]

DAYS_PER_MONTH: Final = 30.4375
AGE_CHART_MONTHS: Final = 60
CURVE_Z: Final = (-3, -2, 0, 2, 3)


@dataclass(frozen=True, slots=True)
class _Kind:
    table: TableName
    title: dict[Lang, str]
    y_label: dict[Lang, str]
    x_label: dict[Lang, str]
    by_age: bool
    span: Literal["0-5", "0-2", "2-5"] = "0-5"
    """The ages the chart is meant for, as on WHO's printed charts."""


_AGE_LABEL: Final[dict[Lang, str]] = {"vi": "Tuổi (tháng)", "en": "Age (months)"}
_WEIGHT_LABEL: Final[dict[Lang, str]] = {"vi": "Cân nặng (kg)", "en": "Weight (kg)"}

_KINDS: Final[dict[ChartIndicator, _Kind]] = {
    "wfa": _Kind(
        "who2006_wfa",
        {"vi": "Cân nặng theo tuổi", "en": "Weight-for-age"},
        _WEIGHT_LABEL,
        _AGE_LABEL,
        True,
    ),
    "lhfa": _Kind(
        "who2006_lhfa",
        {"vi": "Chiều dài/chiều cao theo tuổi", "en": "Length/height-for-age"},
        {"vi": "Chiều dài/chiều cao (cm)", "en": "Length/height (cm)"},
        _AGE_LABEL,
        True,
    ),
    "bfa": _Kind(
        "who2006_bfa",
        {"vi": "BMI theo tuổi", "en": "BMI-for-age"},
        {"vi": "BMI (kg/m²)", "en": "BMI (kg/m²)"},
        _AGE_LABEL,
        True,
    ),
    "hcfa": _Kind(
        "who2006_hcfa",
        {"vi": "Vòng đầu theo tuổi", "en": "Head circumference-for-age"},
        {"vi": "Vòng đầu (cm)", "en": "Head circumference (cm)"},
        _AGE_LABEL,
        True,
    ),
    "wfl": _Kind(
        "who2006_wfl",
        {"vi": "Cân nặng theo chiều dài", "en": "Weight-for-length"},
        _WEIGHT_LABEL,
        {"vi": "Chiều dài (cm)", "en": "Length (cm)"},
        False,
        "0-2",
    ),
    "wfh": _Kind(
        "who2006_wfh",
        {"vi": "Cân nặng theo chiều cao", "en": "Weight-for-height"},
        _WEIGHT_LABEL,
        {"vi": "Chiều cao (cm)", "en": "Height (cm)"},
        False,
        "2-5",
    ),
}

_TEXT: Final[dict[Lang, dict[str, str]]] = {
    "vi": {
        "boys": "Bé trai",
        "girls": "Bé gái",
        "subtitle 0-5": "Chuẩn tăng trưởng của WHO (2006), trẻ từ 0 đến 5 tuổi",
        "subtitle 0-2": "Chuẩn tăng trưởng của WHO (2006), trẻ từ 0 đến 2 tuổi",
        "subtitle 2-5": "Chuẩn tăng trưởng của WHO (2006), trẻ từ 2 đến 5 tuổi",
        "median": "Trung vị (0)",
        "sd2": "−2 SD và +2 SD",
        "band": "Vùng bình thường (−2 đến +2 SD)",
        "sd3": "−3 SD và +3 SD",
        "child": "Số đo của trẻ",
        "birth": "Sinh",
        "year": "{n} tuổi",
        "years": "{n} tuổi",
        "length": "Đo nằm",
        "height": "Đo đứng",
    },
    "en": {
        "boys": "Boys",
        "girls": "Girls",
        "subtitle 0-5": "WHO Child Growth Standards (2006), birth to 5 years",
        "subtitle 0-2": "WHO Child Growth Standards (2006), birth to 2 years",
        "subtitle 2-5": "WHO Child Growth Standards (2006), 2 to 5 years",
        "median": "Median (0)",
        "sd2": "−2 SD and +2 SD",
        "band": "Normal range (−2 to +2 SD)",
        "sd3": "−3 SD and +3 SD",
        "child": "Child's measurements",
        "birth": "Birth",
        "year": "{n} year",
        "years": "{n} years",
        "length": "Length (lying)",
        "height": "Height (standing)",
    },
}


@dataclass(frozen=True, slots=True)
class _Palette:
    band: str
    sd2: str
    median: str
    title: str


PALETTES: Final[dict[Sex, _Palette]] = {
    Sex.MALE: _Palette(band="#d4e8f7", sd2="#3d85c6", median="#0b3d91", title="#0b3d91"),
    Sex.FEMALE: _Palette(band="#fbdce9", sd2="#d5608f", median="#8e1b54", title="#8e1b54"),
}
SD3_COLOUR: Final = "#c0392b"
CHILD_COLOUR: Final = "#1b1b1b"
_GRID_MINOR: Final = "#e6e6e6"
_GRID_MAJOR: Final = "#b3b3b3"
_FONT: Final = "'Noto Sans', 'DejaVu Sans', Arial, sans-serif"

_WIDTH: Final = 1000
_HEIGHT: Final = 720
_LEFT, _RIGHT, _TOP, _BOTTOM = 80.0, 940.0, 92.0, 620.0


def render_chart(
    indicator: ChartIndicator,
    sex: Sex | int,
    points: Sequence[tuple[float, float]],
    lang: Lang = "vi",
) -> str:
    """An SVG growth chart with the child's ``points``.

    Each point is ``(age_days, value)`` on an age-based chart and ``(length_cm, weight_kg)`` on
    weight-for-length/height; points outside the chart's range are left out.
    """
    kind = _KINDS[indicator]
    sex = Sex(sex)
    text = _TEXT[lang]
    palette = PALETTES[sex]
    xs, curves = _curves(kind, sex)
    x_min, x_max = (0.0, float(AGE_CHART_MONTHS)) if kind.by_age else (float(xs[0]), float(xs[-1]))
    child = sorted(
        (_chart_x(kind, x), y)
        for x, y in points
        if math.isfinite(x) and math.isfinite(y) and y > 0 and x_min <= _chart_x(kind, x) <= x_max
    )
    y_low = min([float(curves[-3].min())] + [y for _, y in child])
    y_high = max([float(curves[3].max())] + [y for _, y in child])
    y_step = _nice_step(y_high - y_low)
    y_min = math.floor(y_low / y_step) * y_step
    y_max = math.ceil(y_high / y_step) * y_step
    plot = _Plot(x_min, x_max, y_min, y_max)

    sex_name = text["boys"] if sex is Sex.MALE else text["girls"]
    title = f"{kind.title[lang]} — {sex_name}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" aria-label={quoteattr(title)} '
        f'font-family="{_FONT}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{_WIDTH}" height="{_HEIGHT}" fill="#ffffff"/>',
        _text(_WIDTH / 2, 38, title, size=24, weight="bold", fill=palette.title),
        _text(_WIDTH / 2, 64, text[f"subtitle {kind.span}"], size=14, fill="#555555"),
        f'<rect x="{_LEFT}" y="{_TOP}" width="{_RIGHT - _LEFT}" height="{_BOTTOM - _TOP}" '
        f'fill="#ffffff"/>',
    ]
    band = np.concatenate([curves[2], curves[-2][::-1]])
    band_x = np.concatenate([xs, xs[::-1]])
    parts.append(
        f'<path class="band" d="{_path(plot, band_x, band)} Z" fill="{palette.band}" stroke="none"/>'
    )
    parts += _grid(plot, kind, y_step, text)
    for z in CURVE_Z:
        colour, width = _curve_style(palette, z)
        parts.append(
            f'<path class="curve" data-z="{z}" d="{_path(plot, xs, curves[z])}" fill="none" '
            f'stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"/>'
        )
        label = "0" if z == 0 else f"{'+' if z > 0 else '−'}{abs(z)}"
        parts.append(
            _text(
                _RIGHT + 8,
                plot.y(float(curves[z][-1])) + 5,
                label,
                size=14,
                weight="bold",
                fill=colour,
                anchor="start",
            )
        )
    parts.append(
        f'<rect x="{_LEFT}" y="{_TOP}" width="{_RIGHT - _LEFT}" height="{_BOTTOM - _TOP}" '
        f'fill="none" stroke="#555555" stroke-width="1.2"/>'
    )
    parts += _child(plot, child)
    parts += _legend(palette, text)
    parts.append(
        _text((_LEFT + _RIGHT) / 2, _HEIGHT - 22, kind.x_label[lang], size=16, weight="bold")
    )
    mid_y = (_TOP + _BOTTOM) / 2
    parts.append(
        f'<text x="24" y="{mid_y:.1f}" font-size="16" font-weight="bold" fill="#222222" '
        f'text-anchor="middle" transform="rotate(-90 24 {mid_y:.1f})">'
        f"{escape(kind.y_label[lang])}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def stature_chart(age_days: int) -> StatureChart:
    """Weight-for-length before 731 days, weight-for-height from then: the day the standards
    change from lying length to standing height."""
    return "wfl" if age_days < HEIGHT_FROM_DAY else "wfh"


def chart_points(
    indicator: ChartIndicator, visits: Sequence[Measurement]
) -> list[tuple[float, float]]:
    """A child's visits as the points ``render_chart`` takes, in the visits' order.

    Lengths and heights are plotted after the position correction, as the engine scores them, so
    a point sits where its z-score puts it. A weight taken with oedema is left out, as the engine
    leaves out its z-scores. Weight-for-length takes the visits before 731 days and
    weight-for-height those from 731 days (``stature_chart``). Visits without an age, or without
    the measurement, give no point.
    """
    points = []
    for visit, scores in zip(visits, score_many(visits), strict=True):
        point = None if visit.age_days is None else _point(indicator, visit, visit.age_days, scores)
        if point is not None:
            points.append(point)
    return points


def _point(
    indicator: ChartIndicator, visit: Measurement, age_days: int, scores: ZScores
) -> tuple[float, float] | None:
    weight = None if visit.oedema else visit.weight_kg
    stature = scores.length_height_cm
    if indicator in ("wfl", "wfh"):
        if stature_chart(age_days) != indicator or weight is None or stature is None:
            return None
        return stature, weight
    value = {
        "wfa": weight,
        "lhfa": stature,
        "bfa": None if visit.oedema else scores.bmi,
        "hcfa": visit.head_cm,
    }[indicator]
    return None if value is None else (float(age_days), value)


def _curve_style(palette: _Palette, z: int) -> tuple[str, float]:
    """Colour and width of the curve at ``z`` SD: the median strongest, +/-3 SD in red."""
    if z == 0:
        return palette.median, 2.8
    if abs(z) == 3:
        return SD3_COLOUR, 2.0
    return palette.sd2, 1.6


@dataclass(frozen=True, slots=True)
class _Plot:
    x_min: float
    x_max: float
    y_min: float
    y_max: float

    def x(self, value: float) -> float:
        return _LEFT + (value - self.x_min) / (self.x_max - self.x_min) * (_RIGHT - _LEFT)

    def y(self, value: float) -> float:
        return _BOTTOM - (value - self.y_min) / (self.y_max - self.y_min) * (_BOTTOM - _TOP)


def _chart_x(kind: _Kind, x: float) -> float:
    return x / DAYS_PER_MONTH if kind.by_age else x


def _curves(kind: _Kind, sex: Sex) -> tuple[FloatArray, dict[int, FloatArray]]:
    """The x positions (months or cm) and the value of each SD curve there."""
    table = load_table(kind.table)
    if kind.by_age:
        last_day = math.floor(AGE_CHART_MONTHS * DAYS_PER_MONTH)
        # Every third day draws a smooth curve; days 730 and 731 keep the step where the
        # standards switch from lying length to standing height.
        days = np.unique(np.concatenate([np.arange(0, last_day, 3), [730, 731, last_day]]))
        cols = days - table.first
        xs = days / DAYS_PER_MONTH
    else:
        cols = np.arange(0, table.last - table.first + 1, 5)
        xs = (table.first + cols) / 10.0
    row = int(sex) - 1
    lms = (table.L[row, cols], table.M[row, cols], table.S[row, cols])
    return xs, {z: measurement_at(lms, z) for z in CURVE_Z}


def _nice_step(span: float) -> float:
    """A gridline step that gives 8 to 20 horizontal lines."""
    for step in (0.5, 1.0, 2.0, 5.0, 10.0, 20.0):
        if span / step <= 20:
            return step
    return 50.0


def _path(plot: _Plot, xs: FloatArray, ys: FloatArray) -> str:
    coords = [f"{plot.x(float(x)):.1f},{plot.y(float(y)):.1f}" for x, y in zip(xs, ys, strict=True)]
    return "M" + " L".join(coords)


def _grid(plot: _Plot, kind: _Kind, y_step: float, text: dict[str, str]) -> list[str]:
    parts: list[str] = []
    minor = y_step / 2
    count = round((plot.y_max - plot.y_min) / minor)
    for i in range(count + 1):
        value = plot.y_min + i * minor
        y = plot.y(value)
        major = i % 2 == 0
        parts.append(_line(_LEFT, y, _RIGHT, y, _GRID_MAJOR if major else _GRID_MINOR))
        if major:
            label = f"{value:g}"
            parts.append(_text(_LEFT - 8, y + 4, label, size=12, anchor="end"))
    if kind.by_age:
        for month in range(AGE_CHART_MONTHS + 1):
            x = plot.x(month)
            year = month % 12 == 0
            colour, width = ("#808080", 1.4) if year else (_GRID_MINOR, 1.0)
            parts.append(_line(x, _TOP, x, _BOTTOM, colour, width))
            if month % 2 == 0:
                parts.append(_text(x, _BOTTOM + 18, str(month), size=11))
            if year:
                mark = _year_mark(month // 12, text)
                parts.append(_text(x, _BOTTOM + 40, mark, size=13, weight="bold", fill="#333333"))
        if kind.table == "who2006_lhfa":
            y = _BOTTOM - 12
            parts.append(_text(plot.x(12), y, text["length"], size=13, fill="#555555"))
            parts.append(_text(plot.x(42), y, text["height"], size=13, fill="#555555"))
    else:
        for cm in range(math.ceil(plot.x_min), math.floor(plot.x_max) + 1):
            x = plot.x(cm)
            major = cm % 5 == 0
            parts.append(_line(x, _TOP, x, _BOTTOM, _GRID_MAJOR if major else _GRID_MINOR))
            if major:
                parts.append(_text(x, _BOTTOM + 18, str(cm), size=12))
    return parts


def _year_mark(years: int, text: dict[str, str]) -> str:
    if years == 0:
        return text["birth"]
    return (text["year"] if years == 1 else text["years"]).format(n=years)


def _child(plot: _Plot, child: list[tuple[float, float]]) -> list[str]:
    if not child:
        return []
    parts = []
    if len(child) > 1:
        xs = np.array([x for x, _ in child])
        ys = np.array([y for _, y in child])
        parts.append(
            f'<path class="child-line" d="{_path(plot, xs, ys)}" fill="none" '
            f'stroke="{CHILD_COLOUR}" stroke-width="2"/>'
        )
    for x, y in child:
        parts.append(
            f'<circle class="child-point" cx="{plot.x(x):.1f}" cy="{plot.y(y):.1f}" r="4.5" '
            f'fill="{CHILD_COLOUR}" stroke="#ffffff" stroke-width="1.5"/>'
        )
    return parts


def _legend(palette: _Palette, text: dict[str, str]) -> list[str]:
    x, y = _LEFT + 16, _TOP + 16
    rows = [
        ("band", text["band"]),
        ("median", text["median"]),
        ("sd2", text["sd2"]),
        ("sd3", text["sd3"]),
        ("child", text["child"]),
    ]
    width = 24 + 10 + max(len(label) for _, label in rows) * 7.4 + 16
    parts = [
        f'<g class="legend"><rect x="{x}" y="{y}" width="{width:.0f}" height="{len(rows) * 22 + 12}" '
        f'fill="#ffffff" fill-opacity="0.92" stroke="#999999" rx="4"/>'
    ]
    for i, (key, label) in enumerate(rows):
        cy = y + 18 + i * 22
        sx = x + 10
        if key == "band":
            parts.append(
                f'<rect x="{sx}" y="{cy - 7}" width="24" height="14" fill="{palette.band}" '
                f'stroke="{palette.sd2}" stroke-width="1"/>'
            )
        elif key == "child":
            parts.append(_line(sx, cy, sx + 24, cy, CHILD_COLOUR, 2.0))
            parts.append(f'<circle cx="{sx + 12}" cy="{cy}" r="4.5" fill="{CHILD_COLOUR}"/>')
        else:
            colour, line_width = _curve_style(palette, {"median": 0, "sd2": 2, "sd3": 3}[key])
            parts.append(_line(sx, cy, sx + 24, cy, colour, line_width))
        parts.append(_text(sx + 34, cy + 4.5, label, size=13, anchor="start"))
    parts.append("</g>")
    return parts


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1.0) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{colour}" stroke-width="{width}"/>'
    )


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: int,
    weight: str = "normal",
    fill: str = "#222222",
    anchor: str = "middle",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}" text-anchor="{anchor}">{escape(content)}</text>'
    )
