"""The plumbing every service stands on, against the real broker and a real database: batches are
consumed idempotently, bad records go to the dead letters with their reason and never stop the
consumer, and the outbox loses nothing while the broker is down."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from contextlib import AbstractAsyncContextManager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel
from sqlmodel import Session

from mch_events import outbox, topics
from mch_events.broker import KafkaSettings
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

applied: list[str] = []


def echo(session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
    """Apply = remember the event and announce it on mch.records.v1 through the outbox."""
    if isinstance(data, f.Death) and data.cause == "reject me":
        from mch_events.contracts.results import Problem, ReasonCode

        return EventResult(
            id=event.id,
            status="rejected",
            problems=[Problem(code=ReasonCode.IMPLAUSIBLE_VALUE, field="data.cause", message="no")],
        )
    applied.append(event.id)
    outbox.add(
        session, new_event(data, source="probe"), topic=topics.RECORDS, key="k", service="probe"
    )
    return EventResult(id=event.id, status="accepted")


def death(cause: str = "illness") -> CloudEvent:
    data = f.Death(person_id=uuid.uuid4(), date=dt.date(2026, 10, 1), cause=cause)
    return new_event(data, source="TYT-38004")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: object, pg_databases: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/probe.db"
    return pg_databases()  # type: ignore[operator,no-any-return]


async def start_app(
    broker: EmbeddedBroker, database: str
) -> tuple[FastAPI, AbstractAsyncContextManager[object]]:
    engine = make_engine(database)
    metadata_for([processed_table("probe"), outbox_table("probe")]).create_all(engine)
    engine.dispose()
    app = create_service(
        "probe",
        settings=ServiceSettings(service="probe", database_url=database),
        kafka=KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
    )
    app.state.ctx.subscribe(topics.FACILITY_EVENTS, apply=echo)
    return app, app.router.lifespan_context(app)


async def produce(broker: EmbeddedBroker, records: list[tuple[bytes, dict[str, str]]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    try:
        for body, headers in records:
            await producer.send_and_wait(
                topics.FACILITY_EVENTS,
                body,
                key=b"k",
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
    finally:
        await producer.stop()


async def collect(
    broker: EmbeddedBroker, topic: str, count: int, seconds: float = 30
) -> list[object]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"probe-{uuid.uuid4()}",
    )
    await consumer.start()
    got: list[object] = []
    try:
        async with asyncio.timeout(seconds):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    got.extend(records)
    finally:
        await consumer.stop()
    return got


async def test_duplicates_are_applied_once_and_bad_records_are_dead_lettered(
    kafka_broker: EmbeddedBroker, database: str
) -> None:
    applied.clear()
    app, lifespan = await start_app(kafka_broker, database)
    good, rejected = death(), death("reject me")
    body, headers = to_kafka(good)
    bad_body, bad_headers = to_kafka(rejected)
    garbage = [
        (b"{not json", headers),
        (b"{}", {"ce_id": "x", "ce_source": "s", "ce_specversion": "1.0"}),  # no type
        (body.replace(b"2026-10-01", b"2026-10-41"), {**headers, "ce_id": "bad-date"}),
        (body, {**headers, "ce_type": "vn.mch.unknown.v1", "ce_id": "unknown"}),
    ]
    async with lifespan:
        await produce(
            kafka_broker, [(body, headers), (body, headers), *garbage, (bad_body, bad_headers)]
        )
        after = death()
        await produce(kafka_broker, [to_kafka(after)])
        dead = await collect(kafka_broker, topics.DEAD_LETTERS, 5)
        published = await collect(kafka_broker, topics.RECORDS, 2)
    assert applied == [good.id, after.id]  # once each, and the consumer kept going after garbage
    reasons = sorted(dict(r.headers)[REASON_HEADER].decode() for r in dead)  # type: ignore[attr-defined]
    assert reasons == [
        "implausible_value",
        "invalid_envelope",
        "malformed_json",
        "schema_violation",
        "unknown_type",
    ]
    for record in dead:
        problems = json.loads(dict(record.headers)[PROBLEMS_HEADER])  # type: ignore[attr-defined]
        assert problems
        assert all(p["message"] for p in problems)
    assert len(published) == 2
    assert app.state.ctx.consumed == {"accepted": 2, "duplicate": 1, "rejected": 3}


async def test_the_outbox_keeps_events_while_the_broker_is_down(
    kafka_broker: EmbeddedBroker, tmp_path: object
) -> None:
    database = f"sqlite:///{tmp_path}/outbox.db"
    app, lifespan = await start_app(kafka_broker, database)
    ctx = app.state.ctx
    async with lifespan:
        kafka_broker.kill()
        for _ in range(20):
            with Session(ctx.engine) as session:
                outbox.add(session, death(), topic=topics.RECORDS, key="k", service="probe")
                session.commit()
            ctx.relay.wake()
        await asyncio.sleep(1.0)
        assert (
            outbox.pending(ctx.engine, "probe") == 20
        )  # nothing lost, nothing deleted unpublished
        kafka_broker.start()  # a new, empty broker on the same port
        async with asyncio.timeout(60):
            while outbox.pending(ctx.engine, "probe"):  # noqa: ASYNC110 - the database is what we watch
                await asyncio.sleep(0.2)
        published = await collect(kafka_broker, topics.RECORDS, 20)
    assert len(published) == 20


async def test_health_and_readiness(kafka_broker: EmbeddedBroker, tmp_path: object) -> None:
    app, lifespan = await start_app(kafka_broker, f"sqlite:///{tmp_path}/h.db")
    async with (
        lifespan,
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": "probe"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["database"] == "ok"
        kafka_broker.kill()
        async with asyncio.timeout(60):  # the broker is checked in the background
            while (not_ready := await client.get("/readyz")).status_code == 200:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["broker"] != "ok"
        # Back on its port, the broker makes the service ready again (and lets it stop cleanly).
        kafka_broker.start()
        async with asyncio.timeout(60):
            while (await client.get("/readyz")).status_code != 200:  # noqa: ASYNC110
                await asyncio.sleep(0.2)


async def test_a_committed_offset_beyond_the_end_of_the_log_reads_the_log_from_its_start(
    kafka_broker: EmbeddedBroker, tmp_path: object
) -> None:
    """What a broker that restarted empty may hold: the group's offsets of the log it lost. The
    consumer must not wait for the new log to grow past them (and then skip what came before)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topics.FACILITY_EVENTS, 3, 1)])
    finally:
        await admin.close()
    before = [death() for _ in range(5)]
    await produce(kafka_broker, [to_kafka(e) for e in before])
    lost = AIOKafkaConsumer(
        topics.FACILITY_EVENTS,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        group_id="mch-probe",
        enable_auto_commit=False,
    )
    await lost.start()
    try:
        await lost.commit({TopicPartition(topics.FACILITY_EVENTS, p): 1000 for p in range(3)})
    finally:
        await lost.stop()
    applied.clear()
    _app, lifespan = await start_app(kafka_broker, f"sqlite:///{tmp_path}/probe.db")
    async with lifespan:
        after = death()
        await produce(kafka_broker, [to_kafka(after)])
        async with asyncio.timeout(60):
            while len(applied) < len(before) + 1:  # noqa: ASYNC110 - applied in a worker thread
                await asyncio.sleep(0.1)
    assert sorted(applied) == sorted(e.id for e in [*before, after])
