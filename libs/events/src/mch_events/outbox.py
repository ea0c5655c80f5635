"""Transactional outbox: an accepted change and the event announcing it are committed together;
the relay publishes committed events in order and deletes them once the broker has acknowledged.

The database is the source of truth until the broker acknowledges, so a broker that is down (or
restarts empty) loses nothing: the relay retries until it is back. One relay per service and
database publishes at a time (a PostgreSQL advisory lock elects it), which keeps events in commit
order per key.

Each service has an outbox table of its own (``<service>_outbox``), so that the four services can
share one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import threading
import types
import weakref
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy import Engine, LargeBinary, delete, func, insert, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session, SQLModel, col, select

from . import staging
from .envelope import CloudEvent, dumps_json, to_kafka
from .telemetry import context_from_traceparent, current_traceparent

log = logging.getLogger(__name__)
tracer = trace.get_tracer("mch_events.outbox")


class OutboxMessage(SQLModel):
    """The shape of an outbox row; ``outbox_table`` gives a service's table of them."""

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=128)
    key: str | None = Field(default=None, max_length=128)
    event_id: str = Field(max_length=128)
    event_type: str = Field(max_length=128)
    headers: str
    payload: bytes = Field(sa_type=LargeBinary, nullable=False)
    traceparent: str | None = Field(default=None, max_length=64)
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


@functools.cache
def outbox_table(service: str) -> type[OutboxMessage]:
    """The outbox table of ``service`` (one class per service, made once)."""
    return types.new_class(
        f"{service.capitalize()}OutboxMessage",
        (OutboxMessage,),
        {"table": True},
        exec_body=lambda ns: ns.update(__tablename__=f"{service}_outbox", __module__=__name__),
    )


def add(session: Session, event: CloudEvent, *, topic: str, key: str | None, service: str) -> None:
    """Stage ``event`` for publication in the caller's transaction, in ``service``'s outbox: the
    rows are written on commit, one statement per service (see ``staging``)."""
    traceparent = current_traceparent()
    if traceparent and not event.traceparent:
        event = event.model_copy(update={"traceparent": traceparent})
    body, headers = to_kafka(event)
    staging.stage(
        session,
        _target(service),
        {
            "topic": topic,
            "key": key,
            "event_id": event.id,
            "event_type": event.type,
            "headers": dumps_json(headers).decode(),
            "payload": body,
            "traceparent": traceparent,
            "created_at": dt.datetime.now(dt.UTC),
        },
    )
    _written(session, service)


def staged_count(session: Session, service: str) -> int:
    """Events staged in ``session`` for ``service``'s outbox and not written yet."""
    return staging.staged_count(session, _target(service).table)


@functools.cache
def _target(service: str) -> staging.Target:
    table = outbox_table(service).__table__  # type: ignore[attr-defined]

    def write(connection: Connection, rows: list[dict[str, Any]]) -> None:
        connection.execute(insert(table), rows)

    return staging.Target(table, write)


_WRITTEN = "mch_events.outbox.written"
"""The services whose outbox the session's transaction stages rows for: their relays are woken
when it commits."""


def _written(session: Session, service: str) -> None:
    written = session.info.get(_WRITTEN)
    if written is None:
        written = session.info[_WRITTEN] = set()
        sa_event.listen(session, "after_commit", _wake_relays)
    written.add(service)


def _wake_relays(session: Session) -> None:
    # A rolled-back transaction leaves the set behind: a needless wake finds nothing, and is rare.
    for service in session.info.pop(_WRITTEN, ()):
        with _RELAYS_LOCK:
            relays = list(_RELAYS.get(service, ()))
        for relay in relays:
            relay.wake()


_RELAYS: dict[str, weakref.WeakSet[OutboxRelay]] = {}
"""The relays running in this process, by service: a commit that wrote rows to a service's outbox
wakes them, so every commit is published at once, whichever code path made it."""
_RELAYS_LOCK = threading.Lock()


def pending(engine: Engine, service: str) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(outbox_table(service))).one()


_YIELD_EVERY = 50

PublishFn = Callable[..., Awaitable[Any]]


class OutboxRelay:
    """Publishes service ``name``'s outbox in id order. ``publish`` is ``KafkaBroker.publish``.

    A commit in this process that wrote to the outbox wakes it; ``poll_interval`` only bounds how
    long rows committed elsewhere (another process on the same database) wait. ``batch_size`` is
    above what one consumer batch stages (500 events stage more than 500 rows): on SQLite the
    relay deletes once between two consumer commits, and with smaller batches it fell behind."""

    def __init__(
        self,
        engine: Engine,
        publish: PublishFn,
        *,
        name: str,
        before_publish: Callable[[set[str]], Awaitable[None]] | None = None,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        retry_interval: float = 2.0,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._name = name
        self._table = outbox_table(name)
        self._before_publish = before_publish
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_interval = retry_interval
        self._wake = asyncio.Event()
        self._draining = asyncio.Lock()
        """One drain at a time: a concurrent ``drain`` (shutdown, tests) would publish rows twice."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock_conn: Connection | None = None
        self.published = 0
        self.last_error: str | None = None

    # -- waking --------------------------------------------------------------------------------
    def wake(self) -> None:
        """Tell the relay new rows were committed. Safe from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._name}")
        with _RELAYS_LOCK:
            _RELAYS.setdefault(self._name, weakref.WeakSet()).add(self)

    async def stop(self) -> None:
        """Publish what is committed (best effort), then stop."""
        with _RELAYS_LOCK:
            _RELAYS.get(self._name, weakref.WeakSet()).discard(self)
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain_once(), timeout=5)
        self._release_lock()

    async def drain(self, seconds: float = 30.0) -> None:
        """Publish until the outbox is empty (tests and shutdown)."""
        async with asyncio.timeout(seconds):
            while await self.drain_once() > 0:
                pass

    # -- leader election -----------------------------------------------------------------------
    def _is_leader(self) -> bool:
        if self._engine.dialect.name != "postgresql":
            return True
        if self._lock_conn is not None:
            return True
        conn = self._engine.connect()
        key = zlib.crc32(f"mch-outbox-{self._name}".encode())
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()
        if got:
            self._lock_conn = conn
            return True
        conn.close()
        return False

    def _release_lock(self) -> None:
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                self._lock_conn.close()
            self._lock_conn = None

    # -- work ----------------------------------------------------------------------------------
    def _fetch(self) -> list[OutboxMessage]:
        if not self._is_leader():
            return []
        with Session(self._engine) as session:
            rows = session.exec(
                select(self._table).order_by(col(self._table.id)).limit(self._batch_size)
            ).all()
            return list(rows)

    def _delete(self, ids: list[int]) -> None:
        with Session(self._engine) as session:
            session.execute(delete(self._table).where(col(self._table.id).in_(ids)))
            session.commit()

    async def drain_once(self) -> int:
        """Publish one batch; returns how many were published."""
        async with self._draining:
            return await self._publish_batch()

    async def _publish_batch(self) -> int:
        rows = await asyncio.to_thread(self._fetch)
        if not rows:
            return 0
        if self._before_publish is not None:
            await self._before_publish({row.topic for row in rows})
        futures = []
        for n, row in enumerate(rows):
            if n and n % _YIELD_EVERY == 0:
                # Publishing without confirmation never waits, so a batch would hold the event
                # loop (probes, HTTP) for its whole length without this.
                await asyncio.sleep(0)
            token = otel_context.attach(context_from_traceparent(row.traceparent))
            try:
                futures.append(
                    await self._publish(
                        row.payload,
                        row.topic,
                        key=row.key.encode() if row.key else None,
                        headers=json.loads(row.headers),
                        no_confirm=True,
                    )
                )
            finally:
                otel_context.detach(token)
        await asyncio.gather(*futures)
        await asyncio.to_thread(self._delete, [r.id for r in rows if r.id is not None])
        self.published += len(rows)
        return len(rows)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before draining, so a wake during the drain is not lost
            try:
                count = await self.drain_once()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: keep the rows, retry later
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay %s: %s; retrying", self._name, self.last_error)
                await asyncio.sleep(self._retry_interval)
                continue
            if count == self._batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
