"""Kafka edges of the immunization service, and the job that forecasts people again as time passes
or schedules and org units change."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from sqlalchemy import Engine, update
from sqlmodel import Session

from mch_events import topics
from mch_servicekit.app import ServiceContext

from .catalog import ScheduleBook
from .forecasting import Forecaster
from .processing import RecordsConsumer
from .storage import ImmunizationPerson

log = logging.getLogger(__name__)

_TICK_SECONDS = 1.0
"""How often the job looks whether it has work; looking costs no query."""
_CHUNK = 200
"""People forecast per transaction: short transactions let consumer batches in between."""


class Reforecasting:
    """Forecasts again everyone whose forecast is not of today or not of the schedule in force:
    at start, every ``interval`` seconds, and as soon as it is woken (a schedule was uploaded, the
    org-unit tree changed). It resumes where it stopped: what is done is committed chunk by chunk."""

    def __init__(
        self,
        engine: Engine,
        forecaster: Forecaster,
        schedules: ScheduleBook,
        interval: float,
        wake_relay: Callable[[], None],
    ) -> None:
        self._engine = engine
        self._forecaster = forecaster
        self._schedules = schedules
        self._interval = interval
        self._wake_relay = wake_relay
        self._wanted = True
        self._last_run = -math.inf

    def wake(self) -> None:
        self._wanted = True

    async def tick(self) -> None:
        if not self._wanted and time.monotonic() - self._last_run < self._interval:
            return
        self._wanted = False
        self._last_run = time.monotonic()
        try:
            await asyncio.to_thread(self.run)
        except Exception:
            self._wanted = True  # the database was away, say: try again on the next tick
            raise

    def run(self) -> int:
        """Forecast everyone due, a chunk per transaction, in one pass by id; returns how many."""
        after, total = "", 0
        while True:
            with Session(self._engine) as session:
                self._schedules.refresh(session)
                people = self._forecaster.lock_stale(session, _CHUNK, after)
                # Plain ids, read now: the rows expire at commit and are detached once the
                # session closes, when the next chunk's bound is needed.
                ids = [p.person_id for p in people]
                try:
                    with session.begin_nested():
                        self._forecaster.refresh(session, people)
                except Exception:
                    self._one_by_one(session, ids)
                session.commit()
            self._wake_relay()
            total += len(ids)
            if len(ids) < _CHUNK:
                return total
            after = ids[-1]

    def _one_by_one(self, session: Session, person_ids: list[str]) -> None:
        # Someone's records break the forecast: the others must not wait for a fix. The one who
        # fails keeps the forecast they had, and is tried again on the next run.
        for person_id in person_ids:
            try:
                with session.begin_nested():
                    row = self._forecaster.lock_person(session, person_id)
                    self._forecaster.refresh(session, [row] if row is not None else [])
            except Exception:
                log.exception("forecasting person %s failed", person_id)
                session.execute(
                    update(ImmunizationPerson)
                    .where(ImmunizationPerson.person_id == person_id)  # type: ignore[arg-type]
                    .values(pending=False)
                )


def register(ctx: ServiceContext, consumer: RecordsConsumer, reforecasting: Reforecasting) -> None:
    ctx.subscribe(topics.RECORDS, apply=consumer)
    ctx.on_batch.append(consumer.after_batch)
    ctx.every(_TICK_SECONDS, reforecasting.tick)
