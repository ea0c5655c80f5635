from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mch_growth.api import MAX_ITEMS, router
from mch_growth.batch import score_csv
from mch_growth.domain.zscores import ENGINE_VERSION, REFERENCE
from mch_platform.testing import bearer

GOOD: dict[str, Any] = {
    "case_id": "c1",
    "sex": "M",
    "birth_date": "2023-01-01",
    "visit_date": "2024-02-05",
    "weight_kg": 9.0,
    "length_height_cm": 75.0,
    "measured": "H",
    "head_circumference_cm": 46.0,
    "muac_cm": 14.5,
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app, headers=bearer())


def post(client: TestClient, items: object) -> Any:
    response = client.post("/v1/zscores", json=items)
    assert response.status_code == 200, response.text
    return response.json()


def test_scores_a_visit_rounded_with_classification_and_provenance(client: TestClient) -> None:
    (result,) = post(client, [GOOD])
    # lhfa boys 400 at 75.7 cm (standing + 0.7): L 1, M 77.0812, S 0.03157
    assert result["lhaz"] == round((75.7 / 77.0812 - 1) / 0.03157, 2) == -0.57
    assert (result["case_id"], result["sex"]) == ("c1", "M")
    assert result["age_days"] == 400
    assert all(isinstance(result[z], float) for z in ("waz", "whz", "baz", "hcaz", "acaz"))
    assert all(round(result[z], 2) == result[z] for z in ("waz", "whz", "baz", "hcaz", "acaz"))
    assert result["whz_table"] == "wfl"
    assert result["flags"] == []
    assert result["classification"] == {
        "underweight": "normal",
        "stunting": "normal",
        "wasting": "normal",
        "overweight": "normal",
        "vn_grade": 0,
    }
    assert result["reason"] is None
    assert (result["reference"], result["engine_version"]) == (REFERENCE, ENGINE_VERSION)


def test_agrees_with_the_csv_scorer(client: TestClient) -> None:
    (result,) = post(client, [GOOD])
    columns = [k for k in GOOD if k != "muac_cm"]
    text = ",".join(columns) + "\n" + ",".join(str(GOOD[k]) for k in columns) + "\n"
    out = io.StringIO()
    score_csv(io.StringIO(text), out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    for z in ("waz", "lhaz", "whz", "baz", "hcaz"):
        assert float(row[z]) == result[z]


def test_bad_items_get_their_own_reason(client: TestClient) -> None:
    items = [
        42,
        {**GOOD, "sex": "X"},
        {**GOOD, "weight_kg": "heavy"},
        {**GOOD, "visit_date": "2022-12-31"},
        {**GOOD, "oedema": True},
        {**GOOD, "case_id": ["not", "an", "id"]},
        GOOD,
    ]
    results = post(client, items)
    assert [r["reason"] for r in results] == [
        "invalid_item",
        "invalid_sex",
        "non_numeric_weight",
        "visit_before_birth",
        None,
        None,
        None,
    ]
    assert results[0]["classification"]["underweight"] is None
    assert results[1]["waz"] is None
    assert results[2]["waz"] is None
    assert results[2]["lhaz"] == -0.57
    assert results[3]["age_days"] is None
    assert results[3]["whz"] is not None  # chosen by the measured position
    oedema = results[4]
    assert (oedema["waz"], oedema["whz"], oedema["baz"]) == (None, None, None)
    assert oedema["classification"]["wasting"] == "severe"
    assert results[5]["case_id"] is None


@pytest.mark.parametrize(
    ("given", "read"),
    [("M", "M"), ("F", "F"), ("male", "M"), ("Female", "F"), ("FEMALE", "F"), (" m ", "M")],
)
def test_sex_is_m_or_f_or_an_alias_and_comes_back_m_or_f(
    client: TestClient, given: str, read: str
) -> None:
    (result,) = post(client, [{**GOOD, "sex": given}])
    (canonical,) = post(client, [{**GOOD, "sex": read}])
    assert result["sex"] == read
    assert result == canonical


@pytest.mark.parametrize("given", [1, 2, "1", "X", "women", True])
def test_other_spellings_of_sex_are_refused(client: TestClient, given: object) -> None:
    (result,) = post(client, [{**GOOD, "sex": given}])
    assert (result["reason"], result["sex"], result["waz"]) == ("invalid_sex", None, None)


def test_missing_sex_is_named(client: TestClient) -> None:
    (result,) = post(client, [{k: v for k, v in GOOD.items() if k != "sex"}])
    assert (result["reason"], result["sex"]) == ("missing_sex", None)


@pytest.mark.parametrize("given", ["H", "h", "standing", "Standing"])
def test_measured_reads_the_position_and_its_aliases(client: TestClient, given: str) -> None:
    (result,) = post(client, [{**GOOD, "measured": given}])
    (standing,) = post(client, [{**GOOD, "measured": "standing"}])
    assert result == standing


def test_the_openapi_document_gives_the_spellings(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/zscores"]["post"]
    item = operation["requestBody"]["content"]["application/json"]["schema"]["items"]
    assert item["properties"]["sex"]["enum"] == ["M", "F"]
    measured = item["properties"]["measured"]["anyOf"][0]
    assert measured["enum"] == ["lying", "standing"]


def test_flags_and_implausible_position_are_reported(client: TestClient) -> None:
    early = {**GOOD, "birth_date": "2024-01-01", "visit_date": "2024-04-10", "weight_kg": 30.0}
    (result,) = post(client, [early])
    assert "waz" in result["flags"]
    assert result["waz"] > 5
    assert result["classification"]["underweight"] is None  # a flagged z-score is not judged
    assert result["reason"] == "implausible_position"


def test_too_many_items_is_413_with_a_clear_message(client: TestClient) -> None:
    response = client.post("/v1/zscores", json=[GOOD] * (MAX_ITEMS + 1))
    assert response.status_code == 413
    assert "limit is 10000" in response.json()["detail"]


def test_a_body_that_is_not_a_list_is_refused(client: TestClient) -> None:
    assert client.post("/v1/zscores", json=GOOD).status_code == 422


def test_the_openapi_document_describes_the_items(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/zscores"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["maxItems"] == MAX_ITEMS
    assert {"sex", "birth_date", "weight_kg", "oedema", "muac_cm"} <= set(
        schema["items"]["properties"]
    )
