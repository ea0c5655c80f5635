"""A person's rights over HTTP, on SQLite and PostgreSQL: a copy of everything records holds about
them (audited), and erasure on a lawful request: identifiers cleared and never restored, clinical
facts kept under the pseudonymous id, ``PersonErased`` published."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi.testclient import TestClient
from records_helpers import Clinic, amended
from sqlmodel import Session, col, select

from mch_events.envelope import CloudEvent
from mch_events.outbox import outbox_table
from mch_platform.testing import bearer
from mch_servicekit.access import Role

Outbox = outbox_table("records")


def post(api: TestClient, *events: CloudEvent) -> list[str]:
    response = api.post(
        "/v1/events", json=[e.model_dump(mode="json", exclude_none=True) for e in events]
    )
    assert response.status_code in (200, 207), response.text
    return [r["status"] for r in response.json()["results"]]


def staged(api: TestClient, event_type: str) -> list[dict[str, Any]]:
    with Session(api.app.state.ctx.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(
            select(Outbox).where(Outbox.event_type == event_type).order_by(col(Outbox.id))
        ).all()
    return [json.loads(row.payload) for row in rows]


def mother_with_care(api: TestClient, clinic: Clinic) -> tuple[CloudEvent, CloudEvent, str]:
    mother = clinic.mother(phone="0912345678", national_id="038195001234", handbook_no="HB-1")
    pregnancy = clinic.pregnancy(mother)
    visit = clinic.antenatal(pregnancy, dt.date(2025, 8, 20))
    assert post(api, mother, pregnancy, visit) == ["accepted"] * 3
    return mother, pregnancy, str(mother.data["mother_id"])


def test_the_export_holds_the_person_their_care_and_who_read_it(
    api: TestClient, clinic: Clinic
) -> None:
    mother, pregnancy, mother_id = mother_with_care(api, clinic)
    residence = mother.data["residence"]
    api.get(f"/v1/mothers/{mother_id}", headers=bearer([Role.HEALTH_WORKER], [residence]))
    data_manager = bearer([Role.DATA_MANAGER], [residence], subject="dm.thu")

    answer = api.get(f"/v1/people/{mother_id}/export", headers=data_manager)

    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["person"]["full_name"] == "Lê Thị Hoa"
    assert export["person"]["national_id"] == "038195001234"
    assert [r["residence"] for r in export["residences"]] == [residence]
    assert {r["kind"] for r in export["records"]} == {"pregnancy", "antenatal_visit"}
    assert pregnancy.data["pregnancy_id"] in {r["record_id"] for r in export["records"]}
    assert [(e["action"], e["user"]) for e in export["access_log"]] == [
        ("read_handbook", "test-user"),
        ("export", "dm.thu"),
    ]
    # A health worker serves the family but does not answer subject access requests.
    worker = bearer([Role.HEALTH_WORKER], [residence])
    assert api.get(f"/v1/people/{mother_id}/export", headers=worker).status_code == 403
    elsewhere = bearer([Role.DATA_MANAGER], ["00001"])
    refused = api.get(f"/v1/people/{mother_id}/export", headers=elsewhere)
    assert refused.status_code == 403
    assert "Lê Thị Hoa" not in refused.text
    log = api.get(
        "/v1/access-log", params={"person_id": mother_id}, headers=bearer([Role.OPERATOR])
    ).json()
    assert ("export", "refused") in {(e["action"], e["outcome"]) for e in log}


def test_erasure_clears_identifiers_keeps_care_and_publishes_person_erased(
    api: TestClient, clinic: Clinic
) -> None:
    mother, _, mother_id = mother_with_care(api, clinic)
    # A rejected event naming her (its payload holds her name) goes with her identifiers.
    bad = amended(mother, 2, birth_date="not a date")
    post(api, bad)
    duplicate = clinic.mother(full_name="Lê Thị Hoa", birth_date=mother.data["birth_date"])
    post(api, duplicate)
    duplicate_id = str(duplicate.data["mother_id"])
    assert api.post(f"/v1/persons/{duplicate_id}/merge-into/{mother_id}").status_code == 200
    operator = bearer([Role.OPERATOR], ["VN"], subject="ops.minh")

    missing = api.post(f"/v1/people/{mother_id}/erase", json={}, headers=operator)
    assert missing.status_code == 422  # a reason is required
    erased = api.post(
        f"/v1/people/{mother_id}/erase",
        json={"reason": "request DPO-2026-17 of the data subject"},
        headers=operator,
    )

    assert erased.status_code == 200, erased.text
    result = erased.json()
    assert result["status"] == "erased"
    assert set(result["people"]) == {mother_id, duplicate_id}
    assert result["rejections_deleted"] >= 1
    export = api.get(f"/v1/people/{mother_id}/export").json()
    person = export["person"]
    for name in ("full_name", "phone", "national_id", "handbook_no", "name_key"):
        assert person[name] is None, name
    assert person["erased_on"] is not None
    assert all(m["full_name"] is None for m in export["merged_from"])
    assert export["rejections"] == []
    assert {r["kind"] for r in export["records"]} == {"pregnancy", "antenatal_visit"}
    assert "Lê Thị Hoa" not in json.dumps(export)
    assert {e["person_id"] for e in staged(api, "vn.mch.records.person-erased.v1")} == {
        mother_id,
        duplicate_id,
    }
    log = api.get("/v1/access-log", params={"person_id": mother_id}, headers=operator).json()
    assert ("ops.minh", "erase", "erased: request DPO-2026-17 of the data subject") in {
        (e["user"], e["action"], e["detail"]) for e in log
    }

    # Her handbook is served to no one any more; the export (subject access) still is.
    assert api.get(f"/v1/mothers/{mother_id}").status_code == 410
    # The facility sends her registration again: no identifier comes back.
    again = amended(mother, 3)
    assert post(api, again) == ["accepted"]
    assert api.get(f"/v1/people/{mother_id}/export").json()["person"]["full_name"] is None
    # Erasing again changes nothing.
    repeat = api.post(
        f"/v1/people/{mother_id}/erase", json={"reason": "again"}, headers=operator
    ).json()
    assert repeat["status"] == "already_erased"


def test_only_data_managers_of_the_area_and_operators_erase(
    api: TestClient, clinic: Clinic
) -> None:
    mother, _, mother_id = mother_with_care(api, clinic)
    residence = mother.data["residence"]
    body = {"reason": "lawful request"}
    for roles, units in (
        ([Role.HEALTH_WORKER], [residence]),
        ([Role.MANAGER], ["VN"]),
        ([Role.DATA_MANAGER], ["00001"]),
    ):
        answer = api.post(f"/v1/people/{mother_id}/erase", json=body, headers=bearer(roles, units))
        assert answer.status_code == 403, roles
    data_manager = bearer([Role.DATA_MANAGER], [residence])
    assert api.post(f"/v1/people/{mother_id}/erase", json=body, headers=data_manager).is_success
