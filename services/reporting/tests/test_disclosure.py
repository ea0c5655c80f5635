"""Small-cell suppression of answers: cells under the minimum are hidden from readers without
named access (managers), after every sum up the tree; a row by sex is hidden with its sibling when
the total would give it back; readers with named access to the area see every number."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from mch_events.broker import KafkaSettings
from mch_events.contracts.records import OrgUnit, PersonErased
from mch_events.envelope import new_event
from mch_events.orgtree import OrgTree
from mch_platform.testing import bearer
from mch_reporting.app import create_app
from mch_reporting.domain import catalog
from mch_reporting.domain.disclosure import Disclosure, disclose, suppress
from mch_reporting.domain.indicators import Count, IndicatorValue, Sex, aggregate
from mch_reporting.settings import ReportingSettings
from mch_reporting.storage import ReportingChild, ReportingGrowth, ReportingOrgUnit
from mch_servicekit.access import Role
from mch_servicekit.migrations import upgrade

START = dt.date(2020, 1, 1)
DAY = dt.date(2026, 11, 10)


def row(
    numerator: int, denominator: int | None, sex: Sex | None = None, code: str = "X"
) -> IndicatorValue:
    return IndicatorValue(indicator=code, numerator=numerator, denominator=denominator, sex=sex)


def shown(rows: list[IndicatorValue]) -> list[tuple[int | None, int | None]]:
    return [(r.numerator, r.denominator) for r in rows]


HIDDEN = (None, None)
CASES: list[tuple[str, list[IndicatorValue], list[tuple[int | None, int | None]]]] = [
    ("large cells stay", [row(40, 100)], [(40, 100)]),
    ("zero stays", [row(0, 100)], [(0, 100)]),
    ("small numerator", [row(2, 100)], [HIDDEN]),
    ("small denominator", [row(0, 3)], [HIDDEN]),
    ("small count", [row(4, None)], [HIDDEN]),
    (
        "a small sex row hides its sibling while the total is shown",
        [row(30, 100), row(2, 40, "M"), row(28, 60, "F")],
        [(30, 100), HIDDEN, HIDDEN],
    ),
    (
        "a zero sex row hides nothing",
        [row(30, 100), row(0, 40, "M"), row(30, 60, "F")],
        [(30, 100), (0, 40), (30, 60)],
    ),
    (
        "a small total: the other sex is zero, nothing to give back",
        [row(3, 100), row(3, 40, "M"), row(0, 60, "F")],
        [HIDDEN, HIDDEN, (0, 60)],
    ),
    (
        "rows of other indicators are judged on their own",
        [row(30, 100), row(2, 40, "M"), row(28, 60, "F"), row(7, 9, code="Y")],
        [(30, 100), HIDDEN, HIDDEN, (7, 9)],
    ),
]


@pytest.mark.parametrize(("rows", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_suppression_table(
    rows: list[IndicatorValue], expected: list[tuple[int | None, int | None]]
) -> None:
    answer = suppress(rows, 5)
    assert shown(answer) == expected
    assert [r.suppressed for r in answer] == [e == HIDDEN for e in expected]
    assert all(r.value is None for r in answer if r.suppressed)
    # The row keeps what it is about.
    assert [(r.indicator, r.sex) for r in answer] == [(r.indicator, r.sex) for r in rows]


def unit(code: str, level: str, parent: str | None) -> OrgUnit:
    return OrgUnit(code=code, name=code, level=level, parent=parent, valid_from=START)


UNITS = [
    unit("VN", "national", None),
    unit("38", "province", "VN"),
    unit("38004", "commune", "38"),
    unit("38005", "commune", "38"),
]
TREE = OrgTree(UNITS)
MEASURED = catalog.select(["U5_MEASURED"])


def test_sums_up_the_tree_come_before_suppression() -> None:
    counts = [
        Count("U5_MEASURED", commune, DAY, True, True, sex="F")
        for commune in ("38004", "38005")
        for _ in range(3)
    ]
    values = aggregate(
        counts, orgunits=["38", "38004", "38005"], tree=TREE, catalog=MEASURED, view="residence"
    )
    manager = Disclosure(5, lambda _unit: False)
    answer = disclose(values, manager)
    total = {code: rows[0] for code, rows in answer.items()}
    assert (total["38"].numerator, total["38"].denominator) == (6, 6)
    assert total["38004"].suppressed
    assert total["38005"].suppressed
    # A reader with named access to one commune sees it, and only it, whole.
    worker = disclose(values, Disclosure(5, lambda code: code == "38004"))
    assert worker["38004"][0].numerator == 3
    assert worker["38005"][0].suppressed


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """Reporting with six children measured in November 2026: three in each commune."""
    url = f"sqlite:///{tmp_path}/reporting.db"
    upgrade("mch_reporting", url)
    app = create_app(
        ReportingSettings(database_url=url), KafkaSettings(bootstrap_servers="127.0.0.1:9")
    )
    with Session(app.state.ctx.engine) as s:
        for u in UNITS:
            s.add(
                ReportingOrgUnit(code=u.code, valid_from=u.valid_from, version=u.model_dump_json())
            )
        for commune in ("38004", "38005"):
            for _ in range(3):
                child = str(uuid.uuid4())
                born = dt.date(2025, 1, 1)
                s.add(
                    ReportingChild(
                        child_id=child,
                        birth_date=born,
                        registered_on=born,
                        residences=json.dumps([[None, commune]]),
                        sex="F",
                    )
                )
                s.add(
                    ReportingGrowth(
                        visit_id=str(uuid.uuid4()),
                        child_id=child,
                        visit_date=DAY,
                        birth_date=born,
                        residence=commune,
                        facility=f"TYT-{commune}",
                        waz=0.0,
                        lhaz=0.0,
                        whz=0.0,
                        sex="F",
                    )
                )
        s.commit()
    yield TestClient(app)
    app.state.ctx.engine.dispose()


def measured(answer: dict[str, object], sex: str | None = None) -> dict[str, object]:
    values = answer["values"]
    assert isinstance(values, list)
    return next(v for v in values if v["indicator"] == "U5_MEASURED" and v.get("sex") == sex)


MANAGER = bearer([Role.MANAGER], ["38"], subject="manager")
WORKER = bearer([Role.HEALTH_WORKER], ["38004"], subject="worker")
QUERY = {"period": "2026-11", "indicator": "U5_MEASURED"}


def test_a_manager_sees_the_province_but_not_the_small_communes(client: TestClient) -> None:
    province = client.get("/v1/indicators", params={"orgunit": "38", **QUERY}, headers=MANAGER)
    assert province.status_code == 200, province.text
    assert measured(province.json())["numerator"] == 6
    assert measured(province.json())["suppressed"] is False
    communes = client.get(
        "/v1/indicators/children", params={"orgunit": "38", **QUERY}, headers=MANAGER
    ).json()["children"]
    for commune in communes:
        for sex in (None, "F"):
            cell = measured(commune, sex)
            assert cell["suppressed"] is True
            assert (cell["numerator"], cell["denominator"], cell["value"]) == (None, None, None)
    series = client.get(
        "/v1/indicators/series",
        params={"orgunit": "38004", "indicator": "U5_MEASURED", "from": "2026-10", "to": "2026-11"},
        headers=MANAGER,
    ).json()["values"]
    by_month = {p["period"]: p for p in series if "sex" not in p}
    assert by_month["2026-11"]["suppressed"]
    assert by_month["2026-11"]["numerator"] is None
    # Nobody measured in October, but the three children of the denominator are too few.
    assert by_month["2026-10"]["suppressed"]
    assert by_month["2026-10"]["denominator"] is None


def test_a_health_worker_sees_her_commune_whole(client: TestClient) -> None:
    mine = client.get("/v1/indicators", params={"orgunit": "38004", **QUERY}, headers=WORKER)
    cell = measured(mine.json())
    assert (cell["numerator"], cell["suppressed"]) == (3, False)


def test_the_minimum_is_configurable(tmp_path: Path) -> None:
    settings = ReportingSettings(
        database_url=f"sqlite:///{tmp_path}/r.db",
        small_cell_minimum=2,
    )
    assert settings.small_cell_minimum == 2
    app = create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"))
    assert app.state.facts.small_cell_minimum == 2
    app.state.ctx.engine.dispose()


def test_an_erasure_changes_no_number(client: TestClient) -> None:
    """Reporting holds no identifiers, only pseudonymous facts that aggregates count: it
    acknowledges ``PersonErased`` and counts the person as before."""
    app = client.app
    facts = app.state.facts  # type: ignore[attr-defined]
    erased = PersonErased(person_id=uuid.uuid4(), erased_on=DAY)
    with Session(app.state.ctx.engine) as session:  # type: ignore[attr-defined]
        result = facts.apply(session, new_event(erased, source="mch-records"), erased)
    assert result.status == "accepted"
    province = client.get("/v1/indicators", params={"orgunit": "38", **QUERY}, headers=MANAGER)
    assert measured(province.json())["numerator"] == 6
