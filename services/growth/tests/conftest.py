"""Fixtures of the growth service's tests: child visits as records publishes them, and a migrated
SQLite database the consuming side is applied to without a broker (``send``, ``published``)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mch_events import topics
from mch_events.consume import apply_events
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.envelope import CloudEvent, new_event
from mch_events.outbox import outbox_table
from mch_growth import processing
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import upgrade

BIRTH = dt.date(2025, 1, 1)

VisitOf = Callable[..., r.ChildVisitRecorded]
PersonOf = Callable[..., r.PersonState]

GrowthOutbox = outbox_table("growth")


def child_visit(
    child: uuid.UUID, day: int, weight_kg: float | None, **fields: Any
) -> r.ChildVisitRecorded:
    """A boy born on ``BIRTH`` seen on day ``day`` of his life: weighed, 70 cm lying, head 44 cm
    unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "visit_id": uuid.uuid4(),
        "child_id": child,
        "facility": "TYT-38004",
        "residence": "38004",
        "visit_date": BIRTH + dt.timedelta(days=day),
        "sex": "M",
        "birth_date": BIRTH,
        "weight_kg": weight_kg,
        "length_height_cm": 70.0,
        "measured": "lying",
        "head_cm": 44.0,
    }
    return r.ChildVisitRecorded(**(values | fields))


def child_state(child: uuid.UUID, **fields: Any) -> r.PersonState:
    """The boy of ``child_visit`` as records announces him, unless ``fields`` say otherwise."""
    values: dict[str, Any] = {
        "person_id": child,
        "role": "child",
        "sex": "M",
        "birth_date": BIRTH,
        "registered_on": BIRTH,
        "residences": [r.ResidencePeriod(residence="38004")],
    }
    return r.PersonState(**(values | fields))


# The builders as fixtures: test modules cannot import this one.
@pytest.fixture
def new_visit() -> VisitOf:
    return child_visit


@pytest.fixture
def new_child() -> PersonOf:
    return child_state


@pytest.fixture
def growth_database(tmp_path: Path) -> str:
    """The URL of a SQLite database migrated to the growth service's latest schema."""
    url = f"sqlite:///{tmp_path}/growth.db"
    upgrade("mch_growth", url)
    return url


@pytest.fixture
def growth_engine(growth_database: str) -> Iterator[Engine]:
    engine = make_engine(growth_database)
    yield engine
    engine.dispose()


@pytest.fixture(params=["batch", "event by event"])
def send(growth_engine: Engine, request: pytest.FixtureRequest) -> Callable[..., list[str]]:
    """Apply events of ``mch.records.v1`` as the consumer does, in one batch; their statuses.
    Twice: as the live consumer applies a batch (loaded first, see ``RecordsConsumer``), and event
    by event in savepoints, as it does again after an unexpected error."""
    consumer = processing.RecordsConsumer() if request.param == "batch" else processing.apply

    def send(*models: BaseModel) -> list[str]:
        events: list[tuple[CloudEvent, dict[str, str]]] = [
            (new_event(m, source="mch-records"), {}) for m in models
        ]
        results = apply_events(growth_engine, "mch-growth", events, consumer, service="growth")
        return [result.status for result in results]

    return send


@pytest.fixture
def published(growth_engine: Engine) -> Callable[[], list[g.GrowthAssessed]]:
    """The assessments staged for ``mch.growth.v1`` since the last call, in order. Each must be on
    the growth topic, keyed by its child, with the assessment's revision on the envelope."""
    read_up_to = 0

    def published() -> list[g.GrowthAssessed]:
        nonlocal read_up_to
        with Session(growth_engine) as session:
            rows = session.exec(
                select(GrowthOutbox)
                .where(col(GrowthOutbox.id) > read_up_to)
                .order_by(col(GrowthOutbox.id))
            ).all()
        assessments = []
        for row in rows:
            assessed = g.GrowthAssessed.model_validate_json(row.payload)
            assert (row.topic, row.key) == (topics.GROWTH, str(assessed.child_id))
            assert json.loads(row.headers)["ce_revision"] == str(assessed.revision)
            assessments.append(assessed)
            read_up_to = row.id or read_up_to
        return assessments

    return published
