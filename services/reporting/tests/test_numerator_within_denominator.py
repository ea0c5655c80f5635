"""A numerator never exceeds its denominator: a child counts as registered from the earlier of its
registration and its first care, and a child counted as measured is in the denominator where it
was measured, whatever arrived late, moved, died or turned 5 in the period."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_reporting.domain.growth_indicators import (
    Child,
    Measured,
    growth_indicators,
    registered_from,
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
        unit("TYT-40401", "facility", "40401", to=REFORM),
        unit("TYT-38004", "facility", "38004", frm=REFORM),
        unit("BV-38", "facility", "38"),
    ]
)
NOV = dt.date(2026, 11, 20)


def visit(child: str, day: dt.date, residence: str = "38004", **z: float | None) -> Measured:
    scores: dict[str, float | None] = {"waz": 0.0, "lhaz": 0.0, "whz": 0.0, **z}
    return Measured(
        child_id=child,
        visit_id=f"{child}-{day}",
        visit_date=day,
        birth_date=dt.date(2026, 1, 15),
        residence=residence,
        facility="TYT-38004",
        waz=scores["waz"],
        lhaz=scores["lhaz"],
        whz=scores["whz"],
    )


def registered(
    child: str,
    on: dt.date,
    *,
    first_care: dt.date | None = None,
    residence: str = "38004",
    born: dt.date = dt.date(2026, 1, 15),
    died_on: dt.date | None = None,
) -> Child:
    return Child(
        child_id=child,
        birth_date=born,
        registered_on=on,
        residences=((None, residence),),
        died_on=died_on,
        first_care=first_care,
    )


def u5(
    orgunit: str, period: str, ms: list[Measured], cs: list[Child], view: str = "residence"
) -> IndicatorValue:
    values = growth_indicators(
        orgunit=orgunit,
        period=parse_period(period),
        tree=TREE,
        measurements=ms,
        children=cs,
        view=view,  # type: ignore[arg-type]
    )
    return next(v for v in values if v.indicator == "U5_MEASURED")


def test_registration_counts_from_the_first_care_when_it_says_later() -> None:
    assert registered_from(dt.date(2026, 12, 7), dt.date(2026, 11, 20)) == dt.date(2026, 11, 20)
    assert registered_from(dt.date(2026, 1, 20), dt.date(2026, 11, 20)) == dt.date(2026, 1, 20)
    assert registered_from(dt.date(2026, 1, 20), None) == dt.date(2026, 1, 20)


def test_a_registration_arriving_after_the_visit_leaves_the_child_in_the_denominator() -> None:
    # The README's child: registered "today" (its event carried no time), weighed in November.
    child = registered("a", dt.date(2026, 12, 7), first_care=NOV)
    ms = [visit("a", NOV)]
    for orgunit in ("38004", "38", "VN"):
        v = u5(orgunit, "2026-11", ms, [child])
        assert (v.numerator, v.denominator, v.value) == (1, 1, 1.0), orgunit


def test_five_late_registered_children_give_their_commune_five_of_six_not_five_of_one() -> None:
    late = [registered(f"late{i}", dt.date(2026, 12, 7), first_care=NOV) for i in range(5)]
    on_time = registered("early", dt.date(2026, 2, 1))
    ms = [visit(c.child_id, NOV) for c in late]
    v = u5("38004", "2026-11", ms, [*late, on_time])
    assert (v.numerator, v.denominator) == (5, 6)


def test_an_earlier_dose_dates_the_registration_of_a_child_not_measured() -> None:
    dosed = registered("d", dt.date(2026, 12, 7), first_care=dt.date(2026, 10, 3))
    assert u5("38004", "2026-10", [], [dosed]).denominator == 1
    assert u5("38004", "2026-09", [], [dosed]).denominator == 0


def test_a_child_measured_then_moved_or_dead_stays_in_the_denominator_where_it_was_measured() -> (
    None
):
    moved = Child(
        "m",
        dt.date(2026, 1, 15),
        dt.date(2026, 1, 20),
        ((None, "38004"), (dt.date(2026, 11, 25), "38005")),
    )
    dead = registered("x", dt.date(2026, 1, 20), died_on=dt.date(2026, 11, 28))
    ms = [visit("m", NOV), visit("x", NOV)]
    here, there = (
        u5("38004", "2026-11", ms, [moved, dead]),
        u5("38005", "2026-11", ms, [moved, dead]),
    )
    assert (here.numerator, here.denominator) == (2, 2)
    assert (there.numerator, there.denominator) == (0, 0)
    province = u5("38", "2026-11", ms, [moved, dead])
    assert (province.numerator, province.denominator) == (2, 2)


def test_a_facility_serves_no_registered_population() -> None:
    child = registered("a", dt.date(2026, 1, 20))
    v = u5("TYT-38004", "2026-11", [visit("a", NOV)], [child], view="facility")
    assert (v.numerator, v.denominator, v.value) == (1, None, None)


# -- property: over random histories, no numerator exceeds its denominator -------------------

COMMUNES_BEFORE, COMMUNES_AFTER = ("40401", "40402"), ("38004", "38005")
DAY0 = dt.date(2024, 1, 1)
days = st.integers(min_value=0, max_value=3 * 365).map(lambda n: DAY0 + dt.timedelta(days=n))
z = st.one_of(st.none(), st.floats(min_value=-5, max_value=5))


def _commune(on: dt.date, pick: int) -> str:
    communes = COMMUNES_BEFORE if on < REFORM else COMMUNES_AFTER
    return communes[pick % 2]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Child], list[Measured]]:
    children: list[Child] = []
    measured: list[Measured] = []
    for i in range(draw(st.integers(min_value=1, max_value=8))):
        born = draw(
            st.integers(min_value=-6 * 365, max_value=2 * 365).map(
                lambda n: DAY0 + dt.timedelta(days=n)
            )
        )
        registered_on = max(born, draw(days))  # often after the care: late registrations
        moves = sorted(draw(st.lists(days, max_size=2, unique=True)))
        first = _commune(max(born, START), draw(st.integers()))
        residences = ((None, first), *((d, _commune(d, draw(st.integers()))) for d in moves))
        died = draw(st.one_of(st.none(), days))
        visits = sorted(d for d in draw(st.lists(days, max_size=4, unique=True)) if born <= d)
        doses = [d for d in draw(st.lists(days, max_size=2)) if born <= d]
        child = Child(
            child_id=f"c{i}",
            birth_date=born,
            registered_on=registered_on,
            residences=residences,
            died_on=died,
            first_care=min([*visits, *doses, born], default=None)
            if draw(st.booleans())
            else min([*visits, *doses], default=None),
        )
        for d in visits:
            if died is not None and d > died:
                continue
            measured.append(
                Measured(
                    child_id=child.child_id,
                    visit_id=f"{child.child_id}-{d}",
                    visit_date=d,
                    birth_date=born,
                    residence=child.residence_on(d),
                    facility="TYT-40401" if d < REFORM else "TYT-38004",
                    waz=draw(z),
                    lhaz=draw(z),
                    whz=draw(z),
                    oedema=draw(st.booleans()),
                )
            )
        children.append(child)
    return children, measured


PERIODS = ("2024-03", "2024Q4", "2025", "2025-06", "2025S1", "2025-9M", "2025Q3", "2026-11")


@settings(max_examples=150, deadline=None)
@given(history=histories(), period=st.sampled_from(PERIODS))
def test_no_numerator_exceeds_its_denominator(
    history: tuple[list[Child], list[Measured]], period: str
) -> None:
    children, measured = history
    p = parse_period(period)
    units = [u.code for u in TREE.versions() if u.level != "facility"]
    for orgunit in units:
        if not (TREE.exists(orgunit, p.start) or TREE.exists(orgunit, p.end)):
            continue
        for view in ("residence", "facility"):
            for v in growth_indicators(
                orgunit=orgunit,
                period=p,
                tree=TREE,
                measurements=measured,
                children=children,
                view=view,
            ):
                if v.denominator is not None:
                    assert (v.numerator or 0) <= v.denominator, (orgunit, period, view, v)
