"""Republishing a service's state (``POST /v1/admin/resync``, ``mch resync``).

A broker that lost its log (the memory-only embedded broker after a crash, a Kafka cluster restored
from nothing) no longer holds what the services published. The databases still do: a service that
publishes state stages all of it in its outbox again, chunk by chunk (one transaction per chunk),
and the relay publishes it as it publishes anything else. Republished events carry ids derived from
their content, so a consumer that already applied one skips it as a duplicate, and one that never
saw it applies it like the original (the highest revision wins).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Engine

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
"""Called after each committed chunk with the number of events it staged; raises ``Stopped`` when
the service is stopping."""
RepublishFn = Callable[[Engine, Progress], None]
"""Stages the service's whole current state in its outbox; runs in a worker thread."""


class Stopped(Exception):
    """The service stops: a republish ends after its last committed chunk."""


def content_id(prefix: str, type_name: str, data: BaseModel) -> str:
    """The id of a republished event: the same state gets the same id, so republishing twice is
    harmless, and a state that changed since gets a new one."""
    digest = hashlib.sha256(type_name.encode() + b"\0" + data.model_dump_json().encode())
    return f"{prefix}-{digest.hexdigest()[:40]}"


class ResyncStatus(BaseModel):
    service: str
    state: Literal["idle", "running", "done", "failed"] = "idle"
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    staged: int = 0
    """Events staged in the outbox so far by the current (or last) run."""
    outbox_pending: int | None = None
    """Outbox rows not yet acknowledged by the broker (republished events among them)."""
    error: str | None = None


@dataclass
class Resync:
    """One republish at a time per service; asking again while one runs answers its progress."""

    service: str
    engine: Engine
    republish: RepublishFn
    wake: Callable[[], None]

    def __post_init__(self) -> None:
        self.status = ResyncStatus(service=self.service)
        self._stopping = threading.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> ResyncStatus:
        if self.status.state != "running":
            self.status = ResyncStatus(
                service=self.service, state="running", started_at=dt.datetime.now(dt.UTC)
            )
            self._task = asyncio.create_task(self._run(), name=f"resync-{self.service}")
        return self.status

    def _progress(self, staged: int) -> None:
        self.status.staged += staged
        self.wake()
        if self._stopping.is_set():
            raise Stopped

    async def _run(self) -> None:
        log.info("%s: republishing its state", self.service)
        try:
            await asyncio.to_thread(self.republish, self.engine, self._progress)
        except Exception as exc:
            self.status.state = "failed"
            self.status.error = f"{type(exc).__name__}: {exc}"[:500]
            log.exception("%s: republishing failed", self.service)
        else:
            self.status.state = "done"
            log.info("%s: republished %d events", self.service, self.status.staged)
        finally:
            self.status.finished_at = dt.datetime.now(dt.UTC)
            self.wake()

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
