"""What ``/healthz`` and ``/readyz`` report, kept up to date in the background.

The probes answer from this state at once, however busy the service is: a batch may hold the
database's write lock, every worker thread and every pooled connection for a long time, and a probe
that waited for any of them would make an orchestrator (or ``mch up``) give up on a healthy service.
The database is checked from a thread of its own; the broker from a task on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import Engine

from mch_events.outbox import outbox_table

from .waiting import pause

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0
"""Seconds between two checks of the database and of the broker."""
BROKER_TIMEOUT = 5.0
"""A broker that does not describe its cluster within this many seconds counts as unreachable."""
DATABASE_STALL = 30.0
"""A database check still running after this many seconds counts as a database that does not
answer (one busy batch never takes that long to let a plain read through)."""
CONSUMER_STALL = 120.0
"""A consumer with events waiting that completes no batch for this many seconds is stuck."""


@dataclass
class ConsumerProgress:
    """What one subscription's handler reports of its batches (read on the event loop only)."""

    name: str
    subscriber: Any
    """The FastStream subscriber; its aiokafka consumer tells the lag."""
    last_progress: float = field(default_factory=time.monotonic)
    """When a batch last completed (monotonic), or when the subscription was made."""
    in_flight: int = 0
    """Records of the batch being handled: fetched, so no longer in the consumer's lag."""
    lag: int | None = None
    """Records after the consumer's position, as of the last check (None: not known)."""
    waiting_since: float | None = None
    """Since when events have been waiting, as seen by the checks (None: none wait)."""

    def waiting(self) -> int:
        return (self.lag or 0) + self.in_flight

    def stalled_for(self, now: float) -> float:
        """How long events have waited without a batch completing; 0 for an idle consumer."""
        if self.waiting_since is None or self.waiting() == 0:
            return 0.0
        return max(0.0, now - max(self.last_progress, self.waiting_since))


class HealthMonitor:
    """Database and broker state of one service, checked every ``interval`` seconds."""

    def __init__(
        self,
        name: str,
        engine: Engine,
        broker: KafkaBroker,
        *,
        interval: float = CHECK_INTERVAL,
        broker_timeout: float = BROKER_TIMEOUT,
        database_stall: float = DATABASE_STALL,
        consumers: Sequence[ConsumerProgress] = (),
        stall: float = CONSUMER_STALL,
    ) -> None:
        self._name = name
        self._engine = engine
        self._broker = broker
        self._interval = interval
        self._broker_timeout = broker_timeout
        self._database_stall = database_stall
        self._progress = consumers
        """The service's list, filled as it subscribes; read here, never changed."""
        self._stall = stall
        self._database = "not checked yet"
        self._database_since: float | None = None
        """When the running database check started (None: none is running)."""
        self._outbox_pending: int | None = None
        self._broker_state = "not checked yet"
        self._serving = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, first_check_within: float = 10.0) -> None:
        """Start checking once the broker has started (inside the app's lifespan); returns after
        the first checks, so a service answers its first probe with what it knows."""
        loop = asyncio.get_running_loop()
        checked = asyncio.Event()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch_database,
            args=(lambda: loop.call_soon_threadsafe(checked.set),),
            name=f"mch-health-{self._name}",
            daemon=True,
        )
        self._thread.start()
        self._task = asyncio.create_task(self._watch_broker(), name=f"mch-health-{self._name}")
        self._serving = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(first_check_within):
                await checked.wait()
                while self._broker_state == "not checked yet":  # noqa: ASYNC110 - set by a task
                    await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Report not ready from now on and stop checking."""
        self._serving = False
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        thread, self._thread = self._thread, None
        if thread is not None:
            # A check stuck on the database must not hold the shutdown; the thread is a daemon.
            await asyncio.to_thread(thread.join, 0.5)

    # -- state ---------------------------------------------------------------------------------
    def database(self) -> str:
        since = self._database_since
        if since is not None and time.monotonic() - since > self._database_stall:
            return f"no answer for {time.monotonic() - since:.0f} s"
        return self._database

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, checks) from the last checks; never waits."""
        database = self.database()
        consumers = self._consumers()
        checks: dict[str, Any] = {
            "database": database,
            "broker": self._broker_state,
            "outbox_pending": self._outbox_pending if database == "ok" else None,
            "consumers": consumers,
        }
        ready = (
            self._serving
            and database == "ok"
            and self._broker_state == "ok"
            and not consumers["stalled"]
        )
        return ready, checks

    def _consumers(self) -> dict[str, Any]:
        """Subscribers, the partitions assigned to them, their lag and the consumers stuck. The
        assignment is not a readiness condition (a replica beyond the partition count gets none
        and still serves its HTTP API); a consumer stuck with events waiting is."""
        subscribers = self._broker.subscribers
        assigned = 0
        for subscriber in subscribers:
            consumer: Any = getattr(subscriber, "consumer", None)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    assigned += len(consumer.assignment())
        now = time.monotonic()
        stalled_for = 0.0
        stalled: list[str] = []
        for progress in self._progress:
            seconds = progress.stalled_for(now)
            stalled_for = max(stalled_for, seconds)
            if seconds > self._stall:
                stalled.append(
                    f"{progress.name}: no batch completed for {seconds:.0f} s"
                    f" with {progress.waiting()} events waiting"
                )
        return {
            "subscribers": len(subscribers),
            "assigned_partitions": assigned,
            "lag": sum(progress.waiting() for progress in self._progress),
            "stalled_for_s": round(stalled_for, 1),
            "stalled": stalled,
        }

    # -- checks --------------------------------------------------------------------------------
    def _watch_database(self, checked: Callable[[], object]) -> None:
        first = True
        while not self._stop.is_set():
            self._database_since = time.monotonic()
            try:
                self._outbox_pending = _outbox_rows(self._engine, self._name)
                self._database = "ok"
            except Exception as exc:
                self._outbox_pending = None
                self._database = f"error: {type(exc).__name__}"
            self._database_since = None
            if first:
                first = False
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    checked()
            pause(self._stop, self._interval)

    async def _watch_broker(self) -> None:
        while True:
            try:
                reachable = await self._broker.ping(timeout=self._broker_timeout)
                self._broker_state = "ok" if reachable else "unreachable"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._broker_state = f"error: {type(exc).__name__}"
            for progress in self._progress:
                await self._check_lag(progress)
            await asyncio.sleep(self._interval)

    async def _check_lag(self, progress: ConsumerProgress) -> None:
        try:
            async with asyncio.timeout(self._broker_timeout):
                progress.lag = await _lag(progress.subscriber)
        except asyncio.CancelledError:
            raise
        except Exception:
            progress.lag = None  # in a rebalance, say; the batch in hand still counts
        if progress.waiting() == 0:
            progress.waiting_since = None
        elif progress.waiting_since is None:
            progress.waiting_since = time.monotonic()


async def _lag(subscriber: Any) -> int | None:
    """Records between the consumer's position and the highwater of its last fetch, summed over its
    partitions; None before it has a consumer. Local state only: no request to the broker."""
    consumer: Any = getattr(subscriber, "consumer", None)
    if consumer is None:
        return None
    lag = 0
    for partition in consumer.assignment():
        highwater = consumer.highwater(partition)
        if highwater is not None:
            # Waits only while the position is being reset (bounded by the caller's timeout).
            lag += max(0, highwater - await consumer.position(partition))
    return lag


def _outbox_rows(engine: Engine, service: str) -> int:
    """Rows waiting in the outbox: a plain read that also proves the schema is migrated.

    A raw DBAPI cursor, not a session: a session on SQLite begins with ``BEGIN IMMEDIATE`` (see
    ``db.py``) and would queue behind every writer; a bare SELECT in WAL mode never waits for one."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(f"SELECT count(*) FROM {outbox_table(service).__tablename__}")
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()
    return int(row[0]) if row else 0
