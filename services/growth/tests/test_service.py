"""The growth service on the real broker, on SQLite and on PostgreSQL: child visits from
``mch.records.v1`` are scored, published on ``mch.growth.v1`` and served, and follow amendments
and voids."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel

from mch_events import topics
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.envelope import from_kafka, new_event, parse_data, subject_key, to_kafka
from mch_growth.domain.zscores import ENGINE_VERSION, REFERENCE
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.testing import bearer, running
from mch_servicekit.access import Role

pytestmark = pytest.mark.integration

VisitOf = Callable[..., r.ChildVisitRecorded]
PersonOf = Callable[..., r.PersonState]


THANH_HOA = [
    r.OrgUnit(code="VN", name="Việt Nam", level="national", valid_from=dt.date(2020, 1, 1)),
    r.OrgUnit(
        code="38", name="Thanh Hóa", level="province", parent="VN", valid_from=dt.date(2020, 1, 1)
    ),
    *(
        r.OrgUnit(code=c, name=c, level="commune", parent="38", valid_from=dt.date(2025, 7, 1))
        for c in ("38004", "38005")
    ),
]
"""The org units records publishes before anything else: they decide who may see a child."""


async def produce(broker: EmbeddedBroker, *models: BaseModel) -> None:
    """Publish on ``mch.records.v1`` as the records service does: binary mode, keyed by person."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        for model in models:
            event = new_event(model, source="mch-records")
            body, headers = to_kafka(event)
            await producer.send_and_wait(
                topics.RECORDS,
                body,
                key=subject_key(event),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def growth_topic(broker: EmbeddedBroker) -> AsyncIterator[AIOKafkaConsumer]:
    """A reader of the whole topic. It assigns itself the partitions rather than joining a group:
    joining takes seconds on this broker."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata, for the partitions
        partitions = consumer.partitions_for_topic(topics.GROWTH) or set()
        consumer.assign([TopicPartition(topics.GROWTH, p) for p in partitions])
        yield consumer
    finally:
        await consumer.stop()


async def assessments(
    topic: AIOKafkaConsumer, child: uuid.UUID, count: int, seconds: float = 30
) -> list[g.GrowthAssessed]:
    """The next ``count`` assessments of ``child`` on the topic."""
    got: list[g.GrowthAssessed] = []
    async with asyncio.timeout(seconds):
        while len(got) < count:
            for records in (await topic.getmany(timeout_ms=200)).values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    data = parse_data(from_kafka(record.value, headers))
                    assert isinstance(data, g.GrowthAssessed)
                    if data.child_id == child:
                        assert record.key == str(child).encode()
                        got.append(data)
    return got


# A broker of its own for each database: on a shared one the service's consumer group, joined by
# the run before, takes about 18 s to form again instead of 5.
async def test_visits_are_scored_published_and_served(
    kafka_broker: EmbeddedBroker,
    database_url: str,
    new_visit: VisitOf,
    new_child: PersonOf,
) -> None:
    broker, child = kafka_broker, uuid.uuid4()
    first, second = new_visit(child, 300, 8.5), new_visit(child, 330, 8.5)
    async with (
        running(
            "growth", database_url=database_url, bootstrap_servers=broker.bootstrap_servers
        ) as (_, client),
        growth_topic(broker) as topic,
    ):
        await produce(broker, *THANH_HOA, new_child(child), first, second)
        scored_first, scored_second = await assessments(topic, child, 2)
        assert (scored_first.visit_id, scored_first.faltering) == (first.visit_id, False)
        # No weight gained over a month, under 2 years.
        assert (scored_second.visit_id, scored_second.faltering) == (second.visit_id, True)
        for scored in (scored_first, scored_second):
            assert (scored.reference, scored.engine_version) == (REFERENCE, ENGINE_VERSION)
            assert None not in (scored.waz, scored.lhaz, scored.whz)
        body = (await client.get(f"/v1/children/{child}/growth")).json()
        # The child lives in 38004: the province's tree covers it, the next commune's does not.
        for units, status in (["38"], 200), (["38005"], 403):
            headers = bearer([Role.HEALTH_WORKER], units)
            answer = await client.get(f"/v1/children/{child}/growth", headers=headers)
            assert answer.status_code == status
        assert [(v["visit_id"], v["faltering"]) for v in body["visits"]] == [
            (str(first.visit_id), False),
            (str(second.visit_id), True),
        ]

        # The second visit amended: 9.1 kg after all.
        await produce(broker, second.model_copy(update={"weight_kg": 9.1, "revision": 2}))
        (rescored,) = await assessments(topic, child, 1)
        assert (rescored.visit_id, rescored.revision, rescored.faltering) == (
            second.visit_id,
            2,
            False,
        )
        assert rescored.waz != scored_second.waz

        # The first visit voided: withdrawn from reporting, and from the child's series.
        await produce(broker, first.model_copy(update={"voided": True}))
        (withdrawn,) = await assessments(topic, child, 1)
        assert (withdrawn.visit_id, withdrawn.voided) == (first.visit_id, True)
        body = (await client.get(f"/v1/children/{child}/growth")).json()
        assert [(v["visit_id"], v["revision"], v["weight_kg"]) for v in body["visits"]] == [
            (str(second.visit_id), 2, 9.1)
        ]
        response = await client.get(f"/v1/children/{child}/chart.svg?indicator=wfa")
        assert response.status_code == 200
        assert response.text.count('class="child-point"') == 1
