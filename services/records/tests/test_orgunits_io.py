from __future__ import annotations

import datetime as dt
import json
from importlib.resources import files

import pytest

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_records.domain import orgunits
from mch_records.domain.orgunits import OrgUnitFormatError
from mch_records.orgunits import in_dependency_order

HEADER = "code,name,level,parent,valid_from,valid_to,kind,region,illustrative,successor"
REFORM = dt.date(2025, 7, 1)
BEFORE = dt.date(2024, 6, 15)
LAST_DAY_BEFORE = dt.date(2025, 6, 30)
AFTER = dt.date(2026, 3, 1)

SAMPLE_COMMUNES = {
    "Tế Nông", "Trường Giang", "Minh Khôi", "Vạn Thiện",
    "Xuân Lập", "Xuân Phú", "Thọ Lập", "Nam Giang",
    "Định Tường", "Yên Trường", "Định Công", "Yên Thọ",
    "Dân Lực", "Hợp Thành", "Thọ Dân", "Tiến Nông",
    "Hoằng Châu", "Hoằng Lộc", "Hoằng Thanh", "Hoằng Tiến",
    "Hà Long", "Hà Bình", "Hà Lĩnh", "Yến Sơn",
    "Nga Thái", "Nga Thắng", "Nga Yên", "Nga Tân",
    "Hải Thanh", "Bình Minh", "Trúc Lâm", "Các Sơn",
}  # fmt: skip
PILOT_DISTRICTS = {
    "Nghi Sơn", "Nông Cống", "Thọ Xuân", "Yên Định", "Triệu Sơn", "Hoằng Hóa", "Hà Trung", "Nga Sơn"
}  # fmt: skip


def sample_units() -> list[OrgUnit]:
    return [
        OrgUnit(code="VN", name="Việt Nam", level="national", valid_from=dt.date(2020, 1, 1)),
        OrgUnit(
            code="40401",
            name='Tế Nông, "cũ"',
            level="commune",
            parent="404",
            valid_from=dt.date(2020, 1, 1),
            valid_to=REFORM,
            illustrative=True,
        ),
        OrgUnit(
            code="TTYT-404",
            name="Trung tâm Y tế khu vực Nông Cống",
            level="facility",
            parent="38",
            valid_from=REFORM,
            kind="regional_centre",
        ),
        OrgUnit(
            code="38004",
            name="Tế Nông",
            level="commune",
            parent="38",
            valid_from=REFORM,
            region="TTYT-404",
            illustrative=True,
        ),
    ]


def shipped_text() -> str:
    resource = files("mch_records").joinpath("data/orgunits-thanh-hoa.json")
    return resource.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def thanh_hoa() -> OrgTree:
    return OrgTree(orgunits.from_json(shipped_text()))


def problems_of_csv(text: str) -> tuple[str, ...]:
    with pytest.raises(OrgUnitFormatError) as caught:
        orgunits.from_csv(text)
    return caught.value.problems


def problems_of_json(payload: object) -> tuple[str, ...]:
    with pytest.raises(OrgUnitFormatError) as caught:
        orgunits.from_json(json.dumps(payload, ensure_ascii=False))
    return caught.value.problems


# Formats


def test_columns_are_the_contract_fields() -> None:
    assert tuple(OrgUnit.model_fields) == orgunits.COLUMNS
    assert orgunits.to_csv([]).splitlines() == [HEADER]


def test_csv_round_trip() -> None:
    units = sample_units()
    text = orgunits.to_csv(units)
    assert orgunits.from_csv(text) == units
    assert (
        text.splitlines()[2] == '40401,"Tế Nông, ""cũ""",commune,404,2020-01-01,2025-07-01,,,true,'
    )


def test_json_round_trip() -> None:
    units = sample_units()
    text = orgunits.to_json(units)
    assert orgunits.from_json(text) == units
    assert orgunits.from_json(text.encode("utf-8")) == units
    assert json.loads(text)[0] == {
        "code": "VN",
        "name": "Việt Nam",
        "level": "national",
        "valid_from": "2020-01-01",
        "illustrative": False,
    }


def test_shipped_file_round_trips_through_both_formats() -> None:
    units = orgunits.from_json(shipped_text())
    assert orgunits.from_csv(orgunits.to_csv(units)) == units
    assert orgunits.to_json(units) == shipped_text()


def test_csv_from_a_spreadsheet() -> None:
    text = (
        "\ufeff" + HEADER.replace(",", " , ") + "\r\n"
        "\r\n"
        " 38 , Thanh Hóa ,province,VN,2020-01-01,,,, TRUE ,\r\n"
    )
    assert orgunits.from_csv(text) == [
        OrgUnit(
            code="38",
            name="Thanh Hóa",
            level="province",
            parent="VN",
            valid_from=dt.date(2020, 1, 1),
            illustrative=True,
        )
    ]


def test_json_null_is_a_field_left_out() -> None:
    [unit] = orgunits.from_json(
        '[{"code": "VN", "name": "Việt Nam", "level": "national", "parent": null,'
        ' "valid_from": "2020-01-01", "valid_to": null, "illustrative": null}]'
    )
    assert unit == OrgUnit(
        code="VN", name="Việt Nam", level="national", valid_from=dt.date(2020, 1, 1)
    )


# Bad input names the row and the field


def test_bad_csv_rows_are_named() -> None:
    text = "\n".join(
        [
            HEADER,
            "VN,Việt Nam,national,,2020-01-01,,,,false,",
            "38,Thanh Hóa,province,VN,01/01/2020,,,,false,",
            "x y,,village,VN,2020-01-01,1751328000,,,maybe,",
            "404,Nông Cống,district,38,2020-01-01,2025-02-30,,,,",
            "405,Ngắn,district,38,2020-01-01",
        ]
    )
    assert problems_of_csv(text) == (
        "line 3 (code 38), field valid_from: expected a date YYYY-MM-DD, got '01/01/2020'",
        "line 4 (code x y), field code: String should match pattern "
        "'^[A-Za-z0-9][A-Za-z0-9_.\\-]*$' (got 'x y')",
        "line 4 (code x y), field name: Field required",
        "line 4 (code x y), field level: Input should be 'national', 'province', 'district', "
        "'commune' or 'facility' (got 'village')",
        "line 4 (code x y), field valid_to: expected a date YYYY-MM-DD, got '1751328000'",
        "line 4 (code x y), field illustrative: expected true or false, got 'maybe'",
        "line 5 (code 404), field valid_to: expected a date YYYY-MM-DD, got '2025-02-30'",
        "line 6: 5 cells, expected 10",
    )


def test_a_csv_written_before_successors_still_reads() -> None:
    before = "code,name,level,parent,valid_from,valid_to,kind,region,illustrative\n"
    units = orgunits.from_csv(before + "VN,Việt Nam,national,,2020-01-01,,,,false\n")
    assert [(u.code, u.successor) for u in units] == [("VN", None)]


def test_csv_header_must_name_every_column_once() -> None:
    assert problems_of_csv(
        "code,name,level,parent,valid_from,valid_until,kind,region,illustrative\n"
    ) == (
        "line 1: missing column valid_to",
        "line 1: unknown column 'valid_until'",
    )
    assert problems_of_csv(HEADER + ",code\n") == ("line 1: column code appears more than once",)
    assert problems_of_csv("") == ("the input is empty: expected a header row",)


def test_bad_json_items_are_named() -> None:
    good = {"code": "VN", "name": "Việt Nam", "level": "national", "valid_from": "2020-01-01"}
    payload = [
        good,
        {**good, "code": 38, "vaild_to": "2025-07-01"},
        {**good, "valid_from": 1577836800, "illustrative": "true"},
        {**good, "valid_from": "2020-01-01T00:00:00", "name": "  "},
        "VN",
    ]
    assert problems_of_json(payload) == (
        "item 2, field code: Input should be a valid string (got 38)",
        "item 2, field vaild_to: unknown field",
        "item 3 (code VN), field valid_from: expected a date YYYY-MM-DD, got 1577836800",
        "item 3 (code VN), field illustrative: Input should be a valid boolean (got 'true')",
        "item 4 (code VN), field name: Field required",
        "item 4 (code VN), field valid_from: expected a date YYYY-MM-DD, got '2020-01-01T00:00:00'",
        "item 5: expected an object, got str",
    )


def test_json_that_is_not_a_list_of_objects() -> None:
    assert problems_of_json({"code": "VN"}) == ("expected a JSON list of org-unit objects",)
    with pytest.raises(OrgUnitFormatError, match=r"not valid JSON: .*line 1 column 3"):
        orgunits.from_json("[{")


def test_error_message_lists_every_problem() -> None:
    with pytest.raises(OrgUnitFormatError) as caught:
        orgunits.from_csv(HEADER + "\n1,,,,,,,,,\n")
    message = str(caught.value)
    assert message.startswith("3 problem(s) in the org units:")
    for problem in caught.value.problems:
        assert f"  - {problem}" in message


# The shipped Thanh Hóa tree


def levels_under(tree: OrgTree, code: str, on: dt.date, level: str) -> list[OrgUnit]:
    return [u for u in tree.subtree(code, on) if u.level == level]


def test_thanh_hoa_has_the_eight_pilot_districts_before_the_reform(thanh_hoa: OrgTree) -> None:
    for day in (dt.date(2020, 1, 1), BEFORE, LAST_DAY_BEFORE):
        districts = levels_under(thanh_hoa, "VN", day, "district")
        assert {d.name for d in districts} == PILOT_DISTRICTS
        assert all(d.parent == "38" for d in districts)
    confirmed = {
        d.code for d in levels_under(thanh_hoa, "38", BEFORE, "district") if not d.illustrative
    }
    assert confirmed == {"404", "397", "399"}


def test_thanh_hoa_has_no_district_after_the_reform(thanh_hoa: OrgTree) -> None:
    for day in (REFORM, AFTER):
        assert levels_under(thanh_hoa, "VN", day, "district") == []
        communes = levels_under(thanh_hoa, "VN", day, "commune")
        assert communes
        assert all(c.parent == "38" for c in communes)


def test_thanh_hoa_sample_communes_before_the_reform(thanh_hoa: OrgTree) -> None:
    communes = levels_under(thanh_hoa, "38", BEFORE, "commune")
    assert len(communes) == 32
    assert {c.name for c in communes} == SAMPLE_COMMUNES
    for commune in communes:
        assert commune.illustrative
        assert len(commune.code) == 5
        assert commune.code.startswith(commune.parent or "")


def test_thanh_hoa_fewer_larger_communes_after_the_reform(thanh_hoa: OrgTree) -> None:
    before = levels_under(thanh_hoa, "38", LAST_DAY_BEFORE, "commune")
    after = levels_under(thanh_hoa, "38", REFORM, "commune")
    assert 0 < len(after) < len(before)


@pytest.mark.parametrize("day", [BEFORE, LAST_DAY_BEFORE, REFORM, AFTER])
def test_thanh_hoa_every_commune_has_a_station(thanh_hoa: OrgTree, day: dt.date) -> None:
    for commune in levels_under(thanh_hoa, "38", day, "commune"):
        stations = [c for c in thanh_hoa.children(commune.code, day) if c.kind == "commune_station"]
        assert stations, f"{commune.code} {commune.name} has no station on {day}"
        assert all(s.level == "facility" for s in stations)


@pytest.mark.parametrize("day", [REFORM, AFTER])
def test_thanh_hoa_every_new_commune_has_a_regional_centre(
    thanh_hoa: OrgTree, day: dt.date
) -> None:
    for commune in levels_under(thanh_hoa, "38", day, "commune"):
        assert commune.region is not None, f"{commune.code} {commune.name} has no region"
        centre = thanh_hoa.get(commune.region, day)
        assert centre is not None
        assert centre.kind == "regional_centre"
        assert thanh_hoa.facility_orgunit(centre.code, day) == "38"


def test_thanh_hoa_every_ended_commune_and_station_names_its_successor(
    thanh_hoa: OrgTree,
) -> None:
    """The 2025 mergers: each old commune went into exactly one new one, and its station with it."""
    for commune in levels_under(thanh_hoa, "38", LAST_DAY_BEFORE, "commune"):
        if thanh_hoa.exists(commune.code, REFORM):
            assert commune.successor is None, f"{commune.code} goes on under its own code"
            continue
        assert commune.successor is not None, f"{commune.code} {commune.name} has no successor"
        successor = thanh_hoa.get(commune.successor, REFORM)
        assert successor is not None
        assert successor.level == "commune"
        for station in thanh_hoa.children(commune.code, LAST_DAY_BEFORE):
            if thanh_hoa.exists(station.code, REFORM):
                continue
            assert station.successor is not None, f"{station.code} has no successor"
            assert thanh_hoa.facility_orgunit(station.successor, REFORM) == commune.successor
    assert thanh_hoa.in_force_for("40401", AFTER) == "38004"
    assert thanh_hoa.in_force_for("TYT-40403", AFTER) == "TYT-38004"


def test_thanh_hoa_district_facilities_become_regional_centres(thanh_hoa: OrgTree) -> None:
    for district in levels_under(thanh_hoa, "38", BEFORE, "district"):
        hospitals = [
            f for f in thanh_hoa.children(district.code, BEFORE) if f.kind == "district_hospital"
        ]
        assert len(hospitals) == 1
        centre = thanh_hoa.get(hospitals[0].code, AFTER)
        assert centre is not None
        assert centre.kind == "regional_centre"
        assert district.name in centre.name


def test_thanh_hoa_roll_up_follows_the_date(thanh_hoa: OrgTree) -> None:
    assert thanh_hoa.path("TYT-40401", BEFORE) == ("TYT-40401", "40401", "404", "38", "VN")
    assert not thanh_hoa.exists("40401", AFTER)
    assert thanh_hoa.path("TYT-38004", AFTER) == ("TYT-38004", "38004", "38", "VN")
    assert thanh_hoa.facility_orgunit("TTYT-404", BEFORE) == "404"
    assert thanh_hoa.facility_orgunit("TTYT-404", AFTER) == "38"
    province = thanh_hoa.get("38", AFTER)
    assert province is not None
    assert (province.name, province.illustrative) == ("Thanh Hóa", False)
    hospitals = [u for u in thanh_hoa.children("38", AFTER) if u.kind == "provincial_hospital"]
    assert len(hospitals) == 1


def test_a_successor_is_published_before_the_units_that_name_it() -> None:
    """Readers build their tree from what they have received so far: a unit naming a successor
    they have not received yet would make it invalid until the successor arrives."""
    ordered = in_dependency_order(orgunits.from_json(shipped_text()))
    first: dict[str, int] = {}
    for position, unit in enumerate(ordered):
        first.setdefault(unit.code, position)
    named = [(u, first[u.successor]) for u in ordered if u.successor]
    assert named
    assert all(at < ordered.index(u) for u, at in named)
