"""The outbox makes records durable: the broker is killed while facility events are POSTed (the
embedded broker keeps nothing over a restart, topics included), and every change made meanwhile
still arrives on ``mch.records.v1`` once a broker is back on the same address.

On PostgreSQL only: what differs between the databases here is the relay's leadership, which
PostgreSQL holds with a lock on a connection of its own through the outage; the relay's SQLite
path is exercised by every other test of the running service."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from records_helpers import RunningService, TopicReader, volume_events, wait_until

from mch_events import outbox
from mch_events.envelope import parse_data
from mch_platform.embedded_broker import EmbeddedBroker
from mch_records.recording import record_id

pytestmark = pytest.mark.integration

ID_FIELDS = ("person_id", "pregnancy_id", "visit_id", "birth_id", "immunization_id")


def announced(readers: list[TopicReader]) -> set[str]:
    """The people and records the messages on mch.records.v1 are about."""
    return {
        data[name]
        for reader in readers
        for _, _, data, _ in reader.messages
        for name in ID_FIELDS
        if name in data
    }


@pytest.mark.parametrize("records_db", ["postgresql"], indirect=True)
async def test_changes_made_while_the_broker_is_down_arrive_once_it_is_back(
    service: RunningService, kafka_broker: EmbeddedBroker, tmp_path: Any
) -> None:
    events = volume_events(3000, seed=3)
    thirds = [events[:1000], events[1000:2000], events[2000:]]
    steps = [asyncio.Event() for _ in thirds]  # the poster's, as each third is posted
    killed, revived_event = asyncio.Event(), asyncio.Event()
    accepted: list[str] = []

    async def post_all() -> None:
        """A facility system posting on: before the outage, during it, after it."""
        for number, third in enumerate(thirds):
            for start in range(0, len(third), 100):
                results = await service.post(third[start : start + 100])
                accepted.extend(r["id"] for r in results if r["status"] == "accepted")
            steps[number].set()
            await (killed if number == 0 else revived_event).wait()

    engine, relay = service.ctx.engine, service.ctx.relay
    by_id = {e.id: e for e in events}

    def announcing(ids: list[str]) -> set[str]:
        return {record_id(parse_data(by_id[i])) for i in ids}

    poster = asyncio.create_task(post_all())
    async with TopicReader(kafka_broker.bootstrap_servers) as before:
        await asyncio.wait_for(steps[0].wait(), 60)
        first = announcing(accepted)
        # Kill it when everything the relay handed over was read back (the poster waits): what
        # the broker acknowledged and nobody read dies with it, and is not the service's to lose.
        await wait_until(
            lambda: (
                outbox.pending(engine, "records") == 0
                and first <= announced([before])
                and len(before.messages) >= relay.published
            ),
            30,
        )
        kafka_broker.kill()
    killed.set()
    await asyncio.wait_for(steps[1].wait(), 60)
    await wait_until(lambda: relay.last_error is not None, 30)
    assert outbox.pending(engine, "records") > 0

    with EmbeddedBroker(port=kafka_broker.port, log_file=tmp_path / "revived.log") as revived:
        revived_event.set()
        await asyncio.wait_for(poster, 60)
        async with TopicReader(revived.bootstrap_servers) as after:
            await wait_until(lambda: outbox.pending(engine, "records") == 0, 60)
            await wait_until(lambda: announcing(accepted) <= announced([before, after]), 30)

    assert len(accepted) == len(events)
    assert announcing([e.id for e in thirds[1]]) <= announced([after])
