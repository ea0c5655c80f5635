"""Rejections for the facility's IT staff: listed by facility with their reasons, resolved when a
corrected version is accepted."""

from __future__ import annotations

from fastapi.testclient import TestClient
from records_helpers import Clinic


def test_a_rejected_event_is_listed_for_its_facility_until_a_correction_is_accepted(
    api: TestClient, clinic: Clinic
) -> None:
    child = clinic.child().model_dump(mode="json", exclude_none=True)
    wrong = {**child, "data": {**child["data"], "residence": "NOWHERE"}}
    api.post("/v1/events", json=[wrong])

    [listed] = api.get("/v1/rejections", params={"facility": child["source"]}).json()
    assert (listed["event_id"], listed["reason"]) == (child["id"], "unknown_org_unit")
    assert listed["problems"][0]["field"] == "data.residence"
    assert api.get("/v1/rejections", params={"facility": "TYT-38002"}).json() == []

    response = api.post(f"/v1/rejections/{listed['id']}/resubmit", json=child)

    assert response.json()["status"] == "accepted"
    assert api.get("/v1/rejections", params={"facility": child["source"]}).json() == []
    [resolved] = api.get("/v1/rejections", params={"include_resolved": True}).json()
    assert resolved["resolved_by"] == child["id"]


def test_a_correction_resent_under_the_same_id_resolves_the_rejection(
    api: TestClient, clinic: Clinic
) -> None:
    child = clinic.child().model_dump(mode="json", exclude_none=True)
    api.post("/v1/events", json=[{**child, "data": {**child["data"], "sex": "X"}}])

    api.post("/v1/events", json=[child])

    assert api.get("/v1/rejections").json() == []


def test_resubmitting_to_an_unknown_rejection_or_without_json_is_refused(api: TestClient) -> None:
    assert api.post("/v1/rejections/999/resubmit", json={}).status_code == 404
    api.post("/v1/events", json=[1])
    [listed] = api.get("/v1/rejections").json()
    assert api.post(f"/v1/rejections/{listed['id']}/resubmit", content=b"{oops").status_code == 400
