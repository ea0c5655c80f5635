"""The service factory: one process = a FastAPI app + its FastStream subscribers + its outbox relay.

Every service builds itself with ``create_service`` so health, readiness, tracing, dead letters and
batch consumption work the same way in all four.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from faststream.middlewares import AckPolicy
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine

from mch_events import topics
from mch_events.broker import KafkaSettings, ResetBeyondEnd, TopicGuard, make_broker
from mch_events.consume import (
    DEFAULT_RETRY,
    ApplyFn,
    BatchSummary,
    PositionsFn,
    Retry,
    consume_batch,
)
from mch_events.deadletter import DeadLetters
from mch_events.outbox import OutboxRelay
from mch_events.telemetry import setup_tracing

from . import guards
from .access import AuthSettings, Operates, TokenVerifier
from .db import make_engine
from .docs import INDEX_ELSEWHERE, install_docs, install_index, serves_root
from .health import ConsumerProgress, HealthMonitor
from .resync import Progress, RepublishFn, Resync, ResyncStatus
from .settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    """What handlers and routes of one service share."""

    name: str
    settings: ServiceSettings
    kafka: KafkaSettings
    engine: Engine
    broker: KafkaBroker
    relay: OutboxRelay
    dead_letters: DeadLetters
    tracer_provider: TracerProvider
    consumed: dict[str, int] = field(default_factory=dict)
    """Events processed per consumer since start (status → count), for /readyz and tests."""
    progress: list[ConsumerProgress] = field(default_factory=list)
    """One per subscription: whether its batches complete, for /readyz."""
    on_batch: list[Callable[[BatchSummary], Awaitable[None]]] = field(default_factory=list)
    """Called after each consumed batch (e.g. to keep rejections for the facility's IT staff)."""
    periodic: list[tuple[float, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    resync: Resync = field(init=False)
    """How the service republishes its state (``POST /v1/admin/resync``): by default there is
    nothing to republish (a service that publishes nothing), and a request is done at once."""

    def __post_init__(self) -> None:
        self.resync = Resync(self.name, self.engine, _nothing_to_republish, self.relay.wake)

    def republishes(self, republish: RepublishFn) -> None:
        """``republish`` stages the service's whole state in its outbox on request (see
        ``mch_servicekit.resync``)."""
        self.resync.republish = republish

    def every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` every ``seconds`` while the service runs (errors are logged, not fatal)."""
        self.periodic.append((seconds, job))

    def subscribe(
        self,
        *topic_names: str,
        apply: ApplyFn,
        retry: Retry = DEFAULT_RETRY,
        positions: PositionsFn | None = None,
    ) -> None:
        """Consume the topics in batches with the service's consumer group (``mch-<service>``),
        with ``consumer_concurrency`` consumers in this process; ``apply`` is called in a worker
        thread, in one transaction per batch, for each new event. A batch that fails as a whole is
        tried again as ``retry`` says, then split. ``positions`` is given, first in each
        transaction, the log positions of what it applies."""
        count = self.settings.consumer_concurrency
        for number in range(1, count + 1):
            suffix = f" #{number}" if count > 1 else ""
            self._subscribe_one(topic_names, apply, retry, positions, suffix)

    def _subscribe_one(
        self,
        topic_names: Sequence[str],
        apply: ApplyFn,
        retry: Retry,
        positions: PositionsFn | None,
        suffix: str,
    ) -> None:
        group = f"mch-{self.name}"
        subscriber = self.broker.subscriber(
            *topic_names,
            group_id=group,
            listener=ResetBeyondEnd(lambda: subscriber.consumer),
            batch=True,
            max_records=self.settings.consumer_batch_size,
            batch_timeout_ms=self.settings.consumer_idle_wait_ms,
            fetch_max_wait_ms=self.kafka.fetch_max_wait_ms,
            session_timeout_ms=self.kafka.session_timeout_ms,
            heartbeat_interval_ms=self.kafka.heartbeat_interval_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_raw_body,
        )
        progress = ConsumerProgress(f"{group} on {', '.join(topic_names)}{suffix}", subscriber)
        self.progress.append(progress)

        @subscriber
        async def handle(msg: KafkaMessage) -> None:
            records = msg.raw_message
            batch = records if isinstance(records, tuple) else (records,)
            # Fetched records have left the consumer's lag; they wait here until the batch is done.
            progress.in_flight = len(batch)
            try:
                summary = await consume_batch(
                    batch,
                    engine=self.engine,
                    consumer=group,
                    service=self.name,
                    apply=apply,
                    dead_letters=self.dead_letters,
                    retry=retry,
                    positions=positions,
                )
            finally:
                progress.in_flight = 0
            # Only a completed batch is progress: retrying or splitting one is not.
            progress.last_progress = time.monotonic()
            for result in summary.results:
                self.consumed[result.status] = self.consumed.get(result.status, 0) + 1
            self.relay.wake()
            await _after_batch(self.on_batch, summary)


async def _after_batch(
    callbacks: Sequence[Callable[[BatchSummary], Awaitable[None]]], summary: BatchSummary
) -> None:
    # The batch is committed and its dead letters sent: a failing callback must not have it
    # consumed again, over and over.
    for callback in callbacks:
        try:
            await callback(summary)
        except Exception:
            log.exception("after-batch step %s failed", getattr(callback, "__name__", callback))


def _nothing_to_republish(engine: Engine, progress: Progress) -> None:
    pass


async def _raw_body(msg: StreamMessage[Any]) -> Any:
    # Decoding (and its failures) belongs to consume_batch, which dead-letters bad records one by
    # one; FastStream's own JSON decoding would fail the whole batch on one malformed body.
    return None


def context_of(request: Request) -> ServiceContext:
    """FastAPI dependency: the service context of the app serving the request."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def create_service(
    name: str,
    *,
    settings: ServiceSettings | None = None,
    kafka: KafkaSettings | None = None,
    routers: Sequence[APIRouter] = (),
    title: str | None = None,
    description: str = "",
    index_path: str | None = "/",
    auth: AuthSettings | None = None,
) -> FastAPI:
    """The service's app. ``index_path`` is where the index of the service's links is served: a
    service with a page of its own at ``/`` passes ``"/index"`` (or ``None`` for no index); one
    whose ``routers`` already answer ``GET /`` gets its index at ``/index`` anyway."""
    settings = settings or ServiceSettings(service=name)
    kafka = kafka or KafkaSettings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    provider = setup_tracing(f"mch-{name}")
    engine = make_engine(settings.resolved_database_url())
    broker = make_broker(kafka, service=name, tracer_provider=provider)
    guard = TopicGuard(
        kafka, create=settings.kafka_create_topics, partitions=settings.kafka_topic_partitions
    )
    ctx = ServiceContext(
        name=name,
        settings=settings,
        kafka=kafka,
        engine=engine,
        broker=broker,
        relay=OutboxRelay(engine, broker.publish, name=name, before_publish=guard.ensure),
        dead_letters=DeadLetters(broker, service=name),
        tracer_provider=provider,
    )
    health = HealthMonitor(
        name, engine, broker, consumers=ctx.progress, stall=settings.consumer_stall_seconds
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await guard.ensure(topics.ALL)
        await broker.start()
        ctx.relay.start()
        jobs = [asyncio.create_task(_repeat(s, job)) for s, job in ctx.periodic]
        if settings.kafka_create_topics:
            # An empty broker after a restart gets its topics back, so consumers resume.
            jobs.append(asyncio.create_task(_repeat(5.0, lambda: guard.ensure(topics.ALL))))
        await health.start()
        log.info("%s ready on %s:%s", name, settings.host, settings.resolved_port())
        try:
            yield
        finally:
            await health.stop()
            await ctx.resync.stop()
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await ctx.relay.stop()
            await guard.close()
            await broker.stop()
            engine.dispose()

    app = FastAPI(
        title=title or f"mch-platform {name}",
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    guards.install(app)
    # Routes that name an action (mch_servicekit.access) verify bearer tokens with it.
    app.state.verifier = TokenVerifier(auth or AuthSettings())

    # Both probes are async and read state only: run on the event loop, they never wait for a
    # worker thread, a pooled connection or a lock that consumer batches hold.
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Readiness from the last background checks (every second): the database answers and its
        schema is in place, the broker is reachable, no consumer with events waiting has gone
        without completing a batch for ``CONSUMER_STALL_SECONDS``. Also reports the outbox rows
        waiting, the partitions assigned to the consumers, their lag and the events consumed since
        start."""
        ready, checks = health.readiness()
        checks["consumed"] = dict(ctx.consumed)
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "service": name, "checks": checks},
            status_code=200 if ready else 503,
        )

    _install_resync(app, ctx, health)
    for router in routers:
        app.include_router(router)
    install_docs(app)
    if index_path is not None:
        install_index(app, name, INDEX_ELSEWHERE if serves_root(app) else index_path)
    guards.check_routes(app)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz"
    )
    return app


async def _repeat(seconds: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("periodic job %s failed", getattr(job, "__name__", job))


def _install_resync(app: FastAPI, ctx: ServiceContext, health: HealthMonitor) -> None:
    """``POST`` and ``GET /v1/admin/resync``."""

    def resync_status() -> ResyncStatus:
        status = ctx.resync.status.model_copy()
        status.outbox_pending = health.readiness()[1].get("outbox_pending")
        return status

    @app.post("/v1/admin/resync", status_code=202, tags=["operations"])
    async def start_resync(who: Operates) -> ResyncStatus:
        """Republish the service's whole state to its topic through the outbox (after the broker
        lost its log); answers at once, with the progress that ``GET`` reports too. Asking while a
        republish runs starts no second one."""
        ctx.resync.start()
        return resync_status()

    @app.get("/v1/admin/resync", tags=["operations"])
    async def resync_progress(who: Operates) -> ResyncStatus:
        """The current (or last) republish: state, events staged, outbox rows still waiting."""
        return resync_status()
