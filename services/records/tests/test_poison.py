"""The running service against poison messages on ``mch.facility-events.v1``: a number too long to
convert, JSON nested 10,000 deep, bytes that are not UTF-8, a body that is no JSON at all, a body
over the size limit (one too large to publish again whole), each in binary and in structured
mode. Each is dead-lettered with its reason
and every valid event published behind it is applied."""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaProducer
from records_garbage import KafkaMessage
from records_helpers import Clinic, RunningService, TopicReader, wait_until
from sqlmodel import Session, col, select

from mch_events import topics
from mch_events.deadletter import (
    MAX_DEAD_LETTER_BYTES,
    PROBLEMS_HEADER,
    REASON_HEADER,
    TRUNCATED_HEADER,
)
from mch_events.envelope import MAX_EVENT_BYTES, to_kafka
from mch_events.idempotency import processed_table
from mch_records.processing import CONSUMER

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

POISON: dict[str, tuple[bytes, str]] = {
    "huge-int": (b'{"child_id": ' + b"9" * 5000 + b"}", "number_too_large"),
    "deep": (b"[" * 10_000 + b"]" * 10_000, "too_deep"),
    "deep-object": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "too_deep"),
    "not-utf8": (b'{"full_name": "Nguy\xe1\xbb\x85n \xff\xfe"}', "invalid_encoding"),
    "not-json": (b"this is not JSON", "malformed_json"),
    "huge": (b'{"full_name": "' + b"x" * (2 * MAX_EVENT_BYTES) + b'"}', "payload_too_large"),
    # Just under a producer's default limit (1 MiB): with the dead-letter headers, too large to be
    # published again whole.
    "huger": (b'{"full_name": "' + b"x" * ((1 << 20) - 200) + b'"}', "payload_too_large"),
    "nan": (b'{"weight_kg": NaN}', "invalid_number"),
}


def poison_messages(clinic: Clinic) -> dict[str, KafkaMessage]:
    """Each poison body in binary mode (under valid CloudEvents headers) and in structured mode."""
    _, headers = to_kafka(clinic.child())
    messages: dict[str, KafkaMessage] = {}
    for name, (body, _) in POISON.items():
        messages[f"binary-{name}"] = (body, {**headers, "ce_id": f"binary-{name}"})
        structured = {"content-type": "application/cloudevents+json", "ce_id": f"structured-{name}"}
        messages[f"structured-{name}"] = (body, structured)
    # Headers too large to be copied whole (1.2 MB of them), on a body that is no JSON.
    padding = {f"x-pad-{i}": "p" * 4096 for i in range(300)}
    messages["binary-huge-headers"] = (b"{", {**headers, "ce_id": "binary-huge-headers", **padding})
    return messages


async def send(bootstrap_servers: str, messages: list[KafkaMessage]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, enable_idempotence=False, max_request_size=4 << 20
    )
    await producer.start()
    try:
        for body, headers in messages:
            await producer.send(
                topics.FACILITY_EVENTS, body, headers=[(k, v.encode()) for k, v in headers.items()]
            )
        await producer.flush()
    finally:
        await producer.stop()


def applied(service: RunningService, ids: set[str]) -> set[str]:
    with Session(service.ctx.engine) as session:
        table = processed_table("records")
        rows = session.exec(
            select(table.event_id).where(
                col(table.consumer) == CONSUMER, col(table.event_id).in_(ids)
            )
        )
        return set(rows)


async def test_each_poison_message_is_dead_lettered_and_the_events_behind_it_are_applied(
    module_service: RunningService,
) -> None:
    clinic = Clinic(seed=907)
    poison = poison_messages(clinic)
    valid = [clinic.child() for _ in poison]
    interleaved: list[KafkaMessage] = []
    for message, event in zip(poison.values(), valid, strict=True):
        interleaved += [message, to_kafka(event)]

    bootstrap = module_service.ctx.kafka.bootstrap_servers
    async with TopicReader(bootstrap, topics.DEAD_LETTERS) as dead:
        await send(bootstrap, interleaved)
        wanted = {e.id for e in valid}
        await wait_until(lambda: applied(module_service, wanted) == wanted, 120)
        await wait_until(lambda: len(dead.messages) >= len(poison), 60)

    by_id = {headers.get("ce_id"): headers for *_, headers in dead.messages}
    for name, (_, reason) in POISON.items():
        for mode in ("binary", "structured"):
            headers = by_id[f"{mode}-{name}"]
            assert headers[REASON_HEADER] == reason, (mode, name, headers[PROBLEMS_HEADER])
            assert json.loads(headers[PROBLEMS_HEADER])[0]["code"] == reason
    assert len(dead.messages) == len(poison)
    assert by_id["binary-huge-headers"][REASON_HEADER] == "malformed_json"
    for mode in ("binary", "structured"):
        huger = by_id[f"{mode}-huger"]
        assert int(huger[TRUNCATED_HEADER]) == len(POISON["huger"][0]) > MAX_DEAD_LETTER_BYTES
    # Kept for the facility's IT staff too, readable through the API.
    for _, reason in POISON.values():
        listed = await module_service.client.get("/v1/rejections", params={"reason": reason})
        assert listed.status_code == 200
        assert {r["event_id"] for r in listed.json()} >= {
            f"binary-{name}" for name, (_, why) in POISON.items() if why == reason
        }, reason
