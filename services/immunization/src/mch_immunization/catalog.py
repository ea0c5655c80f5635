"""The schedules the service forecasts with: the shipped ones, then the operator's directory
(``SCHEDULES_DIR``), then those uploaded with ``POST /v1/schedules`` (kept in the database, so
every replica and every restart sees them)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from .domain.schedule import Schedule, ScheduleCatalog, ScheduleError, load_catalog, load_schedule
from .storage import ImmunizationSchedule

log = logging.getLogger(__name__)


class ScheduleConflict(ValueError):
    """An upload that reuses a loaded schedule's version for other content."""


class ScheduleBook:
    def __init__(self, engine: Engine, directory: Path | None = None) -> None:
        self._engine = engine
        # A broken operator file stops the service at start, where the operator sees why.
        self._files = load_catalog(*([directory] if directory else []))
        self._catalog = self._files
        self._uploaded: dict[str, str] = {}
        """id -> version of the uploads in the catalog."""
        self._lock = threading.Lock()

    @property
    def catalog(self) -> ScheduleCatalog:
        return self._catalog

    def refresh(self, session: Session) -> bool:
        """Take in the uploads made since (by any replica); True when the catalog changed."""
        listed = dict(
            session.exec(
                select(ImmunizationSchedule.schedule_id, ImmunizationSchedule.version)
            ).all()
        )
        if listed == self._uploaded:
            return False
        rows = session.exec(select(ImmunizationSchedule)).all()
        try:
            uploads = [load_schedule(json.loads(row.document)) for row in rows]
            by_id = {**self._files.schedules, **{s.id: s for s in uploads}}
            catalog = ScheduleCatalog.of(by_id.values())
        except ScheduleError as error:
            # Only an operator file added since the upload can do this; keep forecasting with
            # what holds together until the operator resolves it.
            log.error("uploaded schedules left out: %s", error)
            return False
        with self._lock:
            self._catalog, self._uploaded = catalog, listed
        return True

    def upload(self, document: dict[str, Any]) -> tuple[Schedule, bool]:
        """Validate and keep a schedule; returns it and whether it is new (False: this version was
        already loaded with the same content). Raises ``ScheduleError`` or ``ScheduleConflict``."""
        schedule = load_schedule(document)
        loaded = self._catalog.get(schedule.id)
        if loaded is not None and loaded.version == schedule.version:
            if loaded.spec == schedule.spec:
                return loaded, False
            raise ScheduleConflict(
                f"schedule {schedule.label} is already loaded with other content; raise its version"
            )
        # The catalog must still hold together (one schedule per population and start date).
        others = [s for i, s in self._catalog.schedules.items() if i != schedule.id]
        ScheduleCatalog.of([*others, schedule])
        with Session(self._engine) as session:
            row = session.get(ImmunizationSchedule, schedule.id) or ImmunizationSchedule(
                schedule_id=schedule.id, version=schedule.version, document=""
            )
            row.version = schedule.version
            row.document = json.dumps(document, ensure_ascii=False)
            session.add(row)
            session.commit()
            self.refresh(session)
        return schedule, True
