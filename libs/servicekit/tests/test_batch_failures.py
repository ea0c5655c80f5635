"""A batch that fails as a whole (here: a real database error raised while applying one of its
events) is retried a bounded number of times, then split until that event is found: it alone is
dead-lettered, the others are applied, and the consumer goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from mch_events import topics
from mch_events.broker import KafkaSettings
from mch_events.consume import Retry
from mch_events.contracts import facility as f
from mch_events.contracts.results import EventResult
from mch_events.deadletter import PROBLEMS_HEADER, REASON_HEADER
from mch_events.envelope import CloudEvent, new_event, to_kafka
from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table
from mch_platform.embedded_broker import EmbeddedBroker
from mch_servicekit.app import create_service
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import metadata_for
from mch_servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration

RETRY = Retry(attempts=3, backoff_s=0.05)
BATCH = 16


class Probe:
    """Applies events; the one whose cause is ``fail`` makes its database statement fail."""

    def __init__(self) -> None:
        self.tries: Counter[str] = Counter()

    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        self.tries[event.id] += 1
        if isinstance(data, f.Death) and data.cause == "fail":
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SET LOCAL statement_timeout = 1"))
                session.execute(text("SELECT pg_sleep(1)"))  # cancelled: OperationalError
            else:
                session.execute(text("SELECT * FROM no_such_table"))  # OperationalError
        return EventResult(id=event.id, status="accepted")


def committed(engine: Engine) -> set[str]:
    """The events the consumer applied (claimed in the transaction that applied them)."""
    with Session(engine) as session:
        table = processed_table("probe")
        rows = session.exec(select(table).where(col(table.consumer) == "mch-probe"))
        return {row.event_id for row in rows}


def death(cause: str) -> CloudEvent:
    data = f.Death(person_id=uuid.uuid4(), date=dt.date(2026, 10, 1), cause=cause)
    return new_event(data, source="TYT-38004")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: object, pg_databases: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/probe.db"
    return pg_databases()  # type: ignore[operator,no-any-return]


async def produce(broker: EmbeddedBroker, events: list[CloudEvent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        batch = producer.create_batch()
        for event in events:
            body, headers = to_kafka(event)
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


async def dead_letters(broker: EmbeddedBroker, count: int) -> list[object]:
    consumer = AIOKafkaConsumer(
        topics.DEAD_LETTERS,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4()}",
    )
    await consumer.start()
    got: list[object] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got.extend(records)
    finally:
        await consumer.stop()
    return got


async def test_a_failing_event_is_retried_then_isolated_and_dead_lettered(
    kafka_broker: EmbeddedBroker, database: str
) -> None:
    engine = make_engine(database)
    metadata_for([processed_table("probe"), outbox_table("probe")]).create_all(engine)
    engine.dispose()
    app = create_service(
        "probe",
        settings=ServiceSettings(service="probe", database_url=database),
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap_servers),
    )
    probe = Probe()
    app.state.ctx.subscribe(topics.FACILITY_EVENTS, apply=probe, retry=RETRY)
    events = [death("illness") for _ in range(BATCH)]
    culprit = death("fail")
    events.insert(BATCH // 3, culprit)
    after = death("illness")

    async with app.router.lifespan_context(app):
        await produce(kafka_broker, events)
        [dead] = await dead_letters(kafka_broker, 1)
        await produce(kafka_broker, [after])
        async with asyncio.timeout(60):
            while after.id not in committed(app.state.ctx.engine):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        kept = committed(app.state.ctx.engine)

    headers = {k: v.decode() for k, v in dead.headers}  # type: ignore[attr-defined]
    assert headers["ce_id"] == culprit.id
    assert headers[REASON_HEADER] == "processing_error"
    [problem] = json.loads(headers[PROBLEMS_HEADER])
    assert problem["rule"] == "fails_its_batch"
    assert "OperationalError" in problem["message"]
    # Tried as part of the batch RETRY.attempts times, then once per halving (and once alone at
    # most): bounded, never forever.
    assert RETRY.attempts < probe.tries[culprit.id] <= RETRY.attempts + BATCH.bit_length() + 1
    assert kept == {e.id for e in events if e is not culprit} | {after.id}
    assert app.state.ctx.consumed["rejected"] == 1
