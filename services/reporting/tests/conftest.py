"""Helpers of the reporting service's integration tests, as fixtures (test modules cannot import
one another): publishing what records, growth and immunization publish, and waiting for a
condition with a bound."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from mch_events.envelope import new_event, subject_key, to_kafka
from mch_events.registry import event_type_for
from mch_platform.embedded_broker import EmbeddedBroker

Produce = Callable[..., Awaitable[None]]
WaitFor = Callable[..., Awaitable[None]]


async def _produce(broker: EmbeddedBroker, *models: BaseModel) -> None:
    """Publish as the services do: binary mode, on the type's topic, keyed by its subject."""
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        for model in models:
            event = new_event(model, source="mch-tests")
            body, headers = to_kafka(event)
            await producer.send_and_wait(
                event_type_for(type(model)).topic,
                body,
                key=subject_key(event),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
    finally:
        await producer.stop()


async def _wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 60.0) -> None:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.1)


@pytest.fixture
def produce() -> Produce:
    return _produce


@pytest.fixture
def wait_for() -> WaitFor:
    return _wait_for
