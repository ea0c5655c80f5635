"""No forecast request makes the API fail: NaN and Infinity, JSON over the limits and bytes that
are not UTF-8 are client errors with a machine-readable reason."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mch_immunization.api import create_router
from mch_immunization.domain.schedule import ScheduleCatalog
from mch_platform.testing import bearer

PERSON = b'{"birth_date": "2025-01-15", "sex": "male"}'


@pytest.fixture
def client(catalog: ScheduleCatalog) -> TestClient:
    app = FastAPI()
    app.include_router(create_router(catalog))
    return TestClient(app, headers=bearer())


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b'{"as_of": NaN, "person": ' + PERSON + b"}", 422, "invalid_number"),
        (b'{"as_of": Infinity, "person": ' + PERSON + b"}", 422, "invalid_number"),
        (b'{"as_of": -Infinity, "person": ' + PERSON + b"}", 422, "invalid_number"),
        (b'{"as_of": 1e999, "person": ' + PERSON + b"}", 400, "number_too_large"),
        (b'{"as_of": ' + b"9" * 5000 + b', "person": ' + PERSON + b"}", 400, "number_too_large"),
        (
            b'{"as_of": "2025-05-01", "person": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            400,
            "too_deep",
        ),
        (b'{"as_of": "2025-05-01", "person": {"sex": "\xff"}}', 400, "invalid_encoding"),
        (b'{"as_of": "2025-05-01", ', 400, "malformed_json"),
    ],
)
def test_forecast(client: TestClient, body: bytes, status: int, reason: str) -> None:
    response = client.post(
        "/v1/forecast", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.json()["detail"]["reason"] == reason


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", 1e308, -1e308])
def test_forecast_with_strange_values_in_place_of_dates(client: TestClient, value: object) -> None:
    body = {"as_of": value, "person": {"birth_date": value, "sex": "male"}, "edd": value}
    response = client.post("/v1/forecast", json=body)
    assert response.status_code == 422, response.text
