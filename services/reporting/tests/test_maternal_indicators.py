"""Maternal-care, birth, death and vitamin A indicators on a hand-computed scenario: four women
and their babies in Thanh Hóa, before, across and after the 01/07/2025 reform, at commune, district
and province, by residence and by facility.

Before the reform communes 40401 and 40402 are in district 404; from 01/07/2025 communes 38004 and
38005 hang under the province 38 directly. BV-404 is the district hospital (until the reform),
BV-38 the provincial hospital.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_reporting.domain.growth_indicators import Child
from mch_reporting.domain.indicators import IndicatorValue, View, aggregate
from mch_reporting.domain.maternal import (
    CATALOG,
    AntenatalVisit,
    Baby,
    Delivery,
    MaternalFacts,
    Mother,
    PostnatalVisit,
    Pregnancy,
    VitaminA,
    add_months,
    gestational_weeks,
    maternal_counts,
    vita_age,
)
from mch_reporting.domain.periods import parse_period

D = dt.date
START, REFORM = D(2020, 1, 1), D(2025, 7, 1)


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
        unit("BV-404", "facility", "404", to=REFORM),
        unit("BV-38", "facility", "38"),
    ]
)


def anc(
    visit: str, pregnancy: str, day: dt.date, residence: str, facility: str, **kw: object
) -> AntenatalVisit:
    return AntenatalVisit(visit, pregnancy, facility, day, residence, **kw)  # type: ignore[arg-type]


ALL_TESTS = {"hiv": True, "syphilis": True, "hepb": True}
PREGNANCIES = [
    Pregnancy("PA", "A", D(2025, 7, 20), None, D(2025, 1, 10), "40401"),
    # Registered after her first visit: the visit dates the registration.
    Pregnancy("PB", "B", D(2025, 7, 25), None, D(2025, 4, 1), "40402"),
    Pregnancy("PC", "C", D(2026, 9, 7), D(2025, 12, 1), D(2026, 2, 1), "38005"),
    Pregnancy("PD", "D", D(2026, 10, 1), None, D(2026, 3, 1), "38004"),
]
VISITS = [
    anc("a1", "PA", D(2025, 1, 10), "40401", "TYT-40401", gestational_weeks=10.0, **ALL_TESTS),
    anc("a2", "PA", D(2025, 3, 15), "40401", "TYT-40401"),
    anc("a3", "PA", D(2025, 5, 20), "40401", "TYT-40401"),
    anc("a4", "PA", D(2025, 6, 10), "40401", "TYT-40401"),
    anc("b1", "PB", D(2025, 3, 20), "40402", "TYT-40401", gestational_weeks=15.0, hiv=True),
    anc("b2", "PB", D(2025, 5, 1), "40402", "TYT-40401"),
    anc("b3", "PB", D(2025, 6, 28), "40402", "TYT-40401"),
    # No gestational age recorded: 62 days after her last period, under 13 weeks.
    anc("c1", "PC", D(2026, 2, 1), "38005", "TYT-38004", **ALL_TESTS),
    anc("c2", "PC", D(2026, 5, 1), "38005", "TYT-38004"),
]
DELIVERIES = [
    Delivery(
        "BA",
        "PA",
        "A",
        "BV-404",
        D(2025, 6, 20),
        "40401",
        "facility",
        "doctor",
        (Baby("girlA", "F", True, 3100),),
    ),
    Delivery(
        "BB",
        "PB",
        "B",
        "BV-38",
        D(2025, 7, 3),
        "38004",
        "facility",
        "midwife",
        (Baby("boyB", "M", True, 2300), Baby("girlB", "F", False, None)),
    ),
    Delivery(
        "BC",
        "PC",
        "C",
        "TYT-38004",
        D(2026, 9, 1),
        "38005",
        "home",
        "untrained",
        (Baby("boyC", "M", True, None),),
    ),
]
POSTNATAL = [
    PostnatalVisit("pa", "A", D(2025, 6, 25)),  # day 5
    PostnatalVisit("pb", "B", D(2025, 8, 10)),  # day 38
]
MOTHERS = [
    Mother("C", ((None, "38005"),), D(2026, 9, 20)),  # 19 days after her delivery
    Mother("D", ((None, "38004"),), D(2026, 12, 1)),  # long after her due date, no delivery
]
CHILD_DEATHS = [
    # girlA moved with her family to the new commune 38004 when the reform came.
    Child("girlA", D(2025, 6, 20), D(2025, 6, 20), ((None, "40401"), (REFORM, "38004")),
          died_on=D(2025, 7, 10), sex="F"),
    Child("old", D(2019, 1, 1), D(2019, 1, 1), ((None, "38005"),), died_on=D(2025, 8, 1), sex="M"),
]  # fmt: skip
VITAMIN_A = [
    VitaminA("k1", "K", "TYT-38004", D(2025, 12, 1), "38004", D(2025, 1, 1), "F"),
    VitaminA("n1", "N", "TYT-38004", D(2025, 12, 2), "38005", D(2022, 6, 1), "M"),  # 42 months
]
CHILDREN = [
    Child("K", D(2025, 1, 1), D(2025, 1, 1), ((None, "38004"),), sex="F"),
    Child("L", D(2025, 3, 1), D(2025, 3, 1), ((None, "38005"),), sex="M"),
    Child("M", D(2025, 9, 1), D(2025, 9, 1), ((None, "38005"),), sex="M"),  # 4 months in Dec
    Child("N", D(2022, 6, 1), D(2022, 6, 1), ((None, "38005"),), sex="M"),
]
FACTS = MaternalFacts(
    pregnancies=PREGNANCIES,
    visits=VISITS,
    deliveries=DELIVERIES,
    postnatal=POSTNATAL,
    mothers=MOTHERS,
    maternity=[*PREGNANCIES, *DELIVERIES],
    child_deaths=CHILD_DEATHS,
    vitamin_a=VITAMIN_A,
    children=CHILDREN,
)


def values(
    orgunit: str, period: str, view: View = "residence"
) -> dict[tuple[str, str | None], IndicatorValue]:
    counts = maternal_counts(period=parse_period(period), facts=FACTS, view=view)
    rows = aggregate(counts, orgunits=[orgunit], tree=TREE, catalog=CATALOG, view=view)[orgunit]
    return {(v.indicator, v.sex): v for v in rows}


def pairs(
    orgunit: str, period: str, view: View = "residence"
) -> dict[str, tuple[int | None, int | None]]:
    return {
        code: (v.numerator, v.denominator)
        for (code, sex), v in values(orgunit, period, view).items()
        if sex is None
    }


def test_province_2025_by_residence_across_the_reform() -> None:
    got = pairs("38", "2025")
    assert {k: got[k] for k in ("ANC1", "ANC1_T1", "ANC_TESTED")} == {
        "ANC1": (2, 2),
        "ANC1_T1": (1, 2),
        "ANC_TESTED": (1, 2),
    }
    assert {k: got[k] for k in ("ANC3", "ANC4", "PNC7", "PNC42")} == {
        "ANC3": (2, 2),
        "ANC4": (1, 2),
        "PNC7": (1, 2),
        "PNC42": (2, 2),
    }
    # Births once per baby (the stillborn twin included), women once per delivery.
    assert {k: got[k] for k in ("BIRTH_FACILITY", "BIRTH_SKILLED", "LBW")} == {
        "BIRTH_FACILITY": (3, 3),
        "BIRTH_SKILLED": (3, 3),
        "LBW": (1, 2),
    }
    assert {k: got[k] for k in ("LIVE_BIRTHS", "STILLBIRTHS")} == {
        "LIVE_BIRTHS": (2, None),
        "STILLBIRTHS": (1, None),
    }
    assert got["NEONATAL_DEATHS"] == (1, None)
    assert got["U5_DEATHS"] == (1, None)  # the 6-year-old is no under-5 death
    assert got["MATERNAL_DEATHS"] == (0, None)
    by_sex = values("38", "2025")
    assert (by_sex[("LIVE_BIRTHS", "M")].numerator, by_sex[("LIVE_BIRTHS", "F")].numerator) == (
        1,
        1,
    )
    assert (by_sex[("LBW", "M")].numerator, by_sex[("LBW", "M")].denominator) == (1, 1)
    assert (by_sex[("LBW", "F")].numerator, by_sex[("LBW", "F")].denominator) == (0, 1)
    assert by_sex[("STILLBIRTHS", "F")].numerator == 1


def test_the_district_answers_with_what_rolled_up_through_it_before_the_reform() -> None:
    got = pairs("404", "2025")
    assert got["ANC1"] == (2, 2)
    assert got["ANC3"] == (1, 1)  # A delivered in June; B in July, when 404 no longer existed
    assert got["ANC4"] == (1, 1)
    assert got["LIVE_BIRTHS"] == (1, None)
    assert got["NEONATAL_DEATHS"] == (0, None)  # girlA died in July, in 38004
    assert pairs("404", "2025S1") == got


def test_communes_before_and_after_the_reform() -> None:
    assert pairs("40401", "2025")["ANC1"] == (1, 1)
    assert pairs("40402", "2025")["ANC1_T1"] == (0, 1)  # 15 weeks at her first visit
    assert pairs("40402", "2025Q1")["ANC1"] == (1, 1)  # registered from her first visit in March
    assert pairs("40402", "2025Q2")["ANC1"] == (0, 0)
    after = pairs("38004", "2025Q3")
    assert (after["ANC3"], after["ANC4"], after["LBW"]) == ((1, 1), (0, 1), (1, 1))
    assert after["NEONATAL_DEATHS"] == (1, None)
    assert after["PNC7"] == (0, 1)
    assert after["PNC42"] == (1, 1)


def test_2026_a_home_birth_a_maternal_death_and_a_death_that_is_not_maternal() -> None:
    got = pairs("38", "2026")
    assert got["ANC1"] == (1, 2)  # D registered without a visit
    assert got["ANC1_T1"] == (1, 1)  # C's age from her last period
    assert got["ANC_TESTED"] == (1, 1)
    assert (got["ANC3"], got["BIRTH_FACILITY"], got["BIRTH_SKILLED"]) == ((0, 1), (0, 1), (0, 1))
    assert got["LBW"] == (0, 0)  # not weighed
    assert got["MATERNAL_DEATHS"] == (1, None)
    assert pairs("38005", "2026Q3")["MATERNAL_DEATHS"] == (1, None)
    assert pairs("38004", "2026")["MATERNAL_DEATHS"] == (0, None)


def test_the_facility_view_counts_the_contact_where_it_was_given() -> None:
    assert pairs("BV-404", "2025", "facility")["BIRTH_FACILITY"] == (1, 1)
    assert pairs("BV-38", "2025", "facility")["BIRTH_FACILITY"] == (2, 2)
    assert pairs("404", "2025", "facility")["ANC3"] == (1, 1)
    assert pairs("38", "2025", "facility")["BIRTH_SKILLED"] == (3, 3)
    station = pairs("TYT-40401", "2025", "facility")
    assert station["ANC1_T1"] == (1, 2)  # both first visits were at this station
    assert station["ANC1"] == (2, None)  # a facility serves no registered population
    assert station["BIRTH_FACILITY"] == (0, 0)
    # Deaths have no facility.
    assert pairs("38", "2025", "facility")["NEONATAL_DEATHS"] == (0, None)
    assert pairs("TYT-38004", "2026", "facility")["BIRTH_FACILITY"] == (0, 1)  # the home birth


def test_vitamin_a_by_round() -> None:
    assert pairs("38", "2025-12")["VITA"] == (1, 2)  # K given it; L not; M too young; N too old
    assert pairs("38004", "2025-12")["VITA"] == (1, 1)
    assert pairs("38005", "2025-12")["VITA"] == (0, 1)
    assert pairs("38", "2025-11")["VITA"] == (0, 0)  # no round in November
    assert pairs("38", "2025")["VITA"] == (1, 2)  # nobody 6-36 months in the June round
    assert pairs("TYT-38004", "2025-12", "facility")["VITA"] == (1, None)
    rows = values("38", "2025-12")
    assert (rows[("VITA", "F")].numerator, rows[("VITA", "F")].denominator) == (1, 1)
    assert (rows[("VITA", "M")].numerator, rows[("VITA", "M")].denominator) == (0, 1)


@pytest.mark.parametrize(
    ("born", "on", "eligible"),
    [
        (D(2025, 1, 1), D(2025, 6, 30), False),
        (D(2025, 1, 1), D(2025, 7, 1), True),
        (D(2022, 1, 1), D(2024, 12, 31), True),  # 35 months
        (D(2022, 1, 1), D(2025, 1, 31), True),  # 36 months
        (D(2022, 1, 1), D(2025, 2, 1), False),  # 37 months
    ],
)
def test_vitamin_a_ages(born: dt.date, on: dt.date, eligible: bool) -> None:
    assert vita_age(born, on) is eligible


def test_months_and_gestational_age() -> None:
    assert add_months(D(2025, 8, 31), 6) == D(2026, 2, 28)
    assert add_months(D(2024, 8, 31), 6) == D(2025, 2, 28)
    assert add_months(D(2023, 8, 31), 6) == D(2024, 2, 29)
    edd_only = Pregnancy("P", "M", D(2026, 9, 7), None, D(2026, 2, 1), "38005")
    visit = anc("v", "P", D(2026, 2, 1), "38005", "TYT-38004")
    assert gestational_weeks(visit, edd_only) == pytest.approx((280 - 218) / 7)
    assert gestational_weeks(visit, None) is None


def test_a_numerator_never_exceeds_its_denominator_here() -> None:
    for period in ("2025", "2025S1", "2025Q3", "2025-9M", "2026", "2025-12", "2026Q3"):
        for orgunit in ("38", "404", "40401", "40402", "38004", "38005", "VN"):
            if not any(
                TREE.exists(orgunit, d)
                for d in (parse_period(period).start, parse_period(period).end)
            ):
                continue
            for view in ("residence", "facility"):
                for v in values(orgunit, period, view).values():
                    if v.denominator is not None:
                        assert (v.numerator or 0) <= v.denominator, (orgunit, period, view, v)
