"""No request body or path makes the records API fail: JSON over the limits, bytes that are not
UTF-8 and ids out of range are client errors with a machine-readable reason."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

BAD_JSON = [
    (b'[{"specversion": "1.0", "revision": ' + b"9" * 5000 + b"}]", 400, "number_too_large"),
    (b"[" * 10_000 + b"]" * 10_000, 400, "too_deep"),
    (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, 400, "too_deep"),
    (b'[{"specversion": "1.0", "id": "\xff\xfe"}]', 400, "invalid_encoding"),
    (b'[{"specversion": "1.0", "id": "\\udc00"}]', 400, "invalid_encoding"),
    (b'[{"specversion": "1.0", "revision": NaN}]', 422, "invalid_number"),
    (b'[{"specversion": "1.0", "revision": Infinity}]', 422, "invalid_number"),
    (b"[1e999]", 400, "number_too_large"),
    (b"{not json", 400, "malformed_json"),
]
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(("body", "status", "reason"), BAD_JSON)
def test_events(api: TestClient, body: bytes, status: int, reason: str) -> None:
    response = api.post("/v1/events", content=body, headers=JSON)
    assert response.status_code == status, response.text
    assert response.json()["detail"]["reason"] == reason


@pytest.mark.parametrize(("body", "status", "reason"), BAD_JSON)
def test_orgunit_import(api: TestClient, body: bytes, status: int, reason: str) -> None:
    response = api.post("/v1/orgunits/import", content=body, headers=JSON)
    assert response.status_code == status, response.text
    assert response.json()["detail"]["reason"] == reason


def test_orgunit_import_of_csv_that_is_not_utf8(api: TestClient) -> None:
    response = api.post(
        "/v1/orgunits/import",
        content=b"code,name\n\xff\xfe,x\n",
        headers={"content-type": "text/csv"},
    )
    assert response.status_code == 400
    assert response.json()["detail"]["reason"] == "invalid_encoding"


@pytest.mark.parametrize("rejection", ["46617376140460785664", "9223372036854775808", "0", "-1"])
def test_resubmitting_a_rejection_whose_id_is_out_of_range(api: TestClient, rejection: str) -> None:
    response = api.post(f"/v1/rejections/{rejection}/resubmit", json={})
    assert response.status_code == 422, response.text


def test_resubmitting_a_bad_body(api: TestClient) -> None:
    bad = api.post("/v1/events", json=[{"specversion": "1.0", "id": "x"}])
    [rejection] = api.get("/v1/rejections").json()
    assert bad.status_code == 207
    for body, status, reason in BAD_JSON:
        response = api.post(
            f"/v1/rejections/{rejection['id']}/resubmit", content=body, headers=JSON
        )
        assert response.status_code == status, (body[:40], response.text)
        assert response.json()["detail"]["reason"] == reason
