"""FIC, DEFAULTERS and TT_PAB from the immunization service's status facts, on a hand-computed
scenario in two communes of Thanh Hóa after the 2025 reform."""

from __future__ import annotations

import datetime as dt

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_reporting.domain.growth_indicators import Child
from mch_reporting.domain.immunization_indicators import (
    CATALOG,
    ImmunizationFacts,
    StatusFact,
    immunization_counts,
    months_old,
)
from mch_reporting.domain.indicators import IndicatorValue, View, aggregate
from mch_reporting.domain.maternal import Baby, Delivery, add_months
from mch_reporting.domain.periods import parse_period

D = dt.date
REFORM, START = D(2025, 7, 1), D(2020, 1, 1)
SCHEDULE = "vn-epi-child-2024@1.0"


def unit(code: str, level: str, parent: str | None, frm: dt.date = START) -> OrgUnit:
    return OrgUnit(code=code, name=code, level=level, parent=parent, valid_from=frm)


TREE = OrgTree(
    [
        unit("VN", "national", None),
        unit("38", "province", "VN"),
        unit("38004", "commune", "38", REFORM),
        unit("38005", "commune", "38", REFORM),
        unit("TYT-38004", "facility", "38004", REFORM),
        unit("BV-38", "facility", "38"),
    ]
)


def child(cid: str, born: dt.date, residence: str = "38004", sex: str = "F", **kw: object) -> Child:
    return Child(cid, born, born, ((None, residence),), sex=sex, **kw)  # type: ignore[arg-type]


def fact(person: str, status: str, since: dt.date, holds: bool = True, **kw: object) -> StatusFact:
    return StatusFact(person, status, holds, since, schedule_version=SCHEDULE, **kw)  # type: ignore[arg-type]


def delivery(birth: str, mother: str, day: dt.date, facility: str = "BV-38") -> Delivery:
    return Delivery(
        birth, f"p-{birth}", mother, facility, day, "38004", "facility", "midwife",
        (Baby(f"baby-{birth}", "M", True, 3000),),
    )  # fmt: skip


CHILDREN = [
    child("c1", D(2025, 11, 10)),  # first birthday 10/11/2026, fully immunized in August
    child("c2", D(2025, 11, 20), sex="M"),  # first birthday in November, not fully immunized
    child("c3", D(2025, 10, 5)),  # first birthday in October; MR overdue since 5 November
    child("c4", D(2025, 11, 15), died_on=D(2026, 6, 1)),
    child("c5", D(2025, 11, 3), residence="38005", sex="M"),
    child("c6", D(2020, 12, 15), sex="M"),  # 5 years 11 months at the end of November
    child("c7", D(2020, 11, 1)),  # 6 on 1 November
]
FACTS = [
    fact("c1", "fully_immunized", D(2026, 8, 1)),
    fact("c5", "fully_immunized", D(2026, 8, 20)),
    # PENTA 1 was overdue in February and given on 1 March.
    fact("c2", "dose_overdue", D(2026, 2, 1), holds=False, until=D(2026, 3, 1), vaccine="PENTA", dose=1),
    fact("c3", "dose_overdue", D(2026, 11, 5), vaccine="MR", dose=1),
    fact("c6", "dose_overdue", D(2026, 10, 1), vaccine="JE", dose=3),
    fact("c7", "dose_overdue", D(2026, 10, 1), vaccine="TD", dose=5),
    fact("m1", "protected_at_birth", D(2026, 11, 2), birth_id="b1"),
    fact("m2", "protected_at_birth", D(2026, 11, 9), holds=False, birth_id="b2"),
]  # fmt: skip
DELIVERIES = [
    delivery("b1", "m1", D(2026, 11, 2)),
    delivery("b2", "m2", D(2026, 11, 9), facility="TYT-38004"),
    delivery("b3", "m3", D(2026, 11, 30)),
    delivery("b4", "m4", D(2026, 12, 1)),
]
FACTS_ALL = ImmunizationFacts(children=CHILDREN, facts=FACTS, deliveries=DELIVERIES)


def values(
    orgunit: str, period: str, view: View = "residence"
) -> dict[tuple[str, str | None], IndicatorValue]:
    counts = immunization_counts(period=parse_period(period), facts=FACTS_ALL, view=view)
    rows = aggregate(counts, orgunits=[orgunit], tree=TREE, catalog=CATALOG, view=view)[orgunit]
    return {(v.indicator, v.sex): v for v in rows}


def pair(
    orgunit: str, period: str, code: str, view: View = "residence"
) -> tuple[int | None, int | None]:
    v = values(orgunit, period, view)[(code, None)]
    return v.numerator, v.denominator


def test_fic_counts_the_children_who_turned_one_where_they_lived_that_day() -> None:
    assert pair("38004", "2026-11", "FIC") == (1, 2)  # c1 yes, c2 no; c4 died before
    assert pair("38005", "2026-11", "FIC") == (1, 1)
    assert pair("38", "2026-11", "FIC") == (2, 3)
    assert pair("38", "2026-10", "FIC") == (0, 1)  # c3
    assert pair("38", "2026", "FIC") == (2, 4)
    rows = values("38", "2026-11")
    assert (rows[("FIC", "M")].numerator, rows[("FIC", "M")].denominator) == (1, 2)
    assert (rows[("FIC", "F")].numerator, rows[("FIC", "F")].denominator) == (1, 1)
    assert rows[("FIC", None)].rules == {"schedule": [SCHEDULE]}


def test_defaulters_are_the_children_under_six_with_a_dose_overdue_at_period_end() -> None:
    # Under 6 on 30/11/2026: c1, c2, c3, c5, c6 (c4 dead, c7 turned 6); overdue: c3 and c6.
    assert pair("38", "2026-11", "DEFAULTERS") == (2, 5)
    assert pair("38004", "2026-11", "DEFAULTERS") == (2, 4)
    # On 28/02/2026 c2's PENTA 1 was overdue (given on 1 March); c6 and c7 were not yet.
    assert pair("38", "2026-02", "DEFAULTERS") == (1, 7)
    assert pair("38", "2026-03", "DEFAULTERS") == (0, 7)


def test_tt_pab_counts_the_women_who_delivered_and_were_protected() -> None:
    assert pair("38", "2026-11", "TT_PAB") == (1, 3)
    assert pair("38", "2026-12", "TT_PAB") == (0, 1)
    assert pair("BV-38", "2026-11", "TT_PAB", "facility") == (1, 2)
    assert pair("TYT-38004", "2026-11", "TT_PAB", "facility") == (0, 1)


def test_the_population_indicators_have_no_facility() -> None:
    assert pair("38", "2026-11", "FIC", "facility") == (0, None)
    assert pair("38", "2026-11", "DEFAULTERS", "facility") == (0, None)


DOSE_CHILDREN = [
    child("d1", D(2026, 5, 1)),
    child("d2", D(2026, 6, 15), residence="38005", sex="M"),
    child("d3", D(2025, 8, 1), sex="M"),  # 13 months at the end of September: a late PENTA 3
    child("d4", D(2026, 2, 1)),
    child("d5", D(2025, 1, 20)),  # 20 months: in the MR cohort
    child("d6", D(2025, 3, 1), sex="M"),  # 18 months: in the MR cohort, no MR yet
]


def valid(person: str, vaccine: str, dose: int, since: dt.date) -> StatusFact:
    return fact(person, "dose_valid", since, vaccine=vaccine, dose=dose)


DOSE_FACTS = ImmunizationFacts(
    children=DOSE_CHILDREN,
    facts=[
        valid("d1", "BCG", 1, D(2026, 5, 1)),
        valid("d1", "PENTA", 1, D(2026, 7, 1)),
        valid("d1", "PENTA", 3, D(2026, 9, 2)),
        valid("d2", "PENTA", 1, D(2026, 9, 1)),
        valid("d3", "PENTA", 3, D(2026, 9, 10)),
        valid("d5", "MR", 1, D(2026, 9, 15)),
        fact("baby-b1", "dose_timely", D(2026, 11, 2), vaccine="HEPB0", dose=1),
    ],
    deliveries=DELIVERIES,
    dose_facilities={
        ("d1", D(2026, 9, 2)): "TYT-38004",
        ("d2", D(2026, 9, 1)): "TYT-38004",
        ("d3", D(2026, 9, 10)): "BV-38",
        ("d5", D(2026, 9, 15)): "TYT-38004",
    },
)


def doses(
    orgunit: str, period: str, code: str, view: View = "residence", sex: str | None = None
) -> tuple[int | None, int | None]:
    counts = immunization_counts(period=parse_period(period), facts=DOSE_FACTS, view=view)
    rows = aggregate(counts, orgunits=[orgunit], tree=TREE, catalog=CATALOG, view=view)[orgunit]
    v = next(r for r in rows if r.indicator == code and r.sex == sex)
    return v.numerator, v.denominator


def test_valid_doses_count_on_their_date_over_the_target_cohort() -> None:
    # Under 1 on 30/09/2026: d1, d2, d4; d3's late PENTA 3 counts, and d3 with it.
    assert doses("38", "2026-09", "PENTA3") == (2, 4)
    assert doses("38004", "2026-09", "PENTA3") == (2, 3)
    assert doses("38", "2026-09", "PENTA3", sex="M") == (1, 2)
    assert doses("38", "2026-09", "PENTA1") == (1, 3)  # d1's PENTA 1 was in July
    assert doses("38", "2026-07", "PENTA1") == (1, 4)  # d3 is still under 1 on 31/07
    assert doses("38", "2026-09", "BCG") == (0, 3)
    assert doses("38", "2026-09", "MR") == (1, 2)  # d5 given it, d6 not yet
    assert doses("38", "2026-09", "DPT4") == (0, 2)


def test_dropout_is_the_share_of_penta1_children_without_penta3() -> None:
    assert doses("38", "2026-09", "PENTA_DROPOUT") == (1, 1)
    assert doses("38", "2026-07", "PENTA_DROPOUT") == (0, 1)
    assert doses("38", "2026Q3", "PENTA_DROPOUT") == (1, 2)


def test_the_facility_view_counts_doses_where_they_were_given() -> None:
    assert doses("TYT-38004", "2026-09", "PENTA3", "facility") == (1, None)
    assert doses("BV-38", "2026-09", "PENTA3", "facility") == (1, None)
    assert doses("38", "2026-09", "PENTA3", "facility") == (2, None)
    assert doses("TYT-38004", "2026-09", "PENTA_DROPOUT", "facility") == (1, 1)


def test_hepb0_within_24_hours_of_live_births() -> None:
    assert doses("38", "2026-11", "HEPB0_24H") == (1, 3)
    assert doses("BV-38", "2026-11", "HEPB0_24H", "facility") == (1, 2)
    assert doses("38", "2026-12", "HEPB0_24H") == (0, 1)


def test_completed_months_agree_with_calendar_months() -> None:
    births = [D(2024, 1, 31), D(2024, 2, 29), D(2025, 8, 31), D(2025, 12, 15)]
    for born in births:
        for offset in range(-3, 800, 7):
            on = born + dt.timedelta(days=offset)
            k = months_old(born, on)
            if on < born:
                assert k == -1
                continue
            assert add_months(born, k) <= on < add_months(born, k + 1), (born, on, k)
