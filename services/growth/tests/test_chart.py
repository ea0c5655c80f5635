from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from mch_growth.domain.chart import (
    PALETTES,
    SD3_COLOUR,
    chart_points,
    render_chart,
    stature_chart,
)
from mch_growth.domain.zscores import Measurement, Position, Sex

SVG = "{http://www.w3.org/2000/svg}"
POINTS = [(0, 3.3), (61, 5.6), (183, 7.9), (365, 9.6), (730, 12.2), (1095, 14.3)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def curve_ys(root: ET.Element) -> dict[int, list[float]]:
    curves = {}
    for path in root.iter(f"{SVG}path"):
        if path.get("class") == "curve":
            coords = re.findall(r"[\d.]+,([\d.]+)", path.get("d", ""))
            curves[int(path.get("data-z", ""))] = [float(y) for y in coords]
    return curves


def test_wfa_boy_in_vietnamese_reads_like_the_paper_chart() -> None:
    root = parse(render_chart("wfa", Sex.MALE, POINTS))
    words = texts(root)
    assert "Cân nặng theo tuổi — Bé trai" in words
    assert "Tuổi (tháng)" in words
    assert "Cân nặng (kg)" in words
    assert {"Sinh", "1 tuổi", "2 tuổi", "5 tuổi"} <= set(words)
    assert {"Trung vị (0)", "Số đo của trẻ"} <= set(words)
    assert {"0", "12", "60"} <= set(words)  # month ticks


def test_english_labels() -> None:
    words = texts(parse(render_chart("wfa", Sex.FEMALE, POINTS, lang="en")))
    assert "Weight-for-age — Girls" in words
    assert {"Age (months)", "Weight (kg)", "Birth", "1 year", "2 years", "Median (0)"} <= set(words)


def test_the_five_curves_are_drawn_in_order() -> None:
    curves = curve_ys(parse(render_chart("wfa", Sex.MALE, [])))
    assert sorted(curves) == [-3, -2, 0, 2, 3]
    # SVG's y grows downwards: at every age -3 SD lies below -2 SD, and so on up to +3 SD.
    for lower, upper in ((-3, -2), (-2, 0), (0, 2), (2, 3)):
        assert all(a > b for a, b in zip(curves[lower], curves[upper], strict=True))
    # Weight rises with age: the median ends higher on the page than it starts.
    assert curves[0][-1] < curves[0][0]


def test_the_childs_points_are_dots_joined_by_a_line() -> None:
    outside = (2000, 20.0)  # beyond 60 months: not on this chart
    root = parse(render_chart("wfa", Sex.MALE, [*POINTS, outside]))
    dots = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "child-point"]
    assert len(dots) == len(POINTS)
    lines = [p for p in root.iter(f"{SVG}path") if p.get("class") == "child-line"]
    assert len(lines) == 1
    assert lines[0].get("d", "").count("L") == len(POINTS) - 1
    # Dots go left to right with age.
    xs = [float(c.get("cx", "")) for c in dots]
    assert xs == sorted(xs)


@pytest.mark.parametrize(("sex", "other"), [(Sex.MALE, Sex.FEMALE), (Sex.FEMALE, Sex.MALE)])
def test_boys_are_blue_and_girls_pink(sex: Sex, other: Sex) -> None:
    svg = render_chart("wfa", sex, POINTS)
    own, foreign = PALETTES[sex], PALETTES[other]
    assert f'fill="{own.band}"' in svg
    assert f'stroke="{own.median}"' in svg
    assert foreign.band not in svg
    assert foreign.median not in svg
    assert svg.count(f'stroke="{SD3_COLOUR}"') >= 2


def test_band_colours_are_blue_for_boys_and_pink_for_girls() -> None:
    def rgb(colour: str) -> tuple[int, int, int]:
        return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))

    red, _, blue = rgb(PALETTES[Sex.MALE].band)
    assert blue > red
    red, _, blue = rgb(PALETTES[Sex.FEMALE].band)
    assert red > blue


@pytest.mark.parametrize(
    ("indicator", "first", "last", "axis"),
    [("wfl", "45", "110", "Chiều dài (cm)"), ("wfh", "65", "120", "Chiều cao (cm)")],
)
def test_weight_for_length_and_height_span_their_tables(
    indicator: str, first: str, last: str, axis: str
) -> None:
    root = parse(render_chart(indicator, 2, [(80.0, 10.0)]))  # type: ignore[arg-type]
    words = texts(root)
    assert {first, last, axis} <= set(words)
    assert sum(c.get("class") == "child-point" for c in root.iter(f"{SVG}circle")) == 1


@pytest.mark.parametrize(
    ("indicator", "title", "axis"),
    [
        ("lhfa", "Chiều dài/chiều cao theo tuổi — Bé gái", "Chiều dài/chiều cao (cm)"),
        ("bfa", "BMI theo tuổi — Bé gái", "BMI (kg/m²)"),
        ("hcfa", "Vòng đầu theo tuổi — Bé gái", "Vòng đầu (cm)"),
    ],
)
def test_other_age_charts(indicator: str, title: str, axis: str) -> None:
    words = texts(parse(render_chart(indicator, Sex.FEMALE, [])))  # type: ignore[arg-type]
    assert title in words
    assert axis in words


VISITS = [
    Measurement(Sex.MALE, 300, weight_kg=8.0, length_height_cm=70.0, position=Position.LYING),
    Measurement(Sex.MALE, 600, weight_kg=10.0, length_height_cm=80.0, position=Position.STANDING),
    Measurement(Sex.MALE, 620, weight_kg=11.0, length_height_cm=81.0, oedema=True, head_cm=47.0),
    Measurement(Sex.MALE, 800, weight_kg=12.0, length_height_cm=86.0, position=Position.LYING),
    Measurement(Sex.MALE, None, weight_kg=12.5, length_height_cm=87.0, head_cm=48.0),
]


@pytest.mark.parametrize(
    ("indicator", "points"),
    [
        # Weights taken with oedema are left out, as the engine leaves out their z-scores.
        ("wfa", [(300, 8.0), (600, 10.0), (800, 12.0)]),
        # After the position correction: +0.7 cm standing before 731 days, -0.7 lying from then.
        ("lhfa", [(300, 70.0), (600, 80.7), (620, 81.0), (800, 85.3)]),
        ("bfa", [(300, 8.0 / 0.7**2), (600, 10.0 / 0.807**2), (800, 12.0 / 0.853**2)]),
        ("hcfa", [(620, 47.0)]),
        # Length before 731 days, height from then.
        ("wfl", [(70.0, 8.0), (80.7, 10.0)]),
        ("wfh", [(85.3, 12.0)]),
    ],
)
def test_chart_points_are_the_visits_as_scored(
    indicator: str, points: list[tuple[float, float]]
) -> None:
    got = chart_points(indicator, VISITS)  # type: ignore[arg-type]
    assert got == [pytest.approx(p) for p in points]


def test_weight_for_length_until_2_years_then_weight_for_height() -> None:
    assert (stature_chart(0), stature_chart(730)) == ("wfl", "wfl")
    assert (stature_chart(731), stature_chart(1856)) == ("wfh", "wfh")
