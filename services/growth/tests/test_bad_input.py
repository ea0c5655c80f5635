"""No measurement list makes the scorer fail: NaN and Infinity, JSON over the limits and bytes
that are not UTF-8 are client errors with a machine-readable reason; a value that is no
measurement is answered for its item alone."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mch_growth.api import router
from mch_platform.testing import bearer

ITEM = b'{"sex": 1, "birth_date": "2023-01-01", "visit_date": "2024-02-05", "weight_kg": '


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app, headers=bearer())


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"[" + ITEM + b"NaN}]", 422, "invalid_number"),
        (b"[" + ITEM + b"Infinity}]", 422, "invalid_number"),
        (b"[" + ITEM + b"-Infinity}]", 422, "invalid_number"),
        (b"[" + ITEM + b"1e999}]", 400, "number_too_large"),
        (b"[" + ITEM + b"9" * 5000 + b"}]", 400, "number_too_large"),
        (b"[" * 10_000 + b"]" * 10_000, 400, "too_deep"),
        (b'[{"case_id": "\xff\xfe", "sex": 1}]', 400, "invalid_encoding"),
        (b"[" + ITEM, 400, "malformed_json"),
    ],
)
def test_zscores(client: TestClient, body: bytes, status: int, reason: str) -> None:
    response = client.post(
        "/v1/zscores", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"]["reason"] == reason


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", 1e308, -1e308, 5e-324, 10**40])
def test_values_that_are_no_measurement_are_answered(client: TestClient, value: object) -> None:
    item = {"sex": 1, "birth_date": "2023-01-01", "visit_date": "2024-02-05"}
    for field in ("weight_kg", "length_height_cm", "head_circumference_cm", "muac_cm", "case_id"):
        response = client.post("/v1/zscores", json=[{**item, field: value}])
        assert response.status_code == 200, response.text
        assert len(response.json()) == 1
