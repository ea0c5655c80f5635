"""The running service consuming ``mch.facility-events.v1`` from the embedded broker, on SQLite and
PostgreSQL: a visit that arrives before its pregnancy is stored once the pregnancy arrives, by
either way in; malformed events (``records_garbage``) are dead-lettered with their reason and the
consumer goes on. One service per database is shared by these tests: each uses ids of its own."""

from __future__ import annotations

import datetime as dt
import functools
import itertools

import pytest
from hypothesis import strategies as st
from records_garbage import (
    BATCH,
    GARBAGE,
    KAFKA_MESSAGES,
    KafkaMessage,
    as_kafka,
    draw_many,
    send_raw,
)
from records_helpers import Clinic, RunningService, TopicReader, wait_until

from mch_events import topics
from mch_events.deadletter import REASON_HEADER

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@functools.cache
def garbage_messages() -> list[KafkaMessage]:
    """The same malformed messages for each database (drawing them is the slow part)."""
    batches = draw_many(st.lists(GARBAGE, min_size=BATCH, max_size=BATCH), KAFKA_MESSAGES // BATCH)
    return [as_kafka(item, i % 3) for i, item in enumerate(itertools.chain(*batches))]


async def test_visits_held_for_their_pregnancy_are_stored_when_it_arrives_either_way(
    module_service: RunningService,
) -> None:
    clinic = Clinic(seed=101)
    by_http, by_kafka = clinic.mother(), clinic.mother(full_name="Đỗ Thị Mai")
    http_pregnancy, kafka_pregnancy = clinic.pregnancy(by_http), clinic.pregnancy(by_kafka)
    http_visit = clinic.antenatal(http_pregnancy, dt.date(2025, 9, 1))
    kafka_visit = clinic.antenatal(kafka_pregnancy, dt.date(2025, 9, 2))

    results = await module_service.post([by_http, by_kafka, http_visit])
    assert [r["status"] for r in results] == ["accepted", "accepted", "held"]
    assert results[2]["problems"][0]["field"] == "data.pregnancy_id"
    await module_service.publish([kafka_visit])
    await wait_until(lambda: module_service.held() == 2, 30)

    # Each pregnancy comes the other way round: HTTP releases what Kafka held and vice versa.
    await module_service.post([kafka_pregnancy])
    await module_service.publish([http_pregnancy])
    await wait_until(lambda: module_service.held() == 0, 30)

    async with TopicReader(module_service.ctx.kafka.bootstrap_servers) as records:
        await module_service.published_all()
        await wait_until(lambda: len({v["visit_id"] for v in records.of_type("visit.v1")}) == 2, 30)
    visits = {v["visit_id"]: v for v in records.of_type("antenatal-visit.v1")}
    assert set(visits) == {http_visit.data["visit_id"], kafka_visit.data["visit_id"]}
    assert visits[http_visit.data["visit_id"]]["mother_id"] == by_http.data["mother_id"]
    assert visits[kafka_visit.data["visit_id"]]["mother_id"] == by_kafka.data["mother_id"]
    again = await module_service.post([http_visit, kafka_visit])
    assert [r["status"] for r in again] == ["duplicate", "duplicate"]


async def test_malformed_events_on_kafka_are_dead_lettered_and_the_consumer_goes_on(
    module_service: RunningService,
) -> None:
    clinic = Clinic(seed=102)
    messages = garbage_messages()
    valid = clinic.child()
    assert len(messages) >= KAFKA_MESSAGES

    async with TopicReader(module_service.ctx.kafka.bootstrap_servers, topics.DEAD_LETTERS) as dead:
        await send_raw(module_service.ctx.kafka.bootstrap_servers, messages)
        accepted = module_service.ctx.consumed.get("accepted", 0)
        await module_service.publish([valid])
        await wait_until(
            lambda: module_service.ctx.consumed.get("accepted", 0) == accepted + 1, 120
        )
        await wait_until(lambda: len(dead.messages) >= len(messages), 60)

    assert len(dead.messages) == len(messages)
    assert all(headers.get(REASON_HEADER) for *_, headers in dead.messages)
    response = await module_service.client.get("/v1/rejections", params={"limit": 1000})
    assert response.status_code == 200
    assert len(response.json()) == 1000
