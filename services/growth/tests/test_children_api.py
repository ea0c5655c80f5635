"""A child's growth series and growth chart, served from the visits the service has assessed."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mch_events.broker import KafkaSettings
from mch_events.contracts import records as r
from mch_growth.app import create_app
from mch_growth.domain.chart import PALETTES, render_chart
from mch_growth.domain.zscores import ENGINE_VERSION, REFERENCE, Sex
from mch_growth.settings import GrowthSettings
from mch_platform.testing import bearer

Send = Callable[..., list[str]]
VisitOf = Callable[..., r.ChildVisitRecorded]
PersonOf = Callable[..., r.PersonState]

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def client(growth_database: str) -> Iterator[TestClient]:
    # Not started: these routes need the database only, not the broker.
    app = create_app(
        GrowthSettings(database_url=growth_database),
        KafkaSettings(bootstrap_servers="127.0.0.1:9"),
    )
    # Growth keeps no org-unit tree: the token names the children's commune itself.
    yield TestClient(app, headers=bearer(orgunits=("38004",)))
    app.state.ctx.engine.dispose()


def series(client: TestClient, child: uuid.UUID) -> Any:
    response = client.get(f"/v1/children/{child}/growth")
    assert response.status_code == 200, response.text
    return response.json()


def chart(client: TestClient, child: uuid.UUID, **params: str) -> ET.Element:
    response = client.get(f"/v1/children/{child}/chart.svg", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    return ET.fromstring(response.text)


def texts(root: ET.Element) -> set[str]:
    return {"".join(t.itertext()) for t in root.iter(f"{SVG}text")}


def dots(root: ET.Element) -> int:
    return sum(c.get("class") == "child-point" for c in root.iter(f"{SVG}circle"))


def test_the_series_lists_each_live_visit_with_rounded_scores_status_and_provenance(
    client: TestClient, send: Send, new_visit: VisitOf, new_child: PersonOf
) -> None:
    child = uuid.uuid4()
    voided = new_visit(child, 345, 7.5, voided=True)
    send(
        new_child(child),
        new_visit(child, 300, 7.0),
        new_visit(child, 330, 7.0),
        voided,
        new_visit(child, 360, 20.0, measured="standing"),  # a weight no boy of a year can have
    )
    body = series(client, child)
    assert (body["child_id"], body["sex"], body["birth_date"]) == (str(child), "M", "2025-01-01")
    first, second, absurd = body["visits"]
    assert [v["visit_date"] for v in body["visits"]] == ["2025-10-28", "2025-11-27", "2025-12-27"]
    assert (first["age_days"], first["weight_kg"], first["measured"]) == (300, 7.0, "lying")
    assert first["waz"] == -2.41
    for visit in body["visits"]:
        assert all(visit[z] == round(visit[z], 2) for z in ("waz", "lhaz", "whz", "baz", "hcaz"))
        assert (visit["reference"], visit["engine_version"]) == (REFERENCE, ENGINE_VERSION)
        assert visit["revision"] == 1
    assert first["classification"] == ["underweight_moderate", "wasting_moderate", "vn_grade_1"]
    assert (first["flags"], first["faltering"]) == ([], False)
    assert second["faltering"]  # no gain over a month
    assert absurd["flags"] == ["waz", "whz", "baz"]
    assert absurd["classification"] == ["stunting_moderate"]  # flagged scores are not judged


def test_a_child_known_only_by_its_visits_is_served(
    client: TestClient, send: Send, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    send(new_visit(child, 300, 8.0, sex="F"))
    body = series(client, child)
    assert (body["sex"], len(body["visits"])) == ("F", 1)
    assert dots(chart(client, child, indicator="wfa")) == 1


def test_a_registered_child_without_visits_has_an_empty_series_and_chart(
    client: TestClient, send: Send, new_child: PersonOf
) -> None:
    child = uuid.uuid4()
    send(new_child(child, sex="F"))
    assert series(client, child)["visits"] == []
    root = chart(client, child, indicator="wfa")
    assert "Cân nặng theo tuổi — Bé gái" in texts(root)
    assert dots(root) == 0


def test_an_unknown_voided_or_merged_child_is_not_found(
    client: TestClient, send: Send, new_visit: VisitOf, new_child: PersonOf
) -> None:
    voided, merged = uuid.uuid4(), uuid.uuid4()
    send(
        new_child(voided, voided=True),
        new_child(merged, merged_into=uuid.uuid4()),
        new_visit(merged, 300, 8.0),
    )
    for child in (uuid.uuid4(), voided, merged):
        for path in ("growth", "chart.svg?indicator=wfa"):
            response = client.get(f"/v1/children/{child}/{path}")
            assert response.status_code == 404, (child, path)
    assert client.get("/v1/children/not-an-id/growth").status_code == 422


def test_the_chart_draws_the_childs_points_on_the_who_curves(
    client: TestClient, send: Send, new_visit: VisitOf, new_child: PersonOf
) -> None:
    child = uuid.uuid4()
    send(
        new_child(child),
        new_visit(child, 300, 7.0),
        new_visit(child, 600, 9.5, length_height_cm=80.0, measured="standing"),
        new_visit(child, 620, 10.0, oedema=True),
    )
    response = client.get(f"/v1/children/{child}/chart.svg", params={"indicator": "wfa"})
    # Vietnamese by default; the weight taken with oedema is no point on a weight chart.
    assert response.text == render_chart("wfa", Sex.MALE, [(300, 7.0), (600, 9.5)], "vi")
    root = ET.fromstring(response.text)
    assert {"Cân nặng theo tuổi — Bé trai", "Tuổi (tháng)", "Cân nặng (kg)"} <= texts(root)
    curves = [p.get("data-z") for p in root.iter(f"{SVG}path") if p.get("class") == "curve"]
    assert curves == ["-3", "-2", "0", "2", "3"]
    assert dots(root) == 2
    assert f'fill="{PALETTES[Sex.MALE].band}"' in response.text

    # Lengths are drawn as scored: standing before 2 years gains 0.7 cm.
    response = client.get(f"/v1/children/{child}/chart.svg", params={"indicator": "lhfa"})
    points = [(300, 70.0), (600, 80.7), (620, 70.0)]
    assert response.text == render_chart("lhfa", Sex.MALE, points, "vi")

    english = chart(client, child, indicator="hcfa", lang="en")
    assert {"Head circumference-for-age — Boys", "Head circumference (cm)"} <= texts(english)
    assert dots(english) == 3


def test_weight_for_height_follows_the_age_at_the_latest_visit(
    client: TestClient, send: Send, new_visit: VisitOf, new_child: PersonOf
) -> None:
    child = uuid.uuid4()
    send(new_child(child, sex="F"), new_visit(child, 300, 7.5, sex="F"))
    response = client.get(f"/v1/children/{child}/chart.svg", params={"indicator": "wfh"})
    assert response.text == render_chart("wfl", Sex.FEMALE, [(70.0, 7.5)], "vi")

    send(new_visit(child, 800, 11.0, sex="F", length_height_cm=85.0, measured="standing"))
    root = chart(client, child, indicator="wfh")
    assert "Cân nặng theo chiều cao — Bé gái" in texts(root)
    assert dots(root) == 1  # the visit from 2 years; the one before is on weight-for-length
    response = client.get(f"/v1/children/{child}/chart.svg", params={"indicator": "wfl"})
    assert response.text == render_chart("wfl", Sex.FEMALE, [(70.0, 7.5)], "vi")


@pytest.mark.parametrize("params", [{}, {"indicator": "wfz"}, {"indicator": "wfa", "lang": "fr"}])
def test_a_bad_chart_request_is_unprocessable(
    client: TestClient, send: Send, new_child: PersonOf, params: dict[str, str]
) -> None:
    child = uuid.uuid4()
    send(new_child(child))
    response = client.get(f"/v1/children/{child}/chart.svg", params=params)
    assert response.status_code == 422
