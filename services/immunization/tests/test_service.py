"""The stateful service end to end, on the real broker and database: records in on
``mch.records.v1``, forecasts stored and served, defaulter lists by org unit, status changes out on
``mch.immunization.v1`` — each once — and a schedule upload that publishes only what it changes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel
from sqlmodel import Session, col, select

from mch_events import outbox, topics
from mch_events.contracts import records as r
from mch_events.contracts.immunization import ImmunizationStatusChanged
from mch_events.envelope import new_event, subject_key, to_kafka
from mch_immunization.storage import ImmunizationPerson
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.local import demo_orgunits_json
from mch_platform.testing import running
from mch_servicekit.db import make_engine

# Each test starts the service on a broker of its own: on a shared one, the consumer group of the
# service a previous test stopped keeps its member until the session times out, and the next
# service waits that long to join.
pytestmark = pytest.mark.integration

Send = Callable[..., Awaitable[None]]
TODAY = dt.date(2026, 11, 20)
"""The service's today: forecasts are made as of it, whatever the machine's clock says."""


@contextlib.asynccontextmanager
async def records_topic(broker: EmbeddedBroker) -> AsyncIterator[Send]:
    """Publishes contract models as the records service does (binary mode, keyed by subject)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()

    async def send(*models: BaseModel, event_id: str | None = None) -> None:
        for model in models:
            event = new_event(model, source="mch-records", event_id=event_id)
            body, headers = to_kafka(event)
            # Org units travel under one key: one partition, parents before children.
            key = b"orgunits" if isinstance(model, r.OrgUnit) else subject_key(event)
            await producer.send_and_wait(
                topics.RECORDS, body, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
            )

    try:
        yield send
    finally:
        await producer.stop()


class StatusTopic:
    """What is published on ``mch.immunization.v1``, read from the beginning."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        # No consumer group: joining one takes seconds on this broker.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
        )
        self.events: list[ImmunizationStatusChanged] = []

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = self._consumer.partitions_for_topic(topics.IMMUNIZATION) or set()
        assert partitions, "the service creates its topics at start"
        self._consumer.assign([TopicPartition(topics.IMMUNIZATION, p) for p in partitions])
        await self._consumer.seek_to_beginning()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def read(self) -> int:
        got = 0
        for records in (await self._consumer.getmany(timeout_ms=300)).values():
            self.events += [ImmunizationStatusChanged.model_validate_json(m.value) for m in records]
            got += len(records)
        return got

    async def drain(self) -> None:
        """Read until nothing more arrives."""
        while await self.read():
            pass

    def of(self, person: uuid.UUID) -> list[tuple[str, str | None, int | None, bool]]:
        return [
            (e.status, e.vaccine, e.dose, e.holds) for e in self.events if e.person_id == person
        ]


@contextlib.asynccontextmanager
async def status_topic(broker: EmbeddedBroker) -> AsyncIterator[StatusTopic]:
    topic = StatusTopic(broker)
    await topic.start()
    try:
        yield topic
    finally:
        await topic.stop()


@contextlib.asynccontextmanager
async def service(
    broker: EmbeddedBroker, database_url: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Send, StatusTopic]]:
    """The service running, a producer on its input topic, a reader of its output topic."""
    async with (
        running(
            "immunization",
            database_url=database_url,
            bootstrap_servers=broker.bootstrap_servers,
            today=lambda: TODAY,
        ) as (_, client),
        records_topic(broker) as send,
        status_topic(broker) as published,
    ):
        yield client, send, published


async def until(check: Callable[[], Awaitable[Any]], seconds: float = 45.0) -> Any:
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + seconds
    while True:
        if value := await check():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.1)


async def forecast_of(client: httpx.AsyncClient, person: uuid.UUID) -> dict[str, Any] | None:
    response = await client.get(f"/v1/people/{person}/immunizations")
    return response.json() if response.status_code == 200 else None


async def settled(client: httpx.AsyncClient, database_url: str) -> bool:
    """Nobody waits to be forecast and every staged event is published."""
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            waiting = session.exec(
                select(ImmunizationPerson.person_id).where(col(ImmunizationPerson.pending))
            ).first()
        # Read here, not from /readyz: the probe reports the count of its last background check.
        staged = outbox.pending(engine, "immunization")
    finally:
        engine.dispose()
    return waiting is None and staged == 0


def child(person: uuid.UUID, born: dt.date, commune: str, revision: int = 1) -> r.PersonState:
    return r.PersonState(
        person_id=person,
        role="child",
        sex="M",
        birth_date=born,
        registered_on=born,
        residences=[r.ResidencePeriod(residence=commune)],
        revision=revision,
    )


def dose(
    person: uuid.UUID, vaccine: str, day: dt.date, born: dt.date, commune: str, **kw: Any
) -> r.ImmunizationRecorded:
    return r.ImmunizationRecorded(
        immunization_id=kw.pop("immunization_id", uuid.uuid4()),
        person_id=person,
        facility=f"TYT-{commune}",
        date=day,
        vaccine=vaccine,
        sex="M",
        birth_date=born,
        residence=commune,
        **kw,
    )


def org_units() -> list[r.OrgUnit]:
    return [r.OrgUnit.model_validate(u) for u in json.loads(demo_orgunits_json())]


TWO_MONTH_DOSES = {("dose_overdue", v, 1, True) for v in ("PENTA", "OPV", "ROTA")}


async def test_doses_in_forecast_stored_defaulters_listed_and_changes_published_once(
    kafka_broker: EmbeddedBroker, database_url: str
) -> None:
    born = TODAY - dt.timedelta(days=100)  # the two-month doses are overdue by a week or more
    late, on_time, merged = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    bcg = uuid.uuid4()
    late_doses = [
        dose(late, "HEPB0", born, born, "38004"),
        dose(late, "BCG", born, born, "38004", immunization_id=bcg),
    ]
    two_months = born + dt.timedelta(days=62)
    on_time_doses = [
        dose(on_time, vaccine, day, born, "38010")
        for vaccine, day in [
            ("HEPB0", born),
            ("BCG", born),
            *((v, two_months) for v in ("PENTA", "OPV", "ROTA")),
        ]
    ]
    async with service(kafka_broker, database_url) as (client, send, published):
        await send(*org_units())
        # The late child's doses reach the service before the child does.
        await send(*late_doses)
        await send(child(late, born, "38004"), child(on_time, born, "38010"), *on_time_doses)
        # Still recorded at Minh Khôi (40403), which merged into Tế Nông (38004) in 2025.
        await send(child(merged, born, "40403"), dose(merged, "BCG", born, born, "38004"))

        stored = await until(lambda: forecast_of(client, late))
        assert stored["schedule_version"] == "vn-epi-child-2024@1.0"
        assert (stored["population"], stored["as_of"], stored["residence"]) == (
            "child",
            TODAY.isoformat(),
            "38004",
        )
        statuses = {(d["vaccine"], d["dose"]): d["status"] for d in stored["doses"]}
        assert statuses[("BCG", 1)] == "complete"
        assert statuses[("PENTA", 1)] == statuses[("ROTA", 1)] == "overdue"
        assert (await client.get(f"/v1/people/{uuid.uuid4()}/immunizations")).status_code == 404

        # The defaulter is on his commune's list and the province's, not on another commune's.
        async def listed(orgunit: str) -> dict[str, Any]:
            response = await client.get("/v1/defaulters", params={"orgunit": orgunit})
            assert response.status_code == 200, response.text
            return response.json()  # type: ignore[no-any-return]

        await until(lambda: forecast_of(client, on_time))
        await until(lambda: forecast_of(client, merged))
        commune = await listed("38004")
        assert commune["name"] == "Tế Nông"
        [group] = commune["communes"]
        assert (group["code"], group["name"]) == ("38004", "Tế Nông")
        # The child of the merged commune is listed where it went, under its successor.
        [defaulter] = [p for p in group["people"] if p["person_id"] != str(merged)]
        assert {p["person_id"] for p in group["people"]} == {str(late), str(merged)}
        assert defaulter["person_id"] == str(late)
        assert defaulter["birth_date"] == born.isoformat()
        assert {(o["vaccine"], o["dose"]) for o in defaulter["overdue"]} == {
            ("PENTA", 1),
            ("OPV", 1),
            ("ROTA", 1),
        }
        assert (await listed("38010"))["communes"] == []  # the child on time lives there
        assert [c["code"] for c in (await listed("38"))["communes"]] == ["38004"]

        csv = await client.get("/v1/defaulters", params={"orgunit": "38004", "format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.splitlines()
        assert lines[0].startswith("commune_code,commune_name,person_id")
        assert len([line for line in lines[1:] if str(late) in line]) == 3
        assert all(str(late) in line or str(merged) in line for line in lines[1:])
        assert all(line.startswith("38004,") for line in lines[1:])
        page = await client.get("/v1/defaulters", params={"orgunit": "38", "format": "html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "Danh sách đối tượng quá hạn tiêm chủng" in page.text
        assert str(late) in page.text
        assert "Tế Nông (38004)" in page.text

        # District 404 was abolished in the 2025 reform: not in force on TODAY, in force in 2024.
        gone = await client.get("/v1/defaulters", params={"orgunit": "404"})
        assert gone.status_code == 404
        assert "not in force" in gone.json()["detail"]
        old = await client.get("/v1/defaulters", params={"orgunit": "404", "as_of": "2024-06-30"})
        assert old.status_code == 200
        assert old.json()["communes"] == []

        async def announced() -> bool:
            await published.read()
            return set(published.of(late)) >= TWO_MONTH_DOSES

        await until(announced)
        assert not any(status == "dose_overdue" for status, *_ in published.of(on_time))

        # The same records again: the dose (same event id) and the child's state (a new event).
        await send(late_doses[0], event_id="first-hepb0")
        await send(late_doses[0], event_id="first-hepb0")
        await send(child(late, born, "38004"))
        # A voided dose counts nowhere: BCG is open again.
        await send(
            dose(late, "BCG", born, born, "38004", immunization_id=bcg, revision=2, voided=True)
        )

        async def bcg_open() -> bool:
            forecast = await forecast_of(client, late)
            return forecast is not None and any(
                d["vaccine"] == "BCG" and d["date_given"] is None for d in forecast["doses"]
            )

        await until(bcg_open)  # so everything sent before it for this child was consumed
        await until(lambda: settled(client, database_url))
        await published.drain()
        events = published.of(late)
        for fact in TWO_MONTH_DOSES:
            assert events.count(fact) == 1, events
        assert events.count(("series_complete", "BCG", None, False)) == 1
        assert events.count(("dose_overdue", "BCG", 1, True)) == 1


def new_version(document: dict[str, Any]) -> dict[str, Any]:
    """The child schedule, version 1.1: PENTA 1 overdue 60 days after due instead of 28."""
    document["version"] = "1.1"
    for item in document["doses"]:
        if (item["series"], item["dose"]) == ("PENTA", 1):
            item["overdue_after"] = {"days": 60}
    return document


async def test_a_schedule_upload_publishes_only_what_it_changes(
    kafka_broker: EmbeddedBroker, tmp_path: Any, child_document: dict[str, Any]
) -> None:
    database_url = f"sqlite:///{tmp_path}/immunization.db"
    born = TODAY - dt.timedelta(days=100)
    late, on_time = uuid.uuid4(), uuid.uuid4()
    two_months = born + dt.timedelta(days=62)
    async with service(kafka_broker, database_url) as (client, send, published):
        await send(
            # As records publishes them: the tree decides who may read a forecast.
            *org_units(),
            child(late, born, "38004"),
            child(on_time, born, "38004"),
            *(dose(on_time, v, two_months, born, "38004") for v in ("PENTA", "OPV", "ROTA")),
        )
        await until(lambda: forecast_of(client, late))
        await until(lambda: forecast_of(client, on_time))
        await until(lambda: settled(client, database_url))
        await published.drain()
        before = len(published.events)

        bad = await client.post("/v1/schedules", json={**child_document, "doses": []})
        assert bad.status_code == 422
        document = new_version(child_document)
        created = await client.post("/v1/schedules", json=document)
        assert created.status_code == 201, created.text
        assert created.json()["schedule_version"] == "vn-epi-child-2024@1.1"
        assert (await client.post("/v1/schedules", json=document)).status_code == 200
        conflict = await client.post("/v1/schedules", json={**document, "title": "other"})
        assert conflict.status_code == 409

        async def reforecast() -> bool:
            versions = [
                (await forecast_of(client, p) or {}).get("schedule_version")
                for p in (late, on_time)
            ]
            return versions == ["vn-epi-child-2024@1.1"] * 2

        await until(reforecast)
        await until(lambda: settled(client, database_url))
        await published.drain()
        changed = [
            (e.person_id, e.status, e.vaccine, e.holds)
            for e in published.events[before:]
            if e.person_id in (late, on_time)
        ]
        assert changed == [(late, "dose_overdue", "PENTA", False)]
        listed = (await client.get("/v1/schedules")).json()
        assert {s["schedule_version"] for s in listed} >= {"vn-epi-child-2024@1.1"}
