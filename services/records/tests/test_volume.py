"""At volume, against the real broker and each database: 10,000 facility events (a simulated
quarter of three communes, with amendments, voids and moves), each sent three times in a shuffled
order, half over HTTP and half over Kafka, end in exactly the stored state of one pass in order."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from records_helpers import GateHarness, RunningService, prepare_database, volume_events

from mch_events.envelope import CloudEvent

pytestmark = pytest.mark.integration

EVENTS = 10_000
COPIES = 3


@pytest.fixture(scope="module")
def volume() -> list[CloudEvent]:
    return volume_events(EVENTS)


@pytest.fixture(scope="module")
def state_in_order(
    volume: list[CloudEvent], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[Any]]:
    """The state after sending each event once, in the order the care happened."""
    path: Path = tmp_path_factory.mktemp("in-order") / "records.db"
    engine = prepare_database(f"sqlite:///{path}")
    harness = GateHarness(engine)
    statuses = Counter(harness.statuses(volume))
    assert statuses == {"accepted": EVENTS}, statuses
    state = harness.dump()
    engine.dispose()
    return state


def test_the_stream_holds_every_kind_of_correction(volume: list[CloudEvent]) -> None:
    kinds = Counter(e.type.removeprefix("vn.mch.").removesuffix(".v1") for e in volume)
    assert {"record.voided", "residence.changed"} <= set(kinds)
    assert Counter(e.revision for e in volume)[2] > 100
    assert len({e.id for e in volume}) == EVENTS


async def test_events_sent_three_times_shuffled_end_in_the_state_of_one_pass_in_order(
    service: RunningService, volume: list[CloudEvent], state_in_order: dict[str, list[Any]]
) -> None:
    stream = volume * COPIES
    random.Random(2025).shuffle(stream)
    by_http, by_kafka = stream[: len(stream) // 2], stream[len(stream) // 2 :]

    answered = Counter(r["status"] for r in await service.post(by_http))
    await service.publish(by_kafka)
    await service.wait_consumed(len(by_kafka), 180)

    assert "rejected" not in answered
    assert "rejected" not in service.ctx.consumed
    assert service.held() == 0
    assert service.dump() == state_in_order
