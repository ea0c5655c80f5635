"""The HTTP edges, mounted in a bare FastAPI application."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mch_immunization.api import create_router
from mch_immunization.domain.schedule import ScheduleCatalog, load_schedule
from mch_platform.testing import bearer


@pytest.fixture
def client(catalog: ScheduleCatalog) -> TestClient:
    app = FastAPI()
    app.include_router(create_router(catalog))
    return TestClient(app, headers=bearer())


CHILD = {
    "birth_date": "2025-01-15",
    "sex": "M",
    "residence": "16003",
    "residence_ancestors": ["38"],
}


def _body(**overrides: Any) -> dict[str, Any]:
    return {"as_of": "2025-05-01", "person": CHILD, "doses": [], **overrides}


def test_forecast_output_shape(client: TestClient) -> None:
    doses = [{"vaccine": "BCG", "date": "2025-01-15"}, {"vaccine": "PENTA", "date": "2025-03-14"}]
    response = client.post("/v1/forecast", json=_body(doses=doses))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"schedule_version", "doses"}
    assert body["schedule_version"] == "vn-epi-child-2024@1.0"
    assert body["doses"][1] == {
        "vaccine": "BCG",
        "dose": 1,
        "status": "complete",
        "date_given": "2025-01-15",
        "valid": True,
        "reason": None,
        "earliest": None,
        "due": None,
        "overdue": None,
    }
    assert body["doses"][2] == {
        "vaccine": "PENTA",
        "dose": 1,
        "status": "overdue",
        "date_given": None,
        "valid": None,
        "reason": None,
        "earliest": "2025-03-15",
        "due": "2025-03-15",
        "overdue": "2025-04-12",
    }
    assert body["doses"][-1]["reason"] == "too_early_age"
    assert len(body["doses"]) == 20  # 19 schedule doses (ROTA in Thanh Hóa) + 1 invalid


def test_forecast_is_repeatable(client: TestClient) -> None:
    doses = [{"vaccine": "OPV", "date": "2025-03-20"}, {"vaccine": "bOPV", "date": "2025-04-20"}]
    first = client.post("/v1/forecast", json=_body(doses=doses)).json()
    assert client.post("/v1/forecast", json=_body(doses=doses[::-1])).json() == first


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"doses": [{"vaccine": "BCG", "date": "2025-05-02"}]}, ["body", "doses", 0, "date"]),
        (
            {
                "doses": [
                    {"vaccine": "BCG", "date": "2025-01-15"},
                    {"vaccine": "BCG", "date": "2025-01-14"},
                ]
            },
            ["body", "doses", 1, "date"],
        ),
        ({"as_of": "2025-01-01"}, ["body", "as_of"]),
        ({"schedule": "vn-epi-child-1999"}, ["body", "schedule"]),
        ({"schedule": "vn-epi-child-2024", "edd": "2025-09-01"}, ["body", "edd"]),
        ({"schedule": "vn-tetanus-women"}, ["body", "person", "sex"]),
        ({"doses": [{"vaccine": "", "date": "2025-01-15"}]}, ["body", "doses", 0, "vaccine"]),
        ({"as_of": "2025-02-30"}, ["body", "as_of"]),
    ],
)
def test_refusals_name_the_field(
    client: TestClient, overrides: dict[str, Any], loc: list[Any]
) -> None:
    response = client.post("/v1/forecast", json=_body(**overrides))
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_unknown_schedule_message_lists_the_known_ones(client: TestClient) -> None:
    response = client.post("/v1/forecast", json=_body(schedule="nope"))
    [error] = response.json()["detail"]
    assert error["msg"] == "unknown schedule 'nope' (known: vn-epi-child-2024, vn-tetanus-women)"


def test_edd_selects_the_womens_schedule(client: TestClient) -> None:
    woman = {"birth_date": "1998-05-10", "sex": "F"}
    body = {"as_of": "2024-07-01", "person": woman, "edd": "2025-03-01", "doses": []}
    response = client.post("/v1/forecast", json=body)
    assert response.status_code == 200
    result = response.json()
    assert result["schedule_version"] == "vn-tetanus-women@1.0"
    assert [(d["vaccine"], d["dose"], d["status"]) for d in result["doses"][:2]] == [
        ("TT", 1, "due"),
        ("TT", 2, "upcoming"),
    ]


@pytest.mark.parametrize("sex", ["F", "female", "Female", "FEMALE", " f "])
def test_sex_is_f_or_an_alias_of_it(client: TestClient, sex: str) -> None:
    woman = {"birth_date": "1998-05-10", "sex": sex}
    body = {"as_of": "2024-07-01", "person": woman, "edd": "2025-03-01", "doses": []}
    response = client.post("/v1/forecast", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["doses"][0]["status"] == "due"


@pytest.mark.parametrize("sex", ["M", "male", "MALE", "m"])
def test_a_man_is_not_on_the_womens_schedule_however_spelt(client: TestClient, sex: str) -> None:
    man = {"birth_date": "1998-05-10", "sex": sex}
    body = {"as_of": "2024-07-01", "person": man, "edd": "2025-03-01", "doses": []}
    response = client.post("/v1/forecast", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "person", "sex"]


@pytest.mark.parametrize("sex", ["X", "", "2", "women"])
def test_other_spellings_of_sex_are_refused(client: TestClient, sex: str) -> None:
    response = client.post("/v1/forecast", json=_body(person={**CHILD, "sex": sex}))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "person", "sex"]


def test_list_schedules(client: TestClient) -> None:
    response = client.get("/v1/schedules")
    assert response.status_code == 200
    assert response.json() == [
        {
            "id": "vn-epi-child-2024",
            "version": "1.0",
            "schedule_version": "vn-epi-child-2024@1.0",
            "title": "Vietnam Expanded Programme on Immunization, children",
            "population": "child",
            "effective_from": "2024-08-01",
            "grace_days": 0,
        },
        {
            "id": "vn-tetanus-women",
            "version": "1.0",
            "schedule_version": "vn-tetanus-women@1.0",
            "title": "Tetanus toxoid for pregnant women and women of child-bearing age",
            "population": "women",
            "effective_from": "2024-08-01",
            "grace_days": 0,
        },
    ]


def test_show_schedule_returns_a_loadable_document(client: TestClient) -> None:
    response = client.get("/v1/schedules/vn-epi-child-2024")
    assert response.status_code == 200
    document = response.json()
    assert document["doses"][2]["recommended_age"] == {"months": 2}
    assert load_schedule(document).label == "vn-epi-child-2024@1.0"


def test_show_unknown_schedule(client: TestClient) -> None:
    response = client.get("/v1/schedules/vn-epi-child-1999")
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown schedule 'vn-epi-child-1999'"}


def test_router_serves_the_catalog_it_is_given(child_document: dict[str, Any]) -> None:
    catalog = ScheduleCatalog.of([load_schedule({**child_document, "version": "2.0"})])
    app = FastAPI()
    app.include_router(create_router(catalog))
    client = TestClient(app, headers=bearer())
    assert [s["schedule_version"] for s in client.get("/v1/schedules").json()] == [
        "vn-epi-child-2024@2.0"
    ]
    response = client.post(
        "/v1/forecast", json=_body(edd="2025-09-01", person={**CHILD, "sex": "F"})
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule"]
