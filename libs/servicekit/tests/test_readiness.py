"""The probes answer at once while the service is as busy as it gets: every worker thread taken, the
database locked by a long batch. An orchestrator or ``mch up`` that polls them must never mistake a
busy service for a dead one."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import anyio.to_thread
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from mch_events import topics
from mch_events.broker import KafkaSettings
from mch_events.idempotency import processed_table
from mch_events.outbox import outbox_table
from mch_platform.embedded_broker import EmbeddedBroker
from mch_servicekit.app import create_service
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import metadata_for
from mch_servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration

PROBE_BOUND = 10.0
"""Generous: the old probes waited for the blocked threads for ever, these answer in milliseconds."""


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: object, pg_databases: object) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/probe.db"
    return pg_databases()  # type: ignore[operator,no-any-return]


@contextlib.contextmanager
def outbox_locked(database: str) -> Iterator[Connection]:
    """A transaction holding the lock a long consumer batch would hold on the outbox."""
    engine = create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    connection = engine.connect()
    try:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.execute(text("LOCK TABLE probe_outbox IN ACCESS EXCLUSIVE MODE"))
        yield connection
    finally:
        connection.rollback()
        connection.close()
        engine.dispose()


async def test_probes_answer_while_threads_and_database_are_busy(
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
    app.state.ctx.subscribe(topics.FACILITY_EVENTS, apply=lambda *_: None)
    release = threading.Event()
    loop = asyncio.get_running_loop()
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
        asyncio.TaskGroup() as blocked,
    ):
        try:
            assert (await client.get("/readyz")).status_code == 200
            # Batches run in the loop's default executor, plain-def routes in anyio's pool.
            for _ in range(40):
                loop.run_in_executor(None, release.wait)
                blocked.create_task(anyio.to_thread.run_sync(release.wait))
            with outbox_locked(database):
                for _ in range(4):  # a few rounds of background checks run meanwhile
                    async with asyncio.timeout(PROBE_BOUND):
                        health = await client.get("/healthz")
                        ready = await client.get("/readyz")
                    assert health.json() == {"status": "ok", "service": "probe"}
                    assert ready.status_code == 200, ready.json()
                    assert ready.json()["checks"]["database"] == "ok"
                    assert ready.json()["checks"]["broker"] == "ok"
                    await asyncio.sleep(0.5)
        finally:
            release.set()
