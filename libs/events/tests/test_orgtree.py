from __future__ import annotations

import datetime as dt

import pytest

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree, OrgTreeError, OrgUnitNotInForce

START = dt.date(2020, 1, 1)
REFORM = dt.date(2025, 7, 1)
BEFORE = dt.date(2024, 6, 15)
LAST_DAY_BEFORE = dt.date(2025, 6, 30)
AFTER = dt.date(2026, 3, 1)


def unit(
    code: str,
    level: str,
    parent: str | None,
    valid_from: dt.date = START,
    valid_to: dt.date | None = None,
    **extra: object,
) -> OrgUnit:
    return OrgUnit.model_validate(
        {
            "code": code,
            "name": f"unit {code}",
            "level": level,
            "parent": parent,
            "valid_from": valid_from,
            "valid_to": valid_to,
            **extra,
        }
    )


def reform_versions() -> list[OrgUnit]:
    """A province whose districts end at the reform; one commune code survives it, moved."""
    return [
        unit("VN", "national", None),
        unit("38", "province", "VN"),
        unit("BV-38", "facility", "38", kind="provincial_hospital"),
        unit("404", "district", "38", valid_to=REFORM),
        unit("397", "district", "38", valid_to=REFORM),
        unit("TTYT-404", "facility", "404", valid_to=REFORM, kind="district_hospital"),
        unit("TTYT-404", "facility", "38", valid_from=REFORM, kind="regional_centre"),
        unit("40401", "commune", "404", valid_to=REFORM),
        unit("40403", "commune", "404", valid_to=REFORM),
        unit("TYT-40401", "facility", "40401", valid_to=REFORM, kind="commune_station"),
        unit("TYT-40403", "facility", "40403", valid_to=REFORM, kind="commune_station"),
        unit("39702", "commune", "397", valid_to=REFORM),
        unit("39702", "commune", "38", valid_from=REFORM, region="TTYT-404"),
        unit("TYT-39702", "facility", "39702", kind="commune_station"),
        # 40401 and 40403 merged into 38004.
        unit("38004", "commune", "38", valid_from=REFORM, region="TTYT-404"),
        unit("TYT-38004", "facility", "38004", valid_from=REFORM, kind="commune_station"),
    ]


@pytest.fixture
def tree() -> OrgTree:
    return OrgTree(reform_versions())


def codes(units: list[OrgUnit]) -> list[str]:
    return [u.code for u in units]


def test_old_commune_rolls_up_through_its_district_before_the_reform(tree: OrgTree) -> None:
    assert tree.path("40401", BEFORE) == ("40401", "404", "38", "VN")
    assert tree.path("40401", LAST_DAY_BEFORE) == ("40401", "404", "38", "VN")
    assert codes(tree.ancestors("40401", BEFORE)) == ["404", "38", "VN"]
    assert [u.level for u in tree.ancestors("40401", BEFORE)] == [
        "district",
        "province",
        "national",
    ]


def test_old_commune_does_not_exist_after_the_reform(tree: OrgTree) -> None:
    assert not tree.exists("40401", REFORM)
    assert tree.get("40401", AFTER) is None
    with pytest.raises(OrgUnitNotInForce, match="40401 is not in force on 2026-03-01"):
        tree.path("40401", AFTER)
    with pytest.raises(OrgUnitNotInForce):
        tree.ancestors("40401", AFTER)


def test_the_last_day_a_unit_was_in_force(tree: OrgTree) -> None:
    assert tree.last_in_force("40401", BEFORE) == BEFORE
    assert tree.last_in_force("40401", AFTER) == LAST_DAY_BEFORE
    assert tree.last_in_force("38004", BEFORE) is None
    assert tree.last_in_force("nowhere", AFTER) is None


def test_new_commune_hangs_under_the_province_from_the_reform(tree: OrgTree) -> None:
    assert not tree.exists("38004", LAST_DAY_BEFORE)
    assert tree.path("38004", REFORM) == ("38004", "38", "VN")
    assert codes(tree.ancestors("38004", AFTER)) == ["38", "VN"]
    new_commune = tree.get("38004", AFTER)
    assert new_commune is not None
    assert new_commune.region == "TTYT-404"


def test_a_surviving_code_changes_parent_on_the_reform_day(tree: OrgTree) -> None:
    assert tree.path("39702", LAST_DAY_BEFORE) == ("39702", "397", "38", "VN")
    assert tree.path("39702", REFORM) == ("39702", "38", "VN")
    # The station has one version; what it rolls up into follows its commune's versions.
    assert tree.path("TYT-39702", BEFORE) == ("TYT-39702", "39702", "397", "38", "VN")
    assert tree.path("TYT-39702", AFTER) == ("TYT-39702", "39702", "38", "VN")


def test_a_district_asked_after_the_reform_does_not_exist(tree: OrgTree) -> None:
    assert tree.exists("404", LAST_DAY_BEFORE)
    assert not tree.exists("404", REFORM)
    assert tree.get("404", AFTER) is None
    for ask in (tree.children, tree.subtree, tree.ancestors, tree.path):
        with pytest.raises(OrgUnitNotInForce):
            ask("404", AFTER)


def test_facility_counts_for_the_unit_it_is_attached_to(tree: OrgTree) -> None:
    assert tree.is_facility("TTYT-404", BEFORE)
    assert tree.facility_orgunit("TTYT-404", BEFORE) == "404"
    assert tree.facility_orgunit("TTYT-404", AFTER) == "38"
    assert tree.path("TTYT-404", BEFORE) == ("TTYT-404", "404", "38", "VN")
    assert tree.path("TTYT-404", AFTER) == ("TTYT-404", "38", "VN")
    assert tree.facility_orgunit("TYT-40401", BEFORE) == "40401"
    facility = tree.get("TTYT-404", AFTER)
    assert facility is not None
    assert facility.kind == "regional_centre"


def test_facility_questions_about_other_units(tree: OrgTree) -> None:
    assert not tree.is_facility("40401", BEFORE)
    assert not tree.is_facility("TYT-40401", AFTER)
    with pytest.raises(ValueError, match="40401 is a commune, not a facility"):
        tree.facility_orgunit("40401", BEFORE)
    with pytest.raises(OrgUnitNotInForce):
        tree.facility_orgunit("TYT-40401", AFTER)


def test_children_follow_the_date(tree: OrgTree) -> None:
    assert codes(tree.children("38", BEFORE)) == ["397", "404", "BV-38"]
    assert codes(tree.children("38", AFTER)) == ["38004", "39702", "BV-38", "TTYT-404"]
    assert codes(tree.children("404", BEFORE)) == ["40401", "40403", "TTYT-404"]
    assert tree.children("TYT-40401", BEFORE) == []


def test_subtree_holds_every_descendant_in_force(tree: OrgTree) -> None:
    assert codes(tree.subtree("404", BEFORE)) == [
        "40401",
        "TYT-40401",
        "40403",
        "TYT-40403",
        "TTYT-404",
    ]
    before = set(codes(tree.subtree("VN", BEFORE)))
    after = set(codes(tree.subtree("VN", AFTER)))
    assert before == {
        "38",
        "BV-38",
        "404",
        "397",
        "TTYT-404",
        "40401",
        "40403",
        "TYT-40401",
        "TYT-40403",
        "39702",
        "TYT-39702",
    }
    assert after == {"38", "BV-38", "TTYT-404", "39702", "TYT-39702", "38004", "TYT-38004"}


def test_path_matches_a_walk_up_whatever_the_order_of_questions(tree: OrgTree) -> None:
    # Asked in an order that alternates between the two trees, so a cached path from one side of
    # the reform would leak into the other.
    days = [AFTER, BEFORE, REFORM, LAST_DAY_BEFORE, START, dt.date(2031, 1, 1), BEFORE]
    for day in days:
        for version in tree.versions():
            if not tree.exists(version.code, day):
                continue
            walked = [version.code]
            current = tree.get(version.code, day)
            while current is not None and current.parent is not None:
                walked.append(current.parent)
                current = tree.get(current.parent, day)
            assert tree.path(version.code, day) == tuple(walked), (version.code, day)


def test_path_is_cached_across_the_days_it_holds(tree: OrgTree) -> None:
    first = tree.path("TYT-39702", START)
    assert tree.path("TYT-39702", LAST_DAY_BEFORE) is first
    assert tree.path("TYT-39702", REFORM) is not first


def test_versions_are_listed_in_the_order_given() -> None:
    versions = reform_versions()
    assert OrgTree(versions).versions() == tuple(versions)


def test_unknown_code_and_dates_before_the_data() -> None:
    tree = OrgTree(reform_versions())
    assert tree.get("99999", BEFORE) is None
    assert tree.get("VN", dt.date(2019, 12, 31)) is None
    with pytest.raises(OrgUnitNotInForce):
        tree.children("99999", BEFORE)


def problems_of(versions: list[OrgUnit]) -> tuple[str, ...]:
    with pytest.raises(OrgTreeError) as caught:
        OrgTree(versions)
    return caught.value.problems


def test_overlapping_versions_of_one_code_are_refused() -> None:
    versions = [
        *reform_versions(),
        unit("40401", "commune", "404", valid_from=dt.date(2025, 1, 1), valid_to=REFORM),
    ]
    assert problems_of(versions) == (
        "40401: versions 40401 (from 2020-01-01 to 2025-07-01) and "
        "40401 (from 2025-01-01 to 2025-07-01) overlap",
    )


def test_an_open_version_followed_by_another_overlaps() -> None:
    base = [unit("VN", "national", None), unit("38", "province", "VN", valid_from=START)]
    versions = [*base, unit("38", "province", "VN", valid_from=REFORM)]
    (problem,) = problems_of(versions)
    assert problem.startswith("38: versions 38 (from 2020-01-01) and 38 (from 2025-07-01) overlap")


def test_a_parent_that_does_not_exist_is_refused() -> None:
    versions = [*reform_versions(), unit("40499", "commune", "405", valid_to=REFORM)]
    assert problems_of(versions) == (
        "40499 (from 2020-01-01 to 2025-07-01): parent 405 does not exist",
    )


def test_a_parent_that_ends_before_the_child_is_refused() -> None:
    # The classic reform mistake: the commune was left open while its district was closed.
    versions = [*reform_versions(), unit("40402", "commune", "404")]
    assert problems_of(versions) == (
        "40402 (from 2020-01-01): parent 404 is not in force from 2025-07-01",
    )


def test_a_parent_that_starts_after_the_child_is_refused() -> None:
    versions = [*reform_versions(), unit("38099", "commune", "38004", valid_from=START)]
    problems = problems_of(versions)
    assert (
        "38099 (from 2020-01-01): parent 38004 is not in force from 2020-01-01 to 2025-07-01"
        in problems
    )


def test_a_gap_between_parent_versions_is_refused() -> None:
    versions = [
        unit("VN", "national", None),
        unit("38", "province", "VN", valid_to=dt.date(2023, 1, 1)),
        unit("38", "province", "VN", valid_from=dt.date(2023, 2, 1)),
        unit("39702", "commune", "38"),
    ]
    assert problems_of(versions) == (
        "39702 (from 2020-01-01): parent 38 is not in force from 2023-01-01 to 2023-02-01",
    )


def test_a_level_that_does_not_fit_under_its_parent_is_refused() -> None:
    versions = [
        *reform_versions(),
        unit("405", "district", "404", valid_to=REFORM),
    ]
    assert problems_of(versions) == (
        "405 (from 2020-01-01 to 2025-07-01): a district cannot be under "
        "district 404 (from 2020-01-01 to 2025-07-01)",
    )
    facility_parent = [*reform_versions(), unit("X-1", "facility", "TYT-38004", valid_from=REFORM)]
    assert problems_of(facility_parent) == (
        "X-1 (from 2025-07-01): a facility cannot be under facility TYT-38004 (from 2025-07-01)",
    )


def test_a_unit_without_parent_must_be_national() -> None:
    versions = [*reform_versions(), unit("39", "province", None)]
    assert problems_of(versions) == ("39 (from 2020-01-01): a province needs a parent",)


def test_a_national_unit_cannot_hang_under_another() -> None:
    versions = [*reform_versions(), unit("ASEAN", "national", "VN")]
    assert problems_of(versions) == (
        "ASEAN (from 2020-01-01): a national cannot be under national VN (from 2020-01-01)",
    )


def test_a_version_that_ends_before_it_starts_is_refused() -> None:
    versions = [*reform_versions(), unit("40402", "commune", "404", valid_to=START)]
    assert problems_of(versions) == (
        "40402 (from 2020-01-01 to 2020-01-01): ends on or before the day it starts",
    )


def test_a_region_must_be_a_facility_in_force() -> None:
    versions = [
        *reform_versions(),
        unit("38005", "commune", "38", valid_from=REFORM, region="TTYT-397"),
        unit("38006", "commune", "38", valid_from=REFORM, region="38004"),
    ]
    assert problems_of(versions) == (
        "38005 (from 2025-07-01): region TTYT-397 does not exist",
        "38006 (from 2025-07-01): region 38004 (from 2025-07-01) is a commune, not a facility",
    )


def test_cycles_are_refused() -> None:
    versions = [
        unit("VN", "national", None),
        unit("A", "facility", "B"),
        unit("B", "facility", "A"),
        unit("C", "facility", "C"),
    ]
    problems = problems_of(versions)
    assert "cycle on 2020-01-01: A -> B -> A" in problems
    assert "cycle on 2020-01-01: C -> C" in problems
    assert sum(p.startswith("cycle") for p in problems) == 2


def test_a_cycle_that_only_appears_later_is_found() -> None:
    versions = [
        unit("VN", "national", None),
        unit("A", "facility", "VN", valid_to=REFORM),
        unit("A", "facility", "B", valid_from=REFORM),
        unit("B", "facility", "A"),
    ]
    assert "cycle on 2025-07-01: A -> B -> A" in problems_of(versions)


def test_every_problem_is_listed_at_once() -> None:
    versions = [
        *reform_versions(),
        unit("40401", "commune", "404", valid_from=dt.date(2025, 1, 1), valid_to=REFORM),
        unit("40499", "commune", "405", valid_to=REFORM),
        unit("40402", "commune", "404"),
        unit("39", "province", None),
    ]
    with pytest.raises(OrgTreeError) as caught:
        OrgTree(versions)
    assert len(caught.value.problems) == 4
    message = str(caught.value)
    assert message.startswith("4 problem(s) in the org-unit tree:")
    for problem in caught.value.problems:
        assert f"  - {problem}" in message


def successor_versions() -> list[OrgUnit]:
    """The reform's versions with the successors the 2025 mergers named."""
    named = {"40401": "38004", "40403": "38004", "TYT-40401": "TYT-38004"}
    return [
        v.model_copy(update={"successor": named[v.code]}) if v.code in named else v
        for v in reform_versions()
    ]


def test_an_ended_unit_stands_for_its_successor_from_its_end() -> None:
    tree = OrgTree(successor_versions())
    assert tree.in_force_for("40401", LAST_DAY_BEFORE) == "40401"
    assert tree.in_force_for("40401", REFORM) == "38004"
    assert tree.in_force_for("40403", AFTER) == "38004"
    assert tree.in_force_for("TYT-40401", AFTER) == "TYT-38004"
    # Without a successor, or before it ever was, nothing stands for it.
    assert tree.in_force_for("TYT-40403", AFTER) is None
    assert tree.in_force_for("404", AFTER) is None
    assert tree.in_force_for("40401", dt.date(2019, 1, 1)) is None
    assert tree.in_force_for("NOPE", AFTER) is None
    # A surviving code stands for itself.
    assert tree.in_force_for("39702", AFTER) == "39702"


def test_successors_are_followed_to_the_unit_in_force() -> None:
    later = dt.date(2030, 1, 1)
    versions = [
        *(
            v.model_copy(update={"valid_to": later, "successor": "38009"})
            if v.code == "38004"
            else v.model_copy(update={"valid_to": later})
            if v.code == "TYT-38004"
            else v
            for v in successor_versions()
        ),
        unit("38009", "commune", "38", valid_from=later),
    ]
    tree = OrgTree(versions)
    assert tree.in_force_for("40401", AFTER) == "38004"
    assert tree.in_force_for("40401", later) == "38009"


def test_a_successor_must_take_over_on_the_day_the_unit_ends() -> None:
    versions = [
        *reform_versions(),
        unit("40402", "commune", "404", valid_to=REFORM, successor="38099"),
        unit("40404", "commune", "404", valid_to=REFORM, successor="404"),
        unit("38005", "commune", "38", valid_from=REFORM, successor="38004"),
        unit("40406", "commune", "404", valid_to=REFORM, successor="TYT-38004"),
        unit("39703", "commune", "397", valid_to=REFORM, successor="38004"),
        unit("39703", "commune", "38", valid_from=REFORM),
    ]
    assert problems_of(versions) == (
        "40402 (from 2020-01-01 to 2025-07-01): successor 38099 does not exist",
        "40404 (from 2020-01-01 to 2025-07-01): successor 404 is not in force on 2025-07-01, "
        "the day it takes over",
        "38005 (from 2025-07-01): names successor 38004 but does not end",
        "40406 (from 2020-01-01 to 2025-07-01): successor TYT-38004 (from 2025-07-01) is a "
        "facility",
        "39703 (from 2020-01-01 to 2025-07-01): names successor 38004 but its code goes on",
    )
