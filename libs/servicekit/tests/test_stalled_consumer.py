"""A consumer that holds events it cannot get through is not ready; one with nothing to do is, however
long ago its last batch was."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel
from sqlmodel import Session

from mch_events import topics
from mch_events.broker import KafkaSettings
from mch_events.contracts import facility as f
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent, new_event, to_kafka
from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table
from mch_platform.embedded_broker import EmbeddedBroker
from mch_servicekit.app import create_service
from mch_servicekit.db import make_engine
from mch_servicekit.health import ConsumerProgress
from mch_servicekit.migrations import metadata_for
from mch_servicekit.settings import ServiceSettings

STALL = 2.0
WITHIN = 60.0
"""Generous bound of each wait for /readyz to change its answer, on a busy machine."""


def test_no_events_waiting_is_never_stuck() -> None:
    now = time.monotonic()
    idle = ConsumerProgress("mch-probe", None, last_progress=now - 1000, lag=0)
    assert idle.stalled_for(now) == 0.0
    # Events that arrive after a long idle time have waited since they were seen, not since the
    # last batch.
    idle.lag, idle.waiting_since = 5, now - 10
    assert idle.stalled_for(now) == 10.0


class Blocked:
    """Applies events once ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        self.release.wait()
        return EventResult(id=event.id, status="accepted")


async def produce(broker: EmbeddedBroker, count: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        # One produce request: the consumer fetches them together, as one batch.
        batch = producer.create_batch()
        for _ in range(count):
            data = f.Death(person_id=uuid.uuid4(), date=dt.date(2026, 10, 1), cause="illness")
            body, headers = to_kafka(new_event(data, source="TYT-38004"))
            batch.append(
                key=b"k",
                value=body,
                timestamp=None,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        await producer.send_batch(batch, topics.FACILITY_EVENTS, partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def readiness_until(client: AsyncClient, status: int) -> dict[str, Any]:
    async with asyncio.timeout(WITHIN):
        while (answer := await client.get("/readyz")).status_code != status:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.integration
async def test_a_consumer_stuck_with_events_waiting_is_not_ready(
    kafka_broker: EmbeddedBroker, tmp_path: object
) -> None:
    database = f"sqlite:///{tmp_path}/probe.db"
    engine = make_engine(database)
    metadata_for([processed_table("probe"), outbox_table("probe")]).create_all(engine)
    engine.dispose()
    app = create_service(
        "probe",
        settings=ServiceSettings(
            service="probe", database_url=database, consumer_stall_seconds=STALL
        ),
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers),
    )
    apply = Blocked()
    app.state.ctx.subscribe(topics.FACILITY_EVENTS, apply=apply)
    [progress] = app.state.ctx.progress
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        try:
            # Idle for longer than the stall setting, with nothing waiting: ready.
            async with asyncio.timeout(WITHIN):
                while time.monotonic() - progress.last_progress <= 2 * STALL:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            idle = await client.get("/readyz")
            assert idle.status_code == 200, idle.json()
            assert idle.json()["checks"]["consumers"]["lag"] == 0
            assert idle.json()["checks"]["consumers"]["stalled"] == []

            await produce(kafka_broker, 5)
            stuck = await readiness_until(client, 503)
            consumers = stuck["checks"]["consumers"]
            [reason] = consumers["stalled"]
            assert reason.startswith(f"mch-probe on {topics.FACILITY_EVENTS}: no batch completed")
            assert consumers["lag"] == 5
            assert consumers["stalled_for_s"] >= STALL
            assert stuck["checks"]["database"] == "ok"

            apply.release.set()
            ready = await readiness_until(client, 200)
            assert ready["checks"]["consumers"]["stalled"] == []
            assert ready["checks"]["consumed"] == {"accepted": 5}
        finally:
            apply.release.set()
