"""Summing counts up the tree (rows by sex, as-of, rule versions) and which org units a question
may be asked for."""

from __future__ import annotations

import datetime as dt

import pytest

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_reporting.domain import catalog
from mch_reporting.domain.growth_indicators import CATALOG, Child, Measured, growth_counts
from mch_reporting.domain.indicators import Count, Indicator, aggregate
from mch_reporting.domain.periods import parse_period
from mch_reporting.domain.scope import refusal, units_below

START, REFORM = dt.date(2020, 1, 1), dt.date(2025, 7, 1)
T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


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
        unit("38004", "commune", "38", frm=REFORM),
        unit("38005", "commune", "38", frm=REFORM),
        unit("TYT-38004", "facility", "38004", frm=REFORM),
        unit("BV-38", "facility", "38"),
    ]
)


def scored(child: str, sex: str, waz: float, minutes: int, reference: str = "WHO 2006") -> Measured:
    return Measured(
        child_id=child,
        visit_id=child,
        visit_date=dt.date(2026, 11, 10),
        birth_date=dt.date(2025, 6, 1),
        residence="38004",
        facility="TYT-38004",
        waz=waz,
        lhaz=0.0,
        whz=0.0,
        sex=sex,  # type: ignore[arg-type]
        applied_at=T0 + dt.timedelta(minutes=minutes),
        reference=reference,
        engine_version="1.2.0",
    )


def test_child_indicators_have_a_row_per_sex_beside_the_total() -> None:
    ms = [scored("a", "M", -2.5, 1), scored("b", "F", -2.1, 5), scored("c", "F", 0.3, 2)]
    cs = [
        Child("d", dt.date(2025, 6, 1), dt.date(2025, 6, 1), ((None, "38005"),), sex="M"),
    ]
    counts = growth_counts(period=parse_period("2026-11"), measurements=ms, children=cs)
    rows = aggregate(counts, orgunits=["38"], tree=TREE, catalog=CATALOG, view="residence")["38"]
    underweight = {r.sex: r for r in rows if r.indicator == "UNDERWEIGHT"}
    assert [
        (s, underweight[s].numerator, underweight[s].denominator) for s in (None, "M", "F")
    ] == [
        (None, 2, 3),
        ("M", 1, 1),
        ("F", 1, 2),
    ]
    measured = {r.sex: r for r in rows if r.indicator == "U5_MEASURED"}
    assert (measured[None].numerator, measured[None].denominator) == (3, 4)
    assert (measured["M"].denominator, measured["F"].denominator) == (2, 2)
    # Each value's as-of is the newest event counted in it, its rules the versions behind it.
    assert underweight[None].as_of == T0 + dt.timedelta(minutes=5)
    assert underweight["M"].as_of == T0 + dt.timedelta(minutes=1)
    assert underweight[None].rules == {
        "growth_engine": ["1.2.0"],
        "growth_reference": ["WHO 2006"],
    }


def test_an_empty_value_has_no_as_of_and_no_rules() -> None:
    rows = aggregate([], orgunits=["38005"], tree=TREE, catalog=CATALOG, view="residence")
    assert all(r.as_of is None and r.rules == {} for r in rows["38005"])
    assert {(r.numerator, r.denominator) for r in rows["38005"]} == {(0, 0)}


def test_counts_roll_up_through_the_tree_of_their_own_date() -> None:
    kinds = (Indicator("X", child=False, denominator="contacts"),)
    counts = [
        Count("X", "40401", dt.date(2025, 3, 1), numerator=True, denominator=True),
        Count("X", "38004", dt.date(2025, 9, 1), numerator=False, denominator=True),
        Count("X", "TYT-38004", dt.date(2025, 9, 1), numerator=True, denominator=True),
    ]
    got = aggregate(
        counts,
        orgunits=["404", "38", "38004", "TYT-38004"],
        tree=TREE,
        catalog=kinds,
        view="facility",
    )
    assert [(v.numerator, v.denominator) for v in got["404"]] == [(1, 1)]
    assert [(v.numerator, v.denominator) for v in got["38"]] == [(2, 3)]
    assert [(v.numerator, v.denominator) for v in got["38004"]] == [(1, 2)]
    assert [(v.numerator, v.denominator) for v in got["TYT-38004"]] == [(1, 1)]


def test_a_count_at_a_unit_that_ended_counts_for_its_successor() -> None:
    """A residence or a facility still recorded with a merged commune's code counts, from the
    merger on, where the commune went; before it, through the commune's own district. A unit
    that ended without a successor counts nowhere after its end (as before successors)."""
    merged = OrgTree(
        [
            *(
                v.model_copy(update={"successor": "38004"}) if v.code == "40401" else v
                for v in TREE.versions()
            ),
            unit("TYT-40401", "facility", "40401", to=REFORM).model_copy(
                update={"successor": "TYT-38004"}
            ),
            unit("40402", "commune", "404", to=REFORM),
        ]
    )
    kinds = (Indicator("X", child=False, denominator="contacts"),)
    after, before = dt.date(2026, 11, 5), dt.date(2025, 3, 1)
    counts = [
        Count("X", "40401", after, numerator=True, denominator=True),
        Count("X", "40401", before, numerator=False, denominator=True),
        Count("X", "TYT-40401", after, numerator=True, denominator=True),
        Count("X", "40402", after, numerator=True, denominator=True),
    ]
    residence = aggregate(
        counts[:2] + counts[3:],
        orgunits=["38004", "404", "38", "40402"],
        tree=merged,
        catalog=kinds,
        view="residence",
    )
    pairs = {code: (v[0].numerator, v[0].denominator) for code, v in residence.items()}
    assert pairs == {"38004": (1, 1), "404": (0, 1), "38": (1, 2), "40402": (0, 0)}
    facility = aggregate(
        counts[2:3], orgunits=["TYT-38004", "38004"], tree=merged, catalog=kinds, view="facility"
    )
    assert {code: v[0].numerator for code, v in facility.items()} == {"TYT-38004": 1, "38004": 1}


def test_refusals_name_their_reason() -> None:
    year_2026, year_2025 = parse_period("2026"), parse_period("2025")
    assert "unknown org unit" in (refusal(TREE, "99999", year_2026, "residence") or "")
    reason = refusal(TREE, "404", year_2026, "residence") or ""
    assert "not in force during 2026" in reason
    assert "2020-01-01 to 2025-07-01" in reason
    assert refusal(TREE, "404", year_2025, "residence") is None  # straddles the reform
    assert "not a residence" in (refusal(TREE, "TYT-38004", year_2026, "residence") or "")
    assert refusal(TREE, "TYT-38004", year_2026, "facility") is None
    assert refusal(TREE, "38", year_2026, "facility") is None


def test_units_below_span_the_reform_and_list_facilities_in_the_facility_view() -> None:
    assert units_below(TREE, "38", parse_period("2025"), "residence") == ["38004", "38005", "404"]
    assert units_below(TREE, "38", parse_period("2026-11"), "residence") == ["38004", "38005"]
    assert units_below(TREE, "38", parse_period("2026-11"), "facility") == [
        "38004",
        "38005",
        "BV-38",
    ]
    assert units_below(TREE, "38004", parse_period("2026-11"), "facility") == ["TYT-38004"]


def test_indicators_are_selected_by_code_in_catalog_order() -> None:
    assert [i.code for i in catalog.select(["STUNTING", "U5_MEASURED"])] == [
        "U5_MEASURED",
        "STUNTING",
    ]
    assert catalog.select([]) == catalog.CATALOG
    with pytest.raises(KeyError, match="NOPE"):
        catalog.select(["U5_MEASURED", "NOPE"])
