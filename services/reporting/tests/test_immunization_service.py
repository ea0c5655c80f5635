"""Immunization indicators from what the immunization service publishes on
``mch.immunization.v1``, on the real broker, on SQLite and on PostgreSQL: the latest state of each
status fact counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from pydantic import BaseModel

from mch_events.contracts import facility as f
from mch_events.contracts import immunization as i
from mch_events.contracts import records as r
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.testing import running

pytestmark = pytest.mark.integration

Produce = Callable[..., Awaitable[None]]
WaitFor = Callable[..., Awaitable[None]]

D = dt.date
REFORM = D(2025, 7, 1)
SCHEDULE = "vn-epi-child-2024@1.0"


TREE = [
    r.OrgUnit(code="VN", name="VN", level="national", valid_from=D(2020, 1, 1)),
    r.OrgUnit(code="38", name="38", level="province", parent="VN", valid_from=D(2020, 1, 1)),
    r.OrgUnit(code="38004", name="38004", level="commune", parent="38", valid_from=REFORM),
    r.OrgUnit(code="BV-38", name="BV-38", level="facility", parent="38", valid_from=D(2020, 1, 1)),
]


async def totals(
    client: httpx.AsyncClient, orgunit: str, period: str
) -> dict[str, tuple[int, int | None]]:
    response = await client.get("/v1/indicators", params={"orgunit": orgunit, "period": period})
    assert response.status_code == 200, response.text
    return {
        v["indicator"]: (v["numerator"], v["denominator"])
        for v in response.json()["values"]
        if "sex" not in v
    }


def status(
    person: uuid.UUID, fact: str, since: dt.date, **kw: object
) -> i.ImmunizationStatusChanged:
    values: dict[str, object] = {
        "person_id": person,
        "status": fact,
        "holds": True,
        "since": since,
        "population": "child",
        "sex": "F",
        "birth_date": D(2025, 11, 10),
        "residence": "38004",
        "as_of": D(2026, 12, 1),
        "schedule_version": SCHEDULE,
    }
    return i.ImmunizationStatusChanged.model_validate(values | kw)


async def test_fic_defaulters_and_tt_pab_follow_the_status_facts(
    kafka_broker: EmbeddedBroker, database_url: str, produce: Produce, wait_for: WaitFor
) -> None:
    immunized, late, mother = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    birth = uuid.uuid4()
    born = D(2025, 11, 10)
    events: list[BaseModel] = [
        *(
            r.PersonState(
                person_id=c, role="child", sex="F", birth_date=born, registered_on=born,
                residences=[r.ResidencePeriod(residence="38004")],
            )
            for c in (immunized, late)
        ),
        r.BirthRecorded(
            birth_id=birth, pregnancy_id=uuid.uuid4(), mother_id=mother, facility="BV-38",
            birth_date=D(2026, 11, 2), residence="38004", place="facility", attendant="midwife",
            mode="vaginal", babies=[f.Baby(child_id=uuid.uuid4(), sex="M", outcome="live")],
        ),
        status(immunized, "fully_immunized", D(2026, 8, 1)),
        status(late, "dose_overdue", D(2026, 11, 5), vaccine="MCV1", dose=1),
        status(
            mother, "protected_at_birth", D(2026, 11, 2), birth_id=birth, population="women",
            schedule_version="vn-tetanus-women@1.0",
        ),
    ]  # fmt: skip
    async with running(
        "reporting", database_url=database_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (_, client):
        await produce(kafka_broker, *TREE)
        await produce(kafka_broker, *events)

        async def counted() -> bool:
            try:
                got = await totals(client, "38", "2026-11")
            except AssertionError:
                return False
            return (got["FIC"], got["DEFAULTERS"], got["TT_PAB"]) == ((1, 2), (1, 2), (1, 1))

        await wait_for(counted)
        response = await client.get(
            "/v1/indicators",
            params={"orgunit": "38", "period": "2026-11", "indicator": "TT_PAB"},
        )
        assert response.json()["values"][0]["rules"] == {"schedule": ["vn-tetanus-women@1.0"]}

        # The dose given on 20 November: no longer overdue at the end of November.
        await produce(
            kafka_broker,
            status(late, "dose_overdue", D(2026, 11, 5), holds=False, until=D(2026, 11, 20),
                   vaccine="MCV1", dose=1),
        )  # fmt: skip

        async def given() -> bool:
            return (await totals(client, "38", "2026-11"))["DEFAULTERS"] == (0, 2)

        await wait_for(given)


async def test_dose_indicators_count_what_the_immunization_service_judged(
    kafka_broker: EmbeddedBroker,
    pg_databases: Callable[[], str],
    produce: Produce,
    wait_for: WaitFor,
) -> None:
    """Records' events in, the immunization service's own judgement of each dose through
    ``mch.immunization.v1``, reporting's counts out."""
    mother, baby, birth = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    born = D(2026, 5, 1)
    servers = kafka_broker.bootstrap_servers

    def given(vaccine: str, day: dt.date) -> r.ImmunizationRecorded:
        return r.ImmunizationRecorded(
            immunization_id=uuid.uuid4(), person_id=baby, facility="BV-38", date=day,
            vaccine=vaccine, sex="F", birth_date=born, residence="38004",
        )  # fmt: skip

    async with (
        running("immunization", database_url=pg_databases(), bootstrap_servers=servers),
        running("reporting", database_url=pg_databases(), bootstrap_servers=servers) as (_, client),
    ):
        await produce(kafka_broker, *TREE)
        await produce(
            kafka_broker,
            r.PersonState(
                person_id=baby, role="child", sex="F", birth_date=born, registered_on=born,
                mother_id=mother, residences=[r.ResidencePeriod(residence="38004")],
            ),
            r.BirthRecorded(
                birth_id=birth, pregnancy_id=uuid.uuid4(), mother_id=mother, facility="BV-38",
                birth_date=born, residence="38004", place="facility", attendant="doctor",
                mode="vaginal", babies=[f.Baby(child_id=baby, sex="F", outcome="live")],
            ),
            given("HEPB0", born),
            given("BCG", born),
            given("PENTA", D(2026, 6, 20)),  # before 2 months: invalid, not counted
            given("PENTA", D(2026, 7, 1)),
        )  # fmt: skip

        async def judged() -> bool:
            response = await client.get(
                "/v1/indicators",
                params={"orgunit": "38", "period": "2026-07", "indicator": "PENTA1"},
            )
            if response.status_code != 200:
                return False  # the tree is not there yet
            total = response.json()["values"][0]
            return bool((total["numerator"], total["denominator"]) == (1, 1))

        await wait_for(judged, 90.0)
        may = await totals(client, "38", "2026-05")
        assert (may["BCG"], may["HEPB0_24H"]) == ((1, 1), (1, 1))
        june = await totals(client, "38", "2026-06")
        assert june["PENTA1"] == (0, 1)
        facility = await client.get(
            "/v1/indicators",
            params={
                "orgunit": "BV-38",
                "period": "2026-07",
                "view": "facility",
                "indicator": "PENTA1",
            },
        )
        assert facility.json()["values"][0]["numerator"] == 1
        assert facility.json()["values"][0]["rules"] == {"schedule": ["vn-epi-child-2024@1.0"]}
