"""Growth indicators: each child once per period at its latest measurement, numerators and
denominators summed up the tree in force on the contact's date, the ratio last."""

from __future__ import annotations

import datetime as dt

import pytest

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_reporting.domain.growth_indicators import (
    Child,
    Measured,
    growth_indicators,
    under_five,
)
from mch_reporting.domain.indicators import IndicatorValue
from mch_reporting.domain.periods import parse_period

START = dt.date(2020, 1, 1)
REFORM = dt.date(2025, 7, 1)


def unit(
    code: str, level: str, parent: str | None, frm: dt.date = START, to: dt.date | None = None
) -> OrgUnit:
    return OrgUnit(code=code, name=code, level=level, parent=parent, valid_from=frm, valid_to=to)


TREE = OrgTree(
    [
        unit("VN", "national", None),
        unit("38", "province", "VN"),
        unit("404", "district", "38", to=REFORM),
        unit("40401", "commune", "404", to=REFORM),
        unit("40402", "commune", "404", to=REFORM),
        unit("38004", "commune", "38", frm=REFORM),
        unit("38005", "commune", "38", frm=REFORM),
        unit("TYT-38004", "facility", "38004", frm=REFORM),
        unit("BV-38", "facility", "38"),
    ]
)


def measured(
    child: str,
    day: dt.date,
    residence: str,
    *,
    waz: float | None = 0.0,
    lhaz: float | None = 0.0,
    whz: float | None = 0.0,
    oedema: bool = False,
    facility: str = "TYT-38004",
    born: dt.date = dt.date(2025, 1, 1),
) -> Measured:
    return Measured(
        child_id=child,
        visit_id=f"{child}-{day}",
        visit_date=day,
        birth_date=born,
        residence=residence,
        facility=facility,
        waz=waz,
        lhaz=lhaz,
        whz=whz,
        oedema=oedema,
    )


def child(code: str, residence: str, born: dt.date = dt.date(2025, 1, 1)) -> Child:
    return Child(
        child_id=code, birth_date=born, registered_on=born, residences=((None, residence),)
    )


def values(
    orgunit: str, period: str, ms: list[Measured], cs: list[Child], view: str = "residence"
) -> dict[str, IndicatorValue]:
    result = growth_indicators(
        orgunit=orgunit,
        period=parse_period(period),
        tree=TREE,
        measurements=ms,
        children=cs,
        view=view,  # type: ignore[arg-type]
    )
    return {v.indicator: v for v in result}


def test_a_child_measured_twice_counts_once_at_its_latest_measurement() -> None:
    ms = [
        measured("a", dt.date(2026, 11, 2), "38004", waz=-2.5),
        measured("a", dt.date(2026, 11, 20), "38005", waz=-1.0),
    ]
    cs = [child("a", "38005")]
    assert values("38004", "2026-11", ms, cs)["U5_MEASURED"].numerator == 0
    latest = values("38005", "2026-11", ms, cs)
    assert latest["U5_MEASURED"].numerator == 1
    assert latest["UNDERWEIGHT"].numerator == 0  # the latest WAZ (−1.0) counts, not the first
    province = values("38", "2026-11", ms, cs)["U5_MEASURED"]
    assert (province.numerator, province.denominator, province.value) == (1, 1, 1.0)


def test_numerators_and_denominators_sum_up_the_tree_and_the_ratio_comes_last() -> None:
    ms = [
        measured("a", dt.date(2026, 11, 2), "38004", waz=-2.5),
        measured("b", dt.date(2026, 11, 3), "38005", waz=-3.2),
        measured("c", dt.date(2026, 11, 4), "38005", waz=0.1),
    ]
    cs = [child(c, r) for c, r in [("a", "38004"), ("b", "38005"), ("c", "38005"), ("d", "38005")]]
    commune_a, commune_b = values("38004", "2026-11", ms, cs), values("38005", "2026-11", ms, cs)
    province = values("38", "2026-11", ms, cs)
    for code in ("U5_MEASURED", "UNDERWEIGHT", "UNDERWEIGHT_SEVERE"):
        assert province[code].numerator == (commune_a[code].numerator or 0) + (
            commune_b[code].numerator or 0
        )
        total, a, b = (v[code].denominator for v in (province, commune_a, commune_b))
        assert total is not None
        assert a is not None
        assert b is not None
        assert total == a + b
    assert province["U5_MEASURED"].value == pytest.approx(3 / 4)
    assert province["UNDERWEIGHT"].value == pytest.approx(2 / 3)
    assert province["UNDERWEIGHT_SEVERE"].value == pytest.approx(1 / 3)


def test_a_2024_visit_rolls_up_through_its_district_and_a_2026_one_does_not_exist_there() -> None:
    ms = [measured("a", dt.date(2024, 11, 5), "40401", born=dt.date(2024, 1, 1))]
    cs = [child("a", "40401", born=dt.date(2024, 1, 1))]
    assert values("404", "2024-11", ms, cs)["U5_MEASURED"].numerator == 1
    assert values("38", "2024", ms, cs)["U5_MEASURED"].numerator == 1
    assert values("40402", "2024-11", ms, cs)["U5_MEASURED"].numerator == 0


def test_flagged_or_undefined_z_scores_leave_the_prevalence_denominators() -> None:
    ms = [
        measured("a", dt.date(2026, 11, 2), "38004", waz=None, lhaz=-2.1, whz=None),
        measured("b", dt.date(2026, 11, 2), "38004", waz=-1.0, lhaz=None, whz=2.5),
    ]
    v = values("38004", "2026-11", ms, [])
    assert (v["UNDERWEIGHT"].numerator, v["UNDERWEIGHT"].denominator) == (0, 1)
    assert (v["STUNTING"].numerator, v["STUNTING"].denominator) == (1, 1)
    assert (v["OVERWEIGHT"].numerator, v["OVERWEIGHT"].denominator) == (1, 1)
    assert v["U5_MEASURED"].numerator == 2


def test_oedema_counts_as_severe_wasting_and_underweight() -> None:
    ms = [measured("a", dt.date(2026, 11, 2), "38004", waz=None, whz=None, oedema=True)]
    v = values("38004", "2026-11", ms, [])
    assert v["WASTING_SEVERE"].numerator == v["UNDERWEIGHT_SEVERE"].numerator == 1
    assert v["WASTING_SEVERE"].denominator == 1


def test_facility_view_counts_where_the_care_was_given() -> None:
    ms = [measured("a", dt.date(2026, 11, 2), "38005", facility="TYT-38004")]
    assert values("38004", "2026-11", ms, [], view="facility")["U5_MEASURED"].numerator == 1
    assert values("38004", "2026-11", ms, [])["U5_MEASURED"].numerator == 0
    hospital = [measured("b", dt.date(2026, 11, 2), "38005", facility="BV-38")]
    assert values("38", "2026-11", hospital, [], view="facility")["U5_MEASURED"].numerator == 1


def test_denominator_counts_registered_living_children_under_five_at_period_end() -> None:
    end = dt.date(2026, 11, 30)
    cs = [
        child("young", "38004", born=dt.date(2026, 1, 1)),
        child("five-on-the-last-day", "38004", born=dt.date(2021, 11, 30)),
        child("four", "38004", born=dt.date(2021, 12, 1)),
        Child("dead", dt.date(2025, 1, 1), dt.date(2025, 1, 1), ((None, "38004"),), died_on=end),
        Child("later", dt.date(2025, 1, 1), dt.date(2026, 12, 5), ((None, "38004"),)),
        Child(
            "moved",
            dt.date(2025, 1, 1),
            dt.date(2025, 1, 1),
            ((None, "38004"), (dt.date(2026, 6, 1), "38005")),
        ),
    ]
    assert values("38004", "2026-11", [], cs)["U5_MEASURED"].denominator == 2
    assert values("38005", "2026-11", [], cs)["U5_MEASURED"].denominator == 1


def test_under_five_is_by_birthday() -> None:
    born = dt.date(2020, 2, 29)
    assert under_five(born, dt.date(2025, 2, 27))
    assert not under_five(born, dt.date(2025, 2, 28))
    assert not under_five(born, dt.date(2020, 2, 28))


def test_a_visit_without_a_valid_measurement_leaves_the_child_at_its_latest_measurement() -> None:
    # Weighed on 2 December (WAZ −2.5), vitamin A only on 20 December.
    ms = [
        measured("a", dt.date(2026, 12, 2), "38004", waz=-2.5),
        measured("a", dt.date(2026, 12, 20), "38005", waz=None, lhaz=None, whz=None),
    ]
    cs = [child("a", "38004")]
    v = values("38004", "2026-12", ms, cs)
    assert (v["UNDERWEIGHT"].numerator, v["UNDERWEIGHT"].denominator) == (1, 1)
    assert (v["U5_MEASURED"].numerator, v["U5_MEASURED"].denominator) == (1, 1)
    assert values("38005", "2026-12", ms, cs)["U5_MEASURED"].numerator == 0


def test_each_prevalence_takes_the_latest_valid_value_of_its_own_z_score() -> None:
    # Length only on the later visit: stunting from it, underweight from the earlier weighing.
    ms = [
        measured("a", dt.date(2026, 11, 2), "38004", waz=-3.5, lhaz=0.0, whz=-2.4),
        measured("a", dt.date(2026, 11, 25), "38004", waz=None, lhaz=-2.2, whz=None),
    ]
    v = values("38004", "2026-11", ms, [child("a", "38004")])
    assert (v["UNDERWEIGHT_SEVERE"].numerator, v["UNDERWEIGHT_SEVERE"].denominator) == (1, 1)
    assert (v["STUNTING"].numerator, v["STUNTING"].denominator) == (1, 1)
    assert (v["WASTING"].numerator, v["WASTING"].denominator) == (1, 1)
    assert v["U5_MEASURED"].numerator == 1


def test_a_flagged_weighing_is_no_valid_measurement() -> None:
    ms = [
        measured("a", dt.date(2026, 11, 2), "38004", waz=-1.0),
        measured("a", dt.date(2026, 11, 9), "38005", waz=None, lhaz=None, whz=None),
    ]
    assert values("38004", "2026-11", ms, [])["UNDERWEIGHT"].denominator == 1
