"""Exports without a service: the DHIS2 period codes, the CSV a spreadsheet opens (Vietnamese names
intact), and a DHIS2 ``dataValueSets`` document that holds to DHIS2's structure, with codes or with
the identifiers of a mapping file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from mch_events.broker import KafkaSettings
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.testing import running
from mch_reporting.app import create_app
from mch_reporting.domain import catalog
from mch_reporting.domain.exports import (
    CSV_COLUMNS,
    Dhis2Mapping,
    Dhis2MappingError,
    NoDhis2Period,
    Table,
    dhis2_period,
    parse_mapping,
    to_csv,
    to_dhis2,
)
from mch_reporting.domain.periods import parse_period
from mch_reporting.settings import ReportingSettings

T0 = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
Produce = Callable[..., Awaitable[None]]
WaitFor = Callable[..., Awaitable[None]]

DATA_VALUE_SETS_SCHEMA: dict[str, Any] = {
    # DHIS2's data value set as its Web API takes it (POST /api/dataValueSets, JSON): optional
    # defaults for the whole set, then data values; a value is a string, identifiers are
    # strings (UIDs, or codes with idScheme=CODE).
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "DHIS2 dataValueSets",
    "type": "object",
    "properties": {
        "dataSet": {"type": "string", "minLength": 1},
        "completeDate": {"type": "string", "format": "date"},
        "period": {"type": "string", "minLength": 1},
        "orgUnit": {"type": "string", "minLength": 1},
        "attributeOptionCombo": {"type": "string", "minLength": 1},
        "dataValues": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "dataElement": {"type": "string", "minLength": 1, "maxLength": 50},
                    "period": {
                        "type": "string",
                        # Daily, weekly, monthly, bi-monthly, quarterly, six-monthly, yearly and
                        # the financial years (DHIS2's period types).
                        "pattern": (
                            r"^(\d{8}|\d{4}W\d{1,2}|\d{6}|\d{4}\d{2}B|\d{4}Q[1-4]"
                            r"|\d{4}S[12]|\d{4}(April|July|Oct|Nov)?)$"
                        ),
                    },
                    "orgUnit": {"type": "string", "minLength": 1, "maxLength": 50},
                    "categoryOptionCombo": {"type": "string", "minLength": 1},
                    "attributeOptionCombo": {"type": "string", "minLength": 1},
                    "value": {"type": "string"},
                    "storedBy": {"type": "string"},
                    "created": {"type": "string"},
                    "lastUpdated": {"type": "string"},
                    "comment": {"type": "string"},
                    "followup": {"type": "boolean"},
                    "deleted": {"type": "boolean"},
                },
                "required": ["dataElement", "period", "orgUnit", "value"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["dataValues"],
    "additionalProperties": False,
}


def assert_data_value_set(document: dict[str, Any]) -> None:
    validator = jsonschema_rs.validator_for(DATA_VALUE_SETS_SCHEMA)
    errors = [str(e) for e in validator.iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize(
    "wrong",
    [
        {"dataElement": "ANC4_NUM", "period": "202611", "orgUnit": "38", "value": 3},
        {"dataElement": "ANC4_NUM", "period": "2026-9M", "orgUnit": "38", "value": "3"},
        {"dataElement": "ANC4_NUM", "period": "202611", "value": "3"},
        {"dataElement": "ANC4_NUM", "period": "202611", "orgUnit": "38", "value": "3", "x": 1},
    ],
)
def test_the_schema_refuses_what_dhis2_refuses(wrong: dict[str, Any]) -> None:
    validator = jsonschema_rs.validator_for(DATA_VALUE_SETS_SCHEMA)
    assert not validator.is_valid({"dataValues": [wrong]})


@dataclass(frozen=True)
class Shown:
    """A row as the API answers it; a suppressed one has no numerator."""

    indicator: str
    numerator: int | None
    denominator: int | None
    sex: Literal["M", "F"] | None = None
    as_of: dt.datetime | None = T0

    @property
    def value(self) -> float | None:
        if self.numerator is None or not self.denominator:
            return None
        return self.numerator / self.denominator


TABLES = [
    Table(
        "38004",
        "Xã Tế Nông",
        [
            Shown("ANC4", 3, 4),
            Shown("LIVE_BIRTHS", 5, None),
            Shown("UNDERWEIGHT", 2, 8),
            Shown("UNDERWEIGHT", 1, 5, "M"),
            Shown("UNDERWEIGHT", 1, 3, "F"),
        ],
    ),
    Table(
        "38005",
        "Phường Đông Sơn",
        [
            Shown("ANC4", None, 2),  # suppressed: too few to show
            Shown("LIVE_BIRTHS", 0, None, as_of=None),
            Shown("UNDERWEIGHT", 0, 1),
            Shown("UNDERWEIGHT", 0, 1, "M"),
            Shown("UNDERWEIGHT", 0, 0, "F"),
        ],
    ),
]
NOV = parse_period("2026-11")


@pytest.mark.parametrize(
    ("code", "dhis2"),
    [
        ("2026-11", "202611"),
        ("2026-01", "202601"),
        ("2026Q4", "2026Q4"),
        ("2026", "2026"),
        ("2026S1", "2026S1"),
        ("2026S2", "2026S2"),
    ],
)
def test_periods_have_their_dhis2_codes(code: str, dhis2: str) -> None:
    assert dhis2_period(parse_period(code)) == dhis2


def test_the_nine_month_period_has_no_dhis2_type_and_says_what_to_export() -> None:
    with pytest.raises(NoDhis2Period, match=r"2026-9M .*2026Q1, 2026Q2, 2026Q3"):
        dhis2_period(parse_period("2026-9M"))


def test_the_csv_has_a_header_a_line_per_row_and_a_byte_order_mark() -> None:
    data = to_csv(TABLES, NOV, "residence")
    assert data.startswith(b"\xef\xbb\xbf"), "a spreadsheet reads UTF-8 only with the mark"
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0] == list(CSV_COLUMNS)
    assert lines[1:4] == [
        ["38004", "Xã Tế Nông", "2026-11", "residence", "ANC4", "", "3", "4", "0.75", T0.isoformat()],
        ["38004", "Xã Tế Nông", "2026-11", "residence", "LIVE_BIRTHS", "", "5", "", "", T0.isoformat()],
        ["38004", "Xã Tế Nông", "2026-11", "residence", "UNDERWEIGHT", "", "2", "8", "0.25", T0.isoformat()],
    ]  # fmt: skip
    assert [line[5] for line in lines[1:6]] == ["", "", "", "M", "F"]
    # The suppressed cell is empty, numerator and value alike; no as-of is an empty cell.
    assert lines[6][4:9] == ["ANC4", "", "", "2", ""]
    assert lines[7][4:] == ["LIVE_BIRTHS", "", "0", "", "", ""]
    assert len(lines) == 1 + 10


def test_the_dhis2_document_sends_numerators_and_denominators_by_code() -> None:
    built = to_dhis2(TABLES, NOV, Dhis2Mapping())
    assert_data_value_set(built.document)
    assert built.unmapped == []
    sent = {
        (v["orgUnit"], v["dataElement"], v.get("categoryOptionCombo")): v["value"]
        for v in built.document["dataValues"]
    }
    assert {v["period"] for v in built.document["dataValues"]} == {"202611"}
    assert sent == {
        ("38004", "ANC4_NUM", None): "3",
        ("38004", "ANC4_DEN", None): "4",
        ("38004", "LIVE_BIRTHS_NUM", None): "5",  # a count: no denominator
        ("38004", "UNDERWEIGHT_NUM", None): "2",
        ("38004", "UNDERWEIGHT_DEN", None): "8",
        # The suppressed ANC4 of 38005 is not sent; rows by sex need a mapping.
        ("38005", "LIVE_BIRTHS_NUM", None): "0",
        ("38005", "UNDERWEIGHT_NUM", None): "0",
        ("38005", "UNDERWEIGHT_DEN", None): "1",
    }
    assert "dataSet" not in built.document


def test_a_mapping_sends_identifiers_and_the_rows_by_sex() -> None:
    mapping = parse_mapping(
        json.dumps(
            {
                "dataSet": "DsMch000001",
                "dataElements": {
                    "UNDERWEIGHT_NUM": "DeUwNum0001",
                    "UNDERWEIGHT_DEN": "DeUwDen0001",
                    "ANC4_NUM": "DeAnc4Num01",
                },
                "orgUnits": {"38004": "OuTeNong001"},
                "categoryOptionCombos": {"M": "CocMale0001", "F": "CocFemale01", "total": None},
            }
        )
    )
    built = to_dhis2(TABLES, NOV, mapping)
    assert_data_value_set(built.document)
    assert built.document["dataSet"] == "DsMch000001"
    sent = [
        (v["orgUnit"], v["dataElement"], v.get("categoryOptionCombo"), v["value"])
        for v in built.document["dataValues"]
    ]
    # ANC4 has no sex: its total goes with the default combination; UNDERWEIGHT's total is
    # left to DHIS2 to sum ("total": null).
    assert sent == [
        ("OuTeNong001", "DeAnc4Num01", None, "3"),
        ("OuTeNong001", "DeUwNum0001", "CocMale0001", "1"),
        ("OuTeNong001", "DeUwDen0001", "CocMale0001", "5"),
        ("OuTeNong001", "DeUwNum0001", "CocFemale01", "1"),
        ("OuTeNong001", "DeUwDen0001", "CocFemale01", "3"),
    ]
    # LIVE_BIRTHS has rows by sex too: its total is left out like UNDERWEIGHT's.
    assert built.unmapped == ["dataElement:ANC4_DEN", "orgUnit:38005"]


def test_a_total_may_have_a_combination_of_its_own() -> None:
    mapping = Dhis2Mapping.model_validate({"categoryOptionCombos": {"total": "CocTotal001"}})
    built = to_dhis2(TABLES[:1], NOV, mapping)
    combos = {
        (v["dataElement"], v.get("categoryOptionCombo")) for v in built.document["dataValues"]
    }
    assert combos == {
        ("ANC4_NUM", None),
        ("ANC4_DEN", None),
        ("LIVE_BIRTHS_NUM", "CocTotal001"),
        ("UNDERWEIGHT_NUM", "CocTotal001"),
        ("UNDERWEIGHT_DEN", "CocTotal001"),
    }


def test_every_indicator_fits_a_dhis2_code() -> None:
    rows = [Shown(i.code, 1, 2) for i in catalog.CATALOG]
    assert_data_value_set(to_dhis2([Table("38", "Thanh Hóa", rows)], NOV, Dhis2Mapping()).document)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ("{", "DHIS2 mapping"),
        ('{"dataElements": {"PENTA3": "x"}}', "unknown data element"),
        ('{"categoryOptionCombos": {"X": "y"}}', "categoryOptionCombos"),
        ('{"orgUnit": {}}', "orgUnit"),
    ],
)
def test_a_wrong_mapping_says_what_is_wrong(document: str, reason: str) -> None:
    with pytest.raises(Dhis2MappingError, match=reason):
        parse_mapping(document)


def test_a_wrong_mapping_file_stops_the_service_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "dhis2.json"
    path.write_text('{"dataElements": {"NOPE_NUM": "x"}}', "utf-8")
    settings = ReportingSettings(
        database_url=f"sqlite:///{tmp_path}/reporting.db", dhis2_mapping=path
    )
    with pytest.raises(Dhis2MappingError, match="NOPE_NUM"):
        create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"))
    with pytest.raises(Dhis2MappingError, match=r"missing\.json"):
        create_app(
            settings.model_copy(update={"dhis2_mapping": tmp_path / "missing.json"}),
            KafkaSettings(bootstrap_servers="127.0.0.1:9"),
        )


def test_the_service_reads_its_mapping_file(tmp_path: Path) -> None:
    path = tmp_path / "dhis2.json"
    path.write_text('{"orgUnits": {"38": "OuThanhHoa1"}}', "utf-8")
    app = create_app(
        ReportingSettings(database_url=f"sqlite:///{tmp_path}/reporting.db", dhis2_mapping=path),
        KafkaSettings(bootstrap_servers="127.0.0.1:9"),
    )
    try:
        assert app.state.dhis2_mapping.org_units == {"38": "OuThanhHoa1"}
        # Without a token, nothing: the exports are walked with every role elsewhere.
        assert TestClient(app).get("/v1/exports/csv?orgunit=38&period=2026").status_code == 401
    finally:
        app.state.ctx.engine.dispose()


# -- the service: the exports carry exactly the API's rows ---------------------------------------

REFORM = dt.date(2025, 7, 1)
BORN = dt.date(2026, 1, 15)


def place(
    code: str, name: str, level: str, parent: str | None, frm: dt.date, to: dt.date | None = None
) -> r.OrgUnit:
    return r.OrgUnit(code=code, name=name, level=level, parent=parent, valid_from=frm, valid_to=to)


OLD = dt.date(2020, 1, 1)
PLACES = [
    place("VN", "Việt Nam", "national", None, OLD),
    place("38", "Thanh Hóa", "province", "VN", OLD),
    place("404", "Huyện Nông Cống", "district", "38", OLD, REFORM),
    place("40401", "Xã Tế Nông", "commune", "404", OLD, REFORM),
    place("38004", "Xã Tế Nông", "commune", "38", REFORM),
    place("38005", "Phường Đông Sơn", "commune", "38", REFORM),
    place("TYT-38004", "Trạm Y tế xã Tế Nông", "facility", "38004", REFORM),
]


def child(person: uuid.UUID, sex: str, residence: str) -> r.PersonState:
    return r.PersonState(
        person_id=person,
        role="child",
        sex=sex,
        birth_date=BORN,
        registered_on=BORN,
        residences=[r.ResidencePeriod(residence=residence)],
    )


def weighed(person: uuid.UUID, sex: str, residence: str, waz: float) -> g.GrowthAssessed:
    day = dt.date(2026, 11, 12)
    return g.GrowthAssessed(
        visit_id=uuid.uuid4(),
        child_id=person,
        facility="TYT-38004",
        residence=residence,
        visit_date=day,
        sex=sex,
        birth_date=BORN,
        age_days=(day - BORN).days,
        waz=g.ZScore(value=waz),
        lhaz=g.ZScore(value=-2.2),
        whz=g.ZScore(value=0.1),
        reference="WHO 2006",
        engine_version="test",
    )


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def api_rows(answer: dict[str, Any], name: str) -> list[dict[str, str]]:
    """An API answer as the CSV must carry it, cell by cell."""

    def cell(value: object) -> str:
        return "" if value is None else str(value)

    return [
        {
            "orgunit": answer["orgunit"],
            "orgunit_name": name,
            "period": answer["period"],
            "view": answer["view"],
            "indicator": v["indicator"],
            "sex": v.get("sex", ""),
            "numerator": cell(v["numerator"]),
            "denominator": cell(v["denominator"]),
            "value": cell(v["value"]),
            "as_of": ""
            if v["as_of"] is None
            else dt.datetime.fromisoformat(v["as_of"]).isoformat(),
        }
        for v in answer["values"]
    ]


@pytest.mark.integration
async def test_the_exports_carry_the_rows_of_the_api(
    kafka_broker: EmbeddedBroker, tmp_path: Path, produce: Produce, wait_for: WaitFor
) -> None:
    girl, boy, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    mapping = tmp_path / "dhis2.json"
    mapping.write_text(json.dumps({"orgUnits": {"38": "OuThanhHoa1"}}), "utf-8")
    async with running(
        "reporting",
        database_url=f"sqlite:///{tmp_path}/reporting.db",
        bootstrap_servers=kafka_broker.bootstrap_servers,
        dhis2_mapping=mapping,
    ) as (_, client):
        await produce(kafka_broker, *PLACES)
        await produce(
            kafka_broker,
            child(girl, "F", "38004"),
            child(boy, "M", "38005"),
            child(other, "F", "38005"),
            weighed(girl, "F", "38004", -2.5),
            weighed(boy, "M", "38005", -1.0),
        )

        async def counted() -> bool:
            answer = await client.get(
                "/v1/indicators",
                params={"orgunit": "38", "period": "2026-11", "indicator": "U5_MEASURED"},
            )
            return answer.status_code == 200 and answer.json()["values"][0]["numerator"] == 2

        await wait_for(counted)

        for view in ("residence", "facility"):
            asked = {"orgunit": "38", "period": "2026-11", "view": view}
            answer = (await client.get("/v1/indicators", params=asked)).json()
            exported = await client.get("/v1/exports/csv", params=asked)
            assert csv_rows(exported) == api_rows(answer, "Thanh Hóa"), view
            assert exported.headers["content-disposition"] == (
                f'attachment; filename="indicators_38_2026-11_{view}.csv"'
            )
            assert exported.headers["content-type"].startswith("text/csv")

            below = (await client.get("/v1/indicators/children", params=asked)).json()
            exported = await client.get("/v1/exports/csv", params=asked | {"children": "true"})
            names = {p.code: p.name for p in PLACES}
            assert csv_rows(exported) == [
                row for c in below["children"] for row in api_rows(c, names[c["orgunit"]])
            ], view
            assert {row["orgunit"] for row in csv_rows(exported)} == {"38004", "38005"}

        # DHIS2: the same numbers, the province by its identifier, its communes by code (the
        # mapping names no commune, so they are left out and named).
        question: dict[str, str | list[str]] = {
            "orgunit": "38",
            "period": "2026-11",
            "indicator": ["UNDERWEIGHT", "ANC4"],
        }
        answer = (await client.get("/v1/indicators", params=question)).json()
        exported = await client.get("/v1/exports/dhis2", params=question)
        assert exported.status_code == 200, exported.text
        document = exported.json()
        assert_data_value_set(document)
        assert exported.headers["content-disposition"] == (
            'attachment; filename="indicators_38_2026-11_residence.json"'
        )
        totals = {v["indicator"]: v for v in answer["values"] if "sex" not in v}
        assert document["dataValues"] == [
            {
                "dataElement": f"{code}{suffix}",
                "period": "202611",
                "orgUnit": "OuThanhHoa1",
                "value": str(totals[code][part]),
            }
            for code in ("ANC4", "UNDERWEIGHT")
            for suffix, part in (("_NUM", "numerator"), ("_DEN", "denominator"))
        ]
        assert totals["UNDERWEIGHT"]["numerator"] == 1
        below = await client.get("/v1/exports/dhis2", params=question | {"children": "true"})
        assert below.json() == {"dataValues": []}
        assert below.headers["x-dhis2-unmapped"] == "orgUnit:38004 orgUnit:38005"

        # The indicators API's reasons, and the period DHIS2 has no type for.
        for path, params, status, reason in [
            ("dhis2", {"orgunit": "38", "period": "2026-9M"}, 422, "no period type"),
            ("csv", {"orgunit": "38", "period": "2026-13"}, 422, "YYYY-MM"),
            ("dhis2", {"orgunit": "38", "period": "2026-13"}, 422, "YYYY-MM"),
            ("csv", {"orgunit": "NOPE", "period": "2026"}, 404, "unknown org unit"),
            ("dhis2", {"orgunit": "404", "period": "2026-11"}, 404, "not in force"),
            ("csv", {"orgunit": "TYT-38004", "period": "2026"}, 404, "not a residence"),
            ("csv", {"orgunit": "38", "period": "2026", "indicator": "NOPE"}, 404, "unknown"),
            ("csv", {"orgunit": "38", "period": "2026", "children": "maybe"}, 422, "bool"),
        ]:
            response = await client.get(f"/v1/exports/{path}", params=params)
            assert response.status_code == status, (path, params, response.text)
            assert reason in str(response.json()["detail"]), (path, params, response.text)
        nine = await client.get("/v1/exports/csv", params={"orgunit": "38", "period": "2026-9M"})
        assert nine.status_code == 200
        assert {row["period"] for row in csv_rows(nine)} == {"2026-9M"}
        # A district abolished in 2025 exports the years it was in force.
        old = await client.get("/v1/exports/csv", params={"orgunit": "404", "period": "2024"})
        assert {(row["orgunit_name"], row["period"]) for row in csv_rows(old)} == {
            ("Huyện Nông Cống", "2024")
        }
        old = await client.get("/v1/exports/dhis2", params={"orgunit": "404", "period": "2024"})
        assert old.status_code == 200
        assert old.headers["x-dhis2-unmapped"] == "orgUnit:404"
