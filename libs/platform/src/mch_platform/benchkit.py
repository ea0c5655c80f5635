"""What the benchmarks share: the raw rate of the broker they run on, the machine's load, and
percentiles. Benchmarks print numbers beside the conditions they were measured in; nothing here
asserts a time."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from mch_events.envelope import CloudEvent, subject_key, to_kafka

RAW_TOPIC = "bench.raw-consume"


async def raw_consume_rate(
    bootstrap: str, events: Sequence[CloudEvent], topic: str = RAW_TOPIC
) -> float:
    """Messages per second read back with ``getmany`` (the events as facilities publish them):
    the ceiling any consumer of this broker works under, measured in the same run."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=5)
    await producer.start()
    try:
        for event in events:
            body, headers = to_kafka(event)
            await producer.send(
                topic,
                body,
                key=subject_key(event),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        await producer.flush()
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        read, started = 0, time.perf_counter()
        while read < len(events):
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            read += sum(len(records) for records in batches.values())
        return read / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def load() -> str:
    """The machine's load average (1, 5 and 15 minutes) and its cores: on a shared machine, a
    figure means little without it."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f} on {os.cpu_count()} cores"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated; NaN when there are none."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 10) - 1]
