"""Scaling out: two records services in the consumer group ``mch-records``, two consumers each
(``CONSUMER_CONCURRENCY``), on a facility topic of four partitions (``KAFKA_TOPIC_PARTITIONS``),
against the real broker and one PostgreSQL database. Events sent twice, shuffled, are each applied
exactly once, and the stored state is that of one pass in order."""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from records_helpers import (
    GateHarness,
    RunningService,
    prepare_database,
    start_service,
    volume_events,
    wait_until,
)
from sqlmodel import Session, func, select

from mch_events import topics
from mch_events.envelope import CloudEvent
from mch_events.idempotency import processed_table
from mch_platform.embedded_broker import EmbeddedBroker

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

EVENTS = 2_000
PARTITIONS = 4
CONCURRENCY = 2


def claims(service: RunningService) -> int:
    table = processed_table("records")
    with Session(service.ctx.engine) as session:
        return session.exec(select(func.count()).select_from(table)).one()


def assigned(service: RunningService) -> set[tuple[str, int]]:
    partitions: set[tuple[str, int]] = set()
    for progress in service.ctx.progress:
        consumer: Any = progress.subscriber.consumer
        if consumer is not None:
            partitions |= {(tp.topic, tp.partition) for tp in consumer.assignment()}
    return partitions


@contextlib.asynccontextmanager
async def records_services(
    database_url: str, bootstrap: str
) -> AsyncIterator[list[RunningService]]:
    settings = {"kafka_topic_partitions": PARTITIONS, "consumer_concurrency": CONCURRENCY}
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                contextlib.asynccontextmanager(start_service)(database_url, bootstrap, **settings)
            )
            for _ in range(2)
        ]


async def test_two_services_in_one_group_apply_every_event_once(
    records_db: str, kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    if not records_db.startswith("postgresql"):
        pytest.skip("SQLite takes one writer at a time: scaling out is for PostgreSQL")
    volume = volume_events(EVENTS)
    in_order = GateHarness(prepare_database(f"sqlite:///{tmp_path / 'in-order.db'}"))
    assert Counter(in_order.statuses(volume)) == {"accepted": EVENTS}
    expected = in_order.dump()
    in_order.engine.dispose()

    stream: list[CloudEvent] = volume * 2
    random.Random(15).shuffle(stream)
    async with records_services(records_db, kafka_broker.bootstrap_servers) as (a, b):
        facility = {(topics.FACILITY_EVENTS, p) for p in range(PARTITIONS)}
        # Every partition is taken, and each service has some: the group has settled.
        await wait_until(
            lambda: (
                (assigned(a) | assigned(b)) >= facility
                and bool(assigned(a) & facility)
                and bool(assigned(b) & facility)
            ),
            120,
        )
        await a.publish(stream)
        await wait_until(lambda: claims(a) == EVENTS and a.held() == 0, 300)

        consumed = Counter(a.ctx.consumed) + Counter(b.ctx.consumed)
        assert "rejected" not in consumed
        assert sum(a.ctx.consumed.values()) > 0
        assert sum(b.ctx.consumed.values()) > 0
        assert a.dump() == expected
