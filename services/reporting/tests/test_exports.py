"""Exports without a service: the DHIS2 period codes, the CSV a spreadsheet opens (Vietnamese names
intact), and a DHIS2 ``dataValueSets`` document that holds to DHIS2's structure, with codes or with
the identifiers of a mapping file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from mch_events.broker import KafkaSettings
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
