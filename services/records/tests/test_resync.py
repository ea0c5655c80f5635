"""Records republishes its whole state on request (``POST /v1/admin/resync``): every person and
record, voids and merges included, at the revision the database holds, with ids that make a second
republish of the same state a duplicate for the consumers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from records_helpers import RunningService, TopicReader, volume_events, wait_until

from mch_platform.embedded_broker import EmbeddedBroker

pytestmark = pytest.mark.integration

ID_FIELDS = ("visit_id", "immunization_id", "birth_id", "pregnancy_id", "person_id")
"""The id of what a message is about, most specific first (a visit names its pregnancy too)."""
Message = tuple[str, str | None, dict[str, Any], dict[str, str]]


def subject(message: Message) -> tuple[str, str]:
    event_type, _, data, _ = message
    return event_type, next(data[name] for name in ID_FIELDS if name in data)


def latest(messages: list[Message]) -> dict[tuple[str, str], dict[str, Any]]:
    """The state of each person and record: highest revision wins, the later one on a tie."""
    states: dict[tuple[str, str], dict[str, Any]] = {}
    for message in messages:
        data = message[2]
        known = states.get(subject(message))
        if known is None or data.get("revision", 1) >= known.get("revision", 1):
            states[subject(message)] = data
    return states


def republished(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m[3]["ce_id"].startswith("resync-")]


async def resync(service: RunningService, seconds: float = 120) -> dict[str, Any]:
    """Ask for a republish; its progress once it is done and the relay has published it all."""
    started = await service.client.post("/v1/admin/resync")
    assert started.status_code == 202, started.text
    async with asyncio.timeout(seconds):
        while True:
            progress: dict[str, Any] = (await service.client.get("/v1/admin/resync")).json()
            if progress["state"] != "running" and progress["outbox_pending"] == 0:
                break
            await asyncio.sleep(0.2)
    assert progress["state"] == "done", progress
    return progress


async def test_resync_republishes_the_state_the_database_holds(
    service: RunningService, kafka_broker: EmbeddedBroker
) -> None:
    await service.post(volume_events(1200, seed=11))
    await service.published_all()
    published = service.ctx.relay.published
    async with TopicReader(kafka_broker.bootstrap_servers) as original:
        await wait_until(lambda: len(original.messages) >= published, 60)
    expected = latest(original.messages)
    assert any(d.get("voided") for d in expected.values()), "the events void something"
    assert any(d.get("revision", 1) > 1 for d in expected.values()), "and amend something"

    first = await resync(service)
    assert first["staged"] == len(expected)
    async with TopicReader(kafka_broker.bootstrap_servers) as after:
        await wait_until(lambda: len(after.messages) >= published + len(expected), 60)
    again = republished(after.messages)
    assert len(again) == len(expected)
    assert latest(again) == expected

    await resync(service)
    async with TopicReader(kafka_broker.bootstrap_servers) as twice:
        await wait_until(lambda: len(twice.messages) >= published + 2 * len(expected), 60)
    ids = [m[3]["ce_id"] for m in republished(twice.messages)]
    assert sorted(ids) == sorted(2 * [m[3]["ce_id"] for m in again]), "the same ids again"
