"""People over HTTP, on SQLite and PostgreSQL: the handbook view (who read it is logged), likely
duplicates, and merging a duplicate so that every service follows."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from records_helpers import Clinic, amended
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
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
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def staged(api: TestClient) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(type, key, data) of everything waiting in the outbox for mch.records.v1, in order."""
    with Session(api.app.state.ctx.engine) as session:  # type: ignore[attr-defined]
        rows = session.exec(select(Outbox).order_by(col(Outbox.id))).all()
    return [(row.event_type, row.key, json.loads(row.payload)) for row in rows]


def family(clinic: Clinic, **mother: Any) -> dict[str, CloudEvent]:
    m = clinic.mother(**mother)
    p = clinic.pregnancy(m)
    b = clinic.birth(
        p,
        on=dt.date(2026, 3, 1),
        babies=[{"child_id": str(clinic.uuid()), "sex": "F", "outcome": "live", "weight_g": 2350}],
    )
    return {
        "mother": m,
        "pregnancy": p,
        "visit": clinic.antenatal(p, dt.date(2025, 8, 20), bp_systolic=145, bp_diastolic=92),
        "birth": b,
        "check": clinic.child_visit(
            b.data["babies"][0]["child_id"], dt.date(2026, 4, 2), weight_kg=3.9
        ),
    }


def test_the_handbook_view_holds_the_persons_history_and_yellow_boxes(
    api: TestClient, clinic: Clinic
) -> None:
    f = family(clinic, phone="0912345678")
    post(api, *f.values())
    mother_id, child_id = f["mother"].data["mother_id"], f["birth"].data["babies"][0]["child_id"]

    view = api.get(f"/v1/mothers/{mother_id}").json()

    part_i = view["basic_information"]
    assert (part_i["full_name"], part_i["phone"]) == ("Lê Thị Hoa", "0912345678")
    assert [v["record_id"] for v in view["pregnancy_care"][0]["visits"]] == [
        f["visit"].data["visit_id"]
    ]
    assert view["delivery_and_postnatal"][0]["birth_id"] == f["birth"].data["birth_id"]
    assert [c["person_id"] for c in view["child_health"]["children"]] == [child_id]
    flags = {flag["code"] for flag in view["flags"]}
    assert {"high_blood_pressure", "low_birth_weight", "no_postnatal_check_7_days"} <= flags

    child = api.get(f"/v1/children/{child_id}").json()
    assert [c["record_id"] for c in child["child_health"]["checks"]] == [
        f["check"].data["visit_id"]
    ]
    assert {flag["code"] for flag in child["flags"]} == {
        "low_birth_weight",
        "no_postnatal_check_7_days",
    }


def test_who_read_which_handbook_is_logged(api: TestClient, clinic: Clinic) -> None:
    f = family(clinic)
    post(api, *f.values())
    mother_id = f["mother"].data["mother_id"]

    residence = f["mother"].data["residence"]
    nurse = bearer([Role.HEALTH_WORKER], [residence], subject="nurse.lan")
    stranger = bearer([Role.HEALTH_WORKER], ["00001"], subject="nurse.elsewhere")
    assert api.get(f"/v1/mothers/{mother_id}", headers=nurse).status_code == 200
    refused = api.get(f"/v1/mothers/{mother_id}", headers=stranger | {"X-Purpose": "curiosity"})
    assert refused.status_code == 403
    assert mother_id not in refused.text
    assert api.get("/v1/access-log", headers=nurse).status_code == 403
    log = api.get(
        "/v1/access-log", params={"person_id": mother_id}, headers=bearer([Role.OPERATOR])
    ).json()

    assert [(e["user"], e["action"], e["purpose"], e["outcome"]) for e in log] == [
        ("nurse.elsewhere", "read_handbook", "curiosity", "refused"),
        ("nurse.lan", "read_handbook", "care", "allowed"),
    ]


def test_the_access_log_cannot_be_changed(api: TestClient, clinic: Clinic) -> None:
    f = family(clinic)
    post(api, *f.values())
    api.get(f"/v1/mothers/{f['mother'].data['mother_id']}")
    engine = api.app.state.ctx.engine  # type: ignore[attr-defined]
    for statement in (
        "UPDATE records_access_log SET action = 'nothing'",
        "DELETE FROM records_access_log",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))


def test_a_handbook_is_found_only_under_the_persons_role(api: TestClient, clinic: Clinic) -> None:
    f = family(clinic)
    post(api, *f.values())
    assert api.get(f"/v1/children/{f['mother'].data['mother_id']}").status_code == 404
    assert api.get(f"/v1/mothers/{clinic.uuid()}").status_code == 404
    assert api.get("/v1/mothers/not-an-id").status_code == 422


def test_people_sharing_an_identifier_or_name_birth_date_and_mother_are_listed(
    api: TestClient, clinic: Clinic
) -> None:
    first = clinic.mother(handbook_no="TH-0042")
    again = clinic.mother(handbook_no="TH-0042", full_name="Lê Thị Hoà", on=dt.date(2025, 9, 1))
    child = clinic.child(mother_id=first.data["mother_id"], full_name="Nguyễn Minh Khang")
    same_child = clinic.child(mother_id=first.data["mother_id"], full_name="nguyễn  minh khang")
    twin = clinic.child(mother_id=first.data["mother_id"], full_name="Nguyễn Minh Khoa")
    post(api, first, again, child, same_child, twin)

    listed = {
        frozenset((d["person_a"]["person_id"], d["person_b"]["person_id"])): d["rules"]
        for d in api.get("/v1/duplicates").json()
    }

    assert listed == {
        frozenset((first.data["mother_id"], again.data["mother_id"])): ["same_handbook_no"],
        frozenset((child.data["child_id"], same_child.data["child_id"])): [
            "same_name_birth_date_mother"
        ],
    }


def test_a_pair_dismissed_by_a_reviewer_is_no_longer_listed(
    api: TestClient, clinic: Clinic
) -> None:
    first, again = (
        clinic.mother(national_id="038196001234"),
        clinic.mother(national_id="038196001234"),
    )
    post(api, first, again)
    a, b = first.data["mother_id"], again.data["mother_id"]

    reviewer = bearer([Role.DATA_MANAGER], ["38"], subject="reviewer")
    assert api.post(f"/v1/duplicates/{b}/{a}/dismiss", headers=reviewer).status_code == 204

    assert api.get("/v1/duplicates").json() == []
    assert api.post(f"/v1/duplicates/{a}/{clinic.uuid()}/dismiss").status_code == 404


def test_merging_moves_the_records_and_children_and_publishes_what_changed(
    api: TestClient, clinic: Clinic
) -> None:
    survivor = clinic.mother(handbook_no="TH-7")
    duplicate = family(clinic, handbook_no="TH-7")
    post(api, survivor, *duplicate.values())
    keep, drop = survivor.data["mother_id"], duplicate["mother"].data["mother_id"]
    child_id = duplicate["birth"].data["babies"][0]["child_id"]
    before = len(staged(api))

    reviewer = bearer([Role.DATA_MANAGER], ["38"], subject="reviewer")
    response = api.post(f"/v1/persons/{drop}/merge-into/{keep}", headers=reviewer)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "merged",
        "duplicate_id": drop,
        "surviving_id": keep,
        "records_moved": 3,
        "children_moved": 1,
    }
    published = staged(api)[before:]
    name, key, merged = published[0]
    assert (name, key) == ("vn.mch.records.persons-merged.v1", keep)
    assert (merged["duplicate_id"], merged["surviving_id"]) == (drop, keep)
    states = {data["person_id"]: data for name, _, data in published if name.endswith("person.v1")}
    log = api.get("/v1/access-log", params={"person_id": drop}).json()
    assert [(e["user"], e["action"], e["purpose"]) for e in log] == [
        ("reviewer", "merge", "data_quality")
    ]
    assert states[drop]["merged_into"] == keep
    assert states[child_id]["mother_id"] == keep
    moved = [
        data for name, _, data in published if not name.endswith(("person.v1", "persons-merged.v1"))
    ]
    assert {d.get("mother_id") for d in moved} == {keep}
    assert {name.rsplit(".", 2)[-2] for name, _, _ in published} >= {
        "pregnancy",
        "antenatal-visit",
        "birth",
    }

    view = api.get(f"/v1/mothers/{keep}").json()
    assert [p["pregnancy_id"] for p in view["pregnancy_care"]] == [
        duplicate["pregnancy"].data["pregnancy_id"]
    ]
    assert api.get(f"/v1/mothers/{drop}").json()["basic_information"]["merged_into"] == keep
    assert api.get("/v1/duplicates").json() == []


def test_events_still_naming_a_merged_person_are_applied_to_the_survivor(
    api: TestClient, clinic: Clinic
) -> None:
    survivor, duplicate = clinic.mother(), family(clinic)
    post(api, survivor, *duplicate.values())
    keep, drop = survivor.data["mother_id"], duplicate["mother"].data["mother_id"]
    api.post(f"/v1/persons/{drop}/merge-into/{keep}")
    before = len(staged(api))

    late = clinic.antenatal(duplicate["pregnancy"], dt.date(2025, 10, 1))
    dose = clinic.dose(drop, dt.date(2025, 10, 1), vaccine="TD")
    assert (
        post(api, late, dose, amended(duplicate["mother"], 2, phone="0987654321"))
        == ["accepted"] * 3
    )

    published = staged(api)[before:]
    assert {d["mother_id"] for n, _, d in published if n.endswith("antenatal-visit.v1")} == {keep}
    assert {d["person_id"] for n, _, d in published if n.endswith("immunization.v1")} == {keep}
    assert api.get(f"/v1/mothers/{drop}").json()["basic_information"]["merged_into"] == keep


def test_a_merge_that_cannot_be_right_is_refused_and_a_repeat_changes_nothing(
    api: TestClient, clinic: Clinic
) -> None:
    a, b, c, child = clinic.mother(), clinic.mother(), clinic.mother(), clinic.child()
    post(api, a, b, c, child)
    ids = {"a": a.data["mother_id"], "b": b.data["mother_id"], "c": c.data["mother_id"]}
    ids["x"] = child.data["child_id"]

    def merge(duplicate: str, surviving: str) -> tuple[int, Any]:
        response = api.post(f"/v1/persons/{duplicate}/merge-into/{surviving}")
        return response.status_code, response.json()

    assert merge(ids["a"], ids["a"])[0] == 422
    assert merge(ids["x"], ids["a"])[0] == 422
    assert merge(ids["a"], str(clinic.uuid()))[0] == 404
    assert merge(ids["a"], ids["b"])[1]["status"] == "merged"
    before = len(staged(api))
    assert merge(ids["a"], ids["b"])[1]["status"] == "already_merged"
    assert len(staged(api)) == before
    assert merge(ids["a"], ids["c"])[0] == 409
    assert merge(ids["c"], ids["a"])[0] == 409
