"""The reporting service on the real broker and PostgreSQL: what records and growth publish is
counted, whatever order it arrives in, and the API answers with reasons rather than 5xx."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.testing import running

pytestmark = pytest.mark.integration

Produce = Callable[..., Awaitable[None]]
WaitFor = Callable[..., Awaitable[None]]

START, REFORM = dt.date(2020, 1, 1), dt.date(2025, 7, 1)
BORN = dt.date(2026, 1, 15)
# As long as the growth service's: the rule versions are kept whole.
REFERENCE = (
    "WHO Child Growth Standards 2006 (days 0-1856) + WHO Growth Reference 2007 (from day 1857)"
)


def unit(
    code: str, level: str, parent: str | None, frm: dt.date = START, to: dt.date | None = None
) -> r.OrgUnit:
    return r.OrgUnit(code=code, name=code, level=level, parent=parent, valid_from=frm, valid_to=to)


TREE = [
    unit("VN", "national", None),
    unit("38", "province", "VN"),
    unit("404", "district", "38", to=REFORM),
    unit("40401", "commune", "404", to=REFORM),
    unit("38004", "commune", "38", frm=REFORM),
    unit("38005", "commune", "38", frm=REFORM),
    unit("TYT-38004", "facility", "38004", frm=REFORM),
]


async def value(
    client: httpx.AsyncClient, orgunit: str, period: str, code: str, **params: str
) -> tuple[int, int | None]:
    response = await client.get(
        "/v1/indicators", params={"orgunit": orgunit, "period": period, **params}
    )
    assert response.status_code == 200, response.text
    found = next(v for v in response.json()["values"] if v["indicator"] == code)
    return found["numerator"], found["denominator"]


def person(child: uuid.UUID, registered_on: dt.date, **fields: object) -> r.PersonState:
    return r.PersonState(
        person_id=child,
        role="child",
        sex="F",
        birth_date=BORN,
        registered_on=registered_on,
        residences=[r.ResidencePeriod(residence="38004")],
        **fields,
    )


def assessed(child: uuid.UUID, visit: uuid.UUID, day: dt.date, waz: float) -> g.GrowthAssessed:
    return g.GrowthAssessed(
        visit_id=visit,
        child_id=child,
        facility="TYT-38004",
        residence="38004",
        visit_date=day,
        sex="F",
        birth_date=BORN,
        age_days=(day - BORN).days,
        waz=g.ZScore(value=waz),
        lhaz=g.ZScore(value=0.1),
        whz=g.ZScore(value=0.2),
        reference=REFERENCE,
        engine_version="test",
    )


async def test_late_registrations_leave_no_numerator_above_its_denominator(
    kafka_broker: EmbeddedBroker, database_url: str, produce: Produce, wait_for: WaitFor
) -> None:
    weighed, dosed = uuid.uuid4(), uuid.uuid4()
    visit, dose = uuid.uuid4(), uuid.uuid4()
    nov20 = dt.date(2026, 11, 20)
    child_visit = r.ChildVisitRecorded(
        visit_id=visit,
        child_id=weighed,
        facility="TYT-38004",
        visit_date=nov20,
        sex="F",
        birth_date=BORN,
        residence="38004",
        weight_kg=7.9,
    )
    bcg = r.ImmunizationRecorded(
        immunization_id=dose,
        person_id=dosed,
        facility="TYT-38004",
        date=dt.date(2026, 10, 3),
        vaccine="BCG",
        sex="F",
        birth_date=BORN,
        residence="38004",
    )
    async with running(
        "reporting", database_url=database_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (_, client):
        await produce(kafka_broker, *TREE)

        async def tree_known() -> bool:
            response = await client.get(
                "/v1/indicators", params={"orgunit": "38004", "period": "2026-11"}
            )
            return response.status_code == 200

        await wait_for(tree_known)
        # The care first, the registrations after it, dated after it (registered "today").
        await produce(kafka_broker, child_visit, assessed(weighed, visit, nov20, -2.5), bcg)
        late = dt.date(2026, 12, 7)
        await produce(kafka_broker, person(weighed, late), person(dosed, late))

        async def both_counted() -> bool:
            return await value(client, "38004", "2026-11", "U5_MEASURED") == (1, 2)

        await wait_for(both_counted)
        assert await value(client, "38", "2026-11", "U5_MEASURED") == (1, 2)
        assert await value(client, "38004", "2026-11", "UNDERWEIGHT") == (1, 1)
        # The dose dates the second child's registration; the weighing the first's.
        assert await value(client, "38004", "2026-10", "U5_MEASURED") == (0, 1)
        assert await value(client, "38004", "2026-09", "U5_MEASURED") == (0, 0)

        # The dose voided: the second child counts from its registration only.
        await produce(kafka_broker, bcg.model_copy(update={"revision": 2, "voided": True}))

        async def dose_withdrawn() -> bool:
            return await value(client, "38004", "2026-10", "U5_MEASURED") == (0, 0)

        await wait_for(dose_withdrawn)
        assert await value(client, "38004", "2026-11", "U5_MEASURED") == (1, 1)

        # A facility is not a residence; its own view answers for it and the areas above it.
        response = await client.get(
            "/v1/indicators", params={"orgunit": "TYT-38004", "period": "2026-11"}
        )
        assert response.status_code == 404
        assert "facility" in response.json()["detail"]
        assert await value(client, "TYT-38004", "2026-11", "U5_MEASURED", view="facility") == (
            1,
            None,
        )
        assert await value(client, "38", "2026-11", "U5_MEASURED", view="facility") == (1, None)


def child_state(child: uuid.UUID, sex: str, residence: str) -> r.PersonState:
    return r.PersonState(
        person_id=child,
        role="child",
        sex=sex,
        birth_date=BORN,
        registered_on=BORN,
        residences=[r.ResidencePeriod(residence=residence)],
    )


async def test_the_api_answers_by_sex_by_child_unit_and_by_month_and_never_with_a_5xx(
    kafka_broker: EmbeddedBroker, pg_url: str, produce: Produce, wait_for: WaitFor
) -> None:
    girl, boy, unmeasured = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    boy_weighed = assessed(boy, uuid.uuid4(), dt.date(2026, 11, 5), -1.0).model_copy(
        update={"sex": "M", "residence": "38005"}
    )
    async with running(
        "reporting", database_url=pg_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (_, client):
        await produce(kafka_broker, *TREE)
        await produce(
            kafka_broker,
            child_state(girl, "F", "38004"),
            child_state(boy, "M", "38005"),
            child_state(unmeasured, "F", "38005"),
            assessed(girl, uuid.uuid4(), dt.date(2026, 11, 20), -2.5),
            boy_weighed,
        )

        async def counted() -> bool:
            response = await client.get(
                "/v1/indicators", params={"orgunit": "38", "period": "2026-11"}
            )
            if response.status_code != 200:
                return False
            totals = {
                v["indicator"]: (v["numerator"], v["denominator"])
                for v in response.json()["values"]
                if "sex" not in v
            }
            return totals["U5_MEASURED"] == (2, 3)

        await wait_for(counted)

        # Rows by sex beside the total (which has no sex), each with its as-of and rules.
        response = await client.get(
            "/v1/indicators",
            params={
                "orgunit": "38",
                "period": "2026-11",
                "indicator": ["UNDERWEIGHT", "U5_MEASURED"],
            },
        )
        body = response.json()
        rows = [
            (v["indicator"], v.get("sex"), v["numerator"], v["denominator"]) for v in body["values"]
        ]
        assert rows == [
            ("U5_MEASURED", None, 2, 3),
            ("U5_MEASURED", "M", 1, 1),
            ("U5_MEASURED", "F", 1, 2),
            ("UNDERWEIGHT", None, 1, 2),
            ("UNDERWEIGHT", "M", 0, 1),
            ("UNDERWEIGHT", "F", 1, 1),
        ]
        total = body["values"][3]
        assert "sex" not in total
        assert total["rules"] == {"growth_engine": ["test"], "growth_reference": [REFERENCE]}
        as_of = dt.datetime.fromisoformat(total["as_of"])
        assert as_of <= dt.datetime.fromisoformat(body["as_of"])
        assert abs((dt.datetime.now(dt.UTC) - as_of).total_seconds()) < 3600

        # Drill-down: the province's communes in one call.
        response = await client.get(
            "/v1/indicators/children",
            params={"orgunit": "38", "period": "2026-11", "indicator": "U5_MEASURED"},
        )
        assert response.status_code == 200, response.text
        below = {
            c["orgunit"]: (c["values"][0]["numerator"], c["values"][0]["denominator"])
            for c in response.json()["children"]
        }
        assert below == {"38004": (1, 1), "38005": (1, 2)}
        response = await client.get(
            "/v1/indicators/children",
            params={"orgunit": "38004", "period": "2026-11", "view": "facility"},
        )
        assert [c["orgunit"] for c in response.json()["children"]] == ["TYT-38004"]

        # One value per month; a unit that ended has no months after it.
        response = await client.get(
            "/v1/indicators/series",
            params={"orgunit": "38", "indicator": "U5_MEASURED", "from": "2026-10", "to": "2026Q4"},
        )
        assert response.status_code == 200, response.text
        series = response.json()
        assert (series["from"], series["to"]) == ("2026-10", "2026Q4")
        assert [
            (v["period"], v["numerator"], v["denominator"])
            for v in series["values"]
            if "sex" not in v
        ] == [("2026-10", 0, 3), ("2026-11", 2, 3), ("2026-12", 0, 3)]
        response = await client.get(
            "/v1/indicators/series",
            params={"orgunit": "404", "indicator": "STUNTING", "from": "2025-05", "to": "2025-08"},
        )
        assert [v["period"] for v in response.json()["values"] if "sex" not in v] == [
            "2025-05",
            "2025-06",
        ]

        # Reasons, never a 5xx.
        for path, params, status, reason in [
            ("/v1/indicators", {"orgunit": "38", "period": "2026-13"}, 422, "YYYY-MM"),
            ("/v1/indicators", {"orgunit": "38", "period": "2026-6M"}, 422, "YYYYS1"),
            ("/v1/indicators", {"orgunit": "38", "period": "0000"}, 422, "year"),
            ("/v1/indicators", {"orgunit": "NOPE", "period": "2026"}, 404, "unknown org unit"),
            ("/v1/indicators", {"orgunit": "404", "period": "2026-11"}, 404, "not in force"),
            (
                "/v1/indicators",
                {"orgunit": "38", "period": "2026", "indicator": "NOPE"},
                404,
                "unknown indicator",
            ),
            (
                "/v1/indicators/series",
                {"orgunit": "38", "indicator": "U5_MEASURED", "from": "2026-12", "to": "2026-01"},
                422,
                "before",
            ),
            (
                "/v1/indicators/series",
                {"orgunit": "38", "indicator": "U5_MEASURED", "from": "1990", "to": "2026"},
                422,
                "at most",
            ),
        ]:
            response = await client.get(path, params=params)
            assert response.status_code == status, (params, response.text)
            assert reason in str(response.json()["detail"]), (params, response.text)
        assert (
            await client.get("/v1/indicators", params={"orgunit": "404", "period": "2025"})
        ).status_code == 200

        pieces = [
            "38",
            "404",
            "TYT-38004",
            "2026",
            "2026-11",
            "Q4",
            "S1",
            "-9M",
            "",
            "%",
            "\u0111",
            "0",
            "99999",
        ]
        rng = random.Random(7)
        for _ in range(150):
            params = {
                "orgunit": "".join(rng.choices(pieces, k=rng.randint(0, 2))),
                "period": "".join(rng.choices(pieces, k=rng.randint(0, 2))),
                "view": rng.choice(["residence", "facility", "x"]),
                "indicator": rng.choice(["U5_MEASURED", "", "x"]),
                "from": "".join(rng.choices(pieces, k=rng.randint(0, 2))),
                "to": "".join(rng.choices(pieces, k=rng.randint(0, 2))),
            }
            path = rng.choice(
                ["/v1/indicators", "/v1/indicators/children", "/v1/indicators/series"]
            )
            response = await client.get(path, params=params)
            assert response.status_code < 500, (path, params, response.text)


async def test_people_of_a_merged_commune_count_for_its_successor(
    kafka_broker: EmbeddedBroker, database_url: str, produce: Produce, wait_for: WaitFor
) -> None:
    """40401 merged into 38004 on 01/07/2025 and names it: a child registered there in 2024 who
    never moved counts in 2026 for 38004; one whose residence changed to 38005 counts there (an
    explicit change wins); before the merger both count for 40401 and its district."""
    stayed, moved = uuid.uuid4(), uuid.uuid4()
    born = dt.date(2024, 3, 1)
    tree = [u.model_copy(update={"successor": "38004"}) if u.code == "40401" else u for u in TREE]

    def registered(person: uuid.UUID, *moves: r.ResidencePeriod) -> r.PersonState:
        return r.PersonState(
            person_id=person,
            role="child",
            sex="F",
            birth_date=born,
            registered_on=born,
            residences=[r.ResidencePeriod(residence="40401"), *moves],
        )

    def measured(person: uuid.UUID, day: dt.date, residence: str) -> g.GrowthAssessed:
        return assessed(person, uuid.uuid4(), day, -1.0).model_copy(
            update={"birth_date": born, "age_days": (day - born).days, "residence": residence}
        )

    nov = dt.date(2026, 11, 10)
    async with running(
        "reporting", database_url=database_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (_, client):
        await produce(kafka_broker, *tree)
        await produce(
            kafka_broker,
            registered(stayed),
            registered(
                moved, r.ResidencePeriod(residence="38005", effective_date=dt.date(2025, 8, 1))
            ),
            measured(stayed, nov, "40401"),
            measured(moved, nov, "38005"),
            measured(stayed, dt.date(2024, 11, 10), "40401"),
        )

        async def counted() -> bool:
            response = await client.get(
                "/v1/indicators",
                params={"orgunit": "38", "period": "2026-11", "indicator": "U5_MEASURED"},
            )
            if response.status_code != 200:
                return False  # the tree has not arrived yet
            total = response.json()["values"][0]
            return (total["numerator"], total["denominator"]) == (2, 2)

        await wait_for(counted)
        assert await value(client, "38004", "2026-11", "U5_MEASURED") == (1, 1)
        assert await value(client, "38005", "2026-11", "U5_MEASURED") == (1, 1)
        assert await value(client, "404", "2024-11", "U5_MEASURED") == (1, 2)
        assert await value(client, "40401", "2024-11", "U5_MEASURED") == (1, 2)
