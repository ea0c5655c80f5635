"""Sex is M or F: a facility that writes "female" is understood, and what records keeps, shows
and publishes says F."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from records_helpers import Clinic
from sqlmodel import Session, select

from mch_events.outbox import outbox_table


@pytest.mark.parametrize(("given", "kept"), [("female", "F"), ("MALE", "M"), ("F", "F")])
def test_sex_is_kept_and_published_as_m_or_f(
    api: TestClient, clinic: Clinic, given: str, kept: str
) -> None:
    child = clinic.child().model_dump(mode="json", exclude_none=True)
    child["data"]["sex"] = given
    response = api.post("/v1/events", json=[child])
    assert response.json()["results"][0]["status"] == "accepted", response.text

    handbook = api.get(f"/v1/children/{child['data']['child_id']}").json()
    assert handbook["basic_information"]["sex"] == kept
    with Session(api.app.state.ctx.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(select(outbox_table("records"))).all()
    published = [json.loads(row.payload) for row in rows]
    assert [p["sex"] for p in published if "sex" in p] == [kept]


def test_another_spelling_is_rejected_with_the_field(api: TestClient, clinic: Clinic) -> None:
    child = clinic.child().model_dump(mode="json", exclude_none=True)
    child["data"]["sex"] = "girl"
    [result] = api.post("/v1/events", json=[child]).json()["results"]
    assert result["status"] == "rejected"
    assert result["problems"][0]["field"] == "data.sex"
