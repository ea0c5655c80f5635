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
from collections.abc import Callable
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy import Engine

from mch_events.outbox import outbox_table

log = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0
"""Seconds between two checks of the database and of the broker."""
BROKER_TIMEOUT = 5.0
"""A broker that does not describe its cluster within this many seconds counts as unreachable."""
DATABASE_STALL = 30.0
"""A database check still running after this many seconds counts as a database that does not
answer (one busy batch never takes that long to let a plain read through)."""


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
    ) -> None:
        self._name = name
        self._engine = engine
        self._broker = broker
        self._interval = interval
        self._broker_timeout = broker_timeout
        self._database_stall = database_stall
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
        checks: dict[str, Any] = {
            "database": database,
            "broker": self._broker_state,
            "outbox_pending": self._outbox_pending if database == "ok" else None,
            "consumers": self._consumers(),
        }
        ready = self._serving and database == "ok" and self._broker_state == "ok"
        return ready, checks

    def _consumers(self) -> dict[str, int]:
        """Subscribers and the partitions assigned to them. Not a readiness condition: a replica
        beyond the partition count gets none and still serves its HTTP API."""
        subscribers = self._broker.subscribers
        assigned = 0
        for subscriber in subscribers:
            consumer: Any = getattr(subscriber, "consumer", None)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    assigned += len(consumer.assignment())
        return {"subscribers": len(subscribers), "assigned_partitions": assigned}

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
            self._stop.wait(self._interval)

    async def _watch_broker(self) -> None:
        while True:
            try:
                reachable = await self._broker.ping(timeout=self._broker_timeout)
                self._broker_state = "ok" if reachable else "unreachable"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._broker_state = f"error: {type(exc).__name__}"
            await asyncio.sleep(self._interval)


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
