"""The running service against poison messages on ``mch.facility-events.v1``: a number too long to
convert, JSON nested 10,000 deep, bytes that are not UTF-8, a body that is no JSON at all, a body
over the size limit, each in binary and in structured mode. Each is dead-lettered with its reason
and every valid event published behind it is applied."""

from __future__ import annotations

import json

import pytest
from records_garbage import KafkaMessage, send_raw
from records_helpers import Clinic, RunningService, TopicReader, wait_until
from sqlmodel import Session, select

from mch_events import topics
from mch_events.deadletter import PROBLEMS_HEADER, REASON_HEADER
from mch_events.envelope import MAX_EVENT_BYTES, to_kafka
from mch_events.idempotency import ProcessedEvent
from mch_records.processing import CONSUMER

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

POISON: dict[str, tuple[bytes, str]] = {
    "huge-int": (b'{"child_id": ' + b"9" * 5000 + b"}", "number_too_large"),
    "deep": (b"[" * 10_000 + b"]" * 10_000, "too_deep"),
    "deep-object": (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "too_deep"),
    "not-utf8": (b'{"full_name": "Nguy\xe1\xbb\x85n \xff\xfe"}', "invalid_encoding"),
    "not-json": (b"this is not JSON", "malformed_json"),
    "huge": (b'{"full_name": "' + b"x" * (2 * MAX_EVENT_BYTES) + b'"}', "payload_too_large"),
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
    return messages


def applied(service: RunningService, ids: set[str]) -> set[str]:
    with Session(service.ctx.engine) as session:
        rows = session.exec(
            select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == CONSUMER,
                ProcessedEvent.event_id.in_(ids),  # type: ignore[attr-defined]
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
        await send_raw(bootstrap, interleaved)
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
    # Kept for the facility's IT staff too, readable through the API.
    for _, reason in POISON.values():
        listed = await module_service.client.get("/v1/rejections", params={"reason": reason})
        assert listed.status_code == 200
        assert {r["event_id"] for r in listed.json()} >= {
            f"binary-{name}" for name, (_, why) in POISON.items() if why == reason
        }, reason
