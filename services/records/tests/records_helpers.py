"""What the records tests share: facility events built by hand and a realistic stream with
corrections, the gate on a migrated database of the test's own, a canonical dump of the tables
the service owns, and the service itself running against the embedded broker."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mch_events import outbox, topics
from mch_events.consume import apply_events
from mch_events.contracts import facility as f
from mch_events.contracts.results import EventResult
from mch_events.envelope import VN_TZ, CloudEvent, new_event
from mch_events.outbox import outbox_table
from mch_platform.local import demo_orgunits_json
from mch_platform.simulate import publish_kafka
from mch_platform.testing import running
from mch_records.domain import orgunits as orgunit_io
from mch_records.orgunits import import_versions, tree_cache
from mch_records.processing import CONSUMER, Gate
from mch_records.storage import (
    MODELS,
    HeldEvent,
    Person,
    Record,
    Rejection,
    Residence,
    Void,
)
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import metadata_for, upgrade

Outbox = outbox_table("records")
STATION = "TYT-38001"
"""A commune health station of the demo tree (commune 38001, from 2025-07-01)."""
HOSPITAL = "BVDK-38"
COMMUNE = "38001"
OTHER_COMMUNE = "38002"
THIRD_COMMUNE = "38003"
TODAY = dt.date(2026, 6, 1)
"""What the gate takes as today in the tests that fix it: after every care date used here."""


class Clinic:
    """Builds facility events as a station or hospital would send them, with fresh ids."""

    def __init__(self, seed: int = 1, source: str = STATION) -> None:
        self._rng = random.Random(seed)
        self.source = source

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    def event(
        self,
        data: BaseModel,
        *,
        on: dt.date,
        revision: int = 1,
        source: str | None = None,
        hour: int = 9,
    ) -> CloudEvent:
        return new_event(
            data,
            source=source or self.source,
            time=dt.datetime.combine(on, dt.time(hour), tzinfo=VN_TZ),
            revision=revision,
            event_id=str(self.uuid()),
        )

    def mother(
        self, on: dt.date = dt.date(2025, 8, 1), residence: str = COMMUNE, **fields: Any
    ) -> CloudEvent:
        data = {
            "mother_id": self.uuid(),
            "full_name": "Lê Thị Hoa",
            "birth_date": dt.date(1996, 3, 2),
            "residence": residence,
        } | fields
        return self.event(f.MotherRegistered(**data), on=on)

    def pregnancy(
        self, mother: CloudEvent, on: dt.date = dt.date(2025, 8, 2), **fields: Any
    ) -> CloudEvent:
        data = {
            "pregnancy_id": self.uuid(),
            "mother_id": mother.data["mother_id"],
            "lmp_date": dt.date(2025, 6, 1),
            "edd": dt.date(2026, 3, 8),
            "gravida": 2,
            "para": 1,
        } | fields
        return self.event(f.PregnancyRegistered(**data), on=on)

    def antenatal(self, pregnancy: CloudEvent, on: dt.date, **fields: Any) -> CloudEvent:
        data = {
            "visit_id": self.uuid(),
            "pregnancy_id": pregnancy.data["pregnancy_id"],
            "facility": STATION,
            "visit_date": on,
            "weight_kg": 55.0,
            "bp_systolic": 110,
            "bp_diastolic": 70,
        } | fields
        return self.event(f.AntenatalVisit(**data), on=on)

    def birth(
        self,
        pregnancy: CloudEvent,
        on: dt.date = dt.date(2026, 3, 1),
        babies: Sequence[dict[str, Any]] | None = None,
        **fields: Any,
    ) -> CloudEvent:
        data = {
            "birth_id": self.uuid(),
            "pregnancy_id": pregnancy.data["pregnancy_id"],
            "mother_id": pregnancy.data["mother_id"],
            "facility": HOSPITAL,
            "birth_date": on,
            "place": "facility",
            "attendant": "doctor",
            "mode": "vaginal",
            "babies": babies
            or [{"child_id": self.uuid(), "sex": "F", "outcome": "live", "weight_g": 3100}],
        } | fields
        return self.event(f.Birth(**data), on=on, source=HOSPITAL)

    def postnatal(self, birth: CloudEvent, on: dt.date, **fields: Any) -> CloudEvent:
        data = {
            "visit_id": self.uuid(),
            "mother_id": birth.data["mother_id"],
            "facility": STATION,
            "visit_date": on,
        } | fields
        return self.event(f.PostnatalVisit(**data), on=on)

    def child(self, on: dt.date = dt.date(2025, 9, 1), **fields: Any) -> CloudEvent:
        data = {
            "child_id": self.uuid(),
            "sex": "M",
            "birth_date": dt.date(2025, 1, 15),
            "residence": COMMUNE,
            "full_name": "Nguyễn Minh Khang",
        } | fields
        return self.event(f.ChildRegistered(**data), on=on)

    def child_visit(self, child_id: Any, on: dt.date, **fields: Any) -> CloudEvent:
        data = {
            "visit_id": self.uuid(),
            "child_id": child_id,
            "facility": STATION,
            "visit_date": on,
            "weight_kg": 6.1,
        } | fields
        return self.event(f.ChildVisit(**data), on=on)

    def dose(self, person_id: Any, on: dt.date, vaccine: str = "BCG", **fields: Any) -> CloudEvent:
        data = {
            "immunization_id": self.uuid(),
            "person_id": person_id,
            "facility": STATION,
            "date": on,
            "vaccine": vaccine,
        } | fields
        return self.event(f.Immunization(**data), on=on)

    def moved(self, person_id: Any, residence: str, on: dt.date, revision: int = 1) -> CloudEvent:
        data = f.ResidenceChanged(person_id=person_id, residence=residence, effective_date=on)
        return self.event(data, on=on, revision=revision)

    def died(self, person_id: Any, on: dt.date, revision: int = 1) -> CloudEvent:
        return self.event(f.Death(person_id=person_id, date=on), on=on, revision=revision)

    def void(self, record_id: Any, on: dt.date, reason: str = "entered in error") -> CloudEvent:
        return self.event(f.RecordVoided(record_id=record_id, reason=reason), on=on)


def amended(event: CloudEvent, revision: int, *, days_later: int = 3, **changes: Any) -> CloudEvent:
    """The event re-sent as a correction: a new id, a higher revision, changed data."""
    assert event.time is not None
    return event.model_copy(
        update={
            "id": str(uuid.uuid5(uuid.UUID(event.id), f"revision-{revision}")),
            "revision": revision,
            "time": event.time + dt.timedelta(days=days_later),
            "data": event.data | json.loads(json.dumps(changes, default=str)),
        }
    )


# -- the gate on a database of the test's own ------------------------------------------------------


_DEMO_UNITS = orgunit_io.from_json(demo_orgunits_json().decode("utf-8"))


def prepare_database(url: str, *, migrate: bool = True) -> Engine:
    """Migrate (or, quicker, create the tables), load the demo org units, return an engine."""
    if migrate:
        upgrade("mch_records", url)
    engine = make_engine(url)
    if not migrate:
        metadata_for(MODELS).create_all(engine)
    with Session(engine) as session:
        import_versions(session, _DEMO_UNITS, source="tests")
        session.commit()
        session.execute(Outbox.__table__.delete())  # type: ignore[attr-defined]
        session.commit()
    return engine


class GateHarness:
    """The gate applied the way both edges apply it (``apply_events``), batch by batch."""

    def __init__(self, engine: Engine, today: dt.date = TODAY) -> None:
        self.engine = engine
        self.gate = Gate(tree_cache(engine), today=lambda: today)

    def apply(self, events: Sequence[CloudEvent], batch: int = 500) -> list[EventResult]:
        results: list[EventResult] = []
        for start in range(0, len(events), batch):
            chunk: list[tuple[CloudEvent, dict[str, str]]] = [
                (e, {}) for e in events[start : start + batch]
            ]
            results += apply_events(self.engine, CONSUMER, chunk, self.gate, service="records")
        return results

    def statuses(self, events: Sequence[CloudEvent]) -> list[str]:
        return [r.status for r in self.apply(events)]

    def published(self) -> list[tuple[str, dict[str, Any]]]:
        """(event type, data) of everything staged for ``mch.records.v1``, in order."""
        with Session(self.engine) as session:
            rows = session.exec(select(Outbox).order_by(col(Outbox.id))).all()
        return [(row.event_type, json.loads(row.payload)) for row in rows]

    def clear_published(self) -> None:
        with Session(self.engine) as session:
            session.execute(Outbox.__table__.delete())  # type: ignore[attr-defined]
            session.commit()

    def person(self, person_id: Any) -> Person:
        with Session(self.engine) as session:
            found = session.get(Person, str(person_id))
        assert found is not None, f"no person {person_id}"
        return found

    def record(self, record_id: Any) -> Record:
        with Session(self.engine) as session:
            found = session.get(Record, str(record_id))
        assert found is not None, f"no record {record_id}"
        return found

    def held(self) -> list[HeldEvent]:
        with Session(self.engine) as session:
            return list(session.exec(select(HeldEvent)).all())

    def rejections(self) -> list[Rejection]:
        with Session(self.engine) as session:
            return list(session.exec(select(Rejection)).all())

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        return dump_state(self.engine)


# -- a realistic stream, with the corrections facilities send ----------------------------------------


VOLUME_COMMUNES = ("38001", "38002", "38003")
VOLUME_START = dt.date(2025, 7, 1)
VOLUME_END = dt.date(2025, 9, 30)


def volume_events(total: int, seed: int = 7) -> list[CloudEvent]:
    """``total`` facility events in the order the care happened: the simulator's clean stream for
    a few demo communes, with corrections mixed in after what they correct: amended records and
    registrations (a higher revision, sent days later), voids, and people moving."""
    from mch_platform.simulate import SimCommune, generate

    communes = [SimCommune(commune=c, station=f"TYT-{c}") for c in VOLUME_COMMUNES]
    rng = random.Random(seed)
    out: list[CloudEvent] = []
    for event in generate(communes, VOLUME_START, VOLUME_END, seed):
        out.append(event)
        out += _corrections(event, rng)
        if len(out) >= total:
            return out[:total]
    raise AssertionError(f"the simulation gave fewer than {total} events")


def _corrections(event: CloudEvent, rng: random.Random) -> list[CloudEvent]:
    assert event.time is not None
    roll = rng.random()
    if event.type.endswith(".registered.v1"):
        return _registration_corrections(event, roll, rng)
    return _record_corrections(event, roll, event.time.date())


def _record_corrections(event: CloudEvent, roll: float, day: dt.date) -> list[CloudEvent]:
    data = event.data
    extra: list[CloudEvent] = []
    match event.type:
        case "vn.mch.antenatal.visit.v1" if roll < 0.05:
            extra.append(amended(event, 2, weight_kg=round(data.get("weight_kg", 50) + 0.5, 1)))
        case "vn.mch.antenatal.visit.v1" | "vn.mch.child.visit.v1" if roll > 0.985:
            extra.append(_void(event, data["visit_id"], day))
        case "vn.mch.child.visit.v1" if roll < 0.04:
            extra.append(amended(event, 2, oedema=False, vitamin_a=True))
        case "vn.mch.immunization.v1" if roll < 0.03:
            extra.append(amended(event, 2, lot="LOT-2"))
            if roll < 0.01:  # corrected twice
                extra.append(amended(event, 3, days_later=6, lot="LOT-3"))
        case "vn.mch.immunization.v1" if roll > 0.99:
            extra.append(_void(event, data["immunization_id"], day))
        case "vn.mch.birth.v1" if roll < 0.1:
            babies = [dict(b) for b in data["babies"]]
            if "weight_g" in babies[0]:
                babies[0]["weight_g"] += 100
            extra.append(amended(event, 2, babies=babies))
    return extra


def _registration_corrections(
    event: CloudEvent, roll: float, rng: random.Random
) -> list[CloudEvent]:
    data = event.data
    match event.type:
        case "vn.mch.mother.registered.v1" if roll < 0.06:
            return [amended(event, 2, residence=rng.choice(VOLUME_COMMUNES))]
        case "vn.mch.mother.registered.v1" if roll > 0.96:
            return [_moved(event, data["mother_id"], rng)]
        case "vn.mch.child.registered.v1" if roll < 0.03:
            return [amended(event, 2, full_name="Trần Gia Huy")]
        case "vn.mch.child.registered.v1" if roll > 0.98:
            return [_moved(event, data["child_id"], rng)]
        case "vn.mch.pregnancy.registered.v1" if roll < 0.05 and "gravida" in data:
            return [amended(event, 2, gravida=data["gravida"] + 1)]
    return []


def _void(event: CloudEvent, record_id: str, day: dt.date) -> CloudEvent:
    voided = f.RecordVoided(record_id=uuid.UUID(record_id), reason="entered twice")
    return new_event(
        voided,
        source=event.source,
        time=dt.datetime.combine(day + dt.timedelta(days=2), dt.time(10), tzinfo=VN_TZ),
        event_id=str(uuid.uuid5(uuid.UUID(event.id), "void")),
    )


def _moved(event: CloudEvent, person_id: str, rng: random.Random) -> CloudEvent:
    assert event.time is not None
    moved = f.ResidenceChanged(
        person_id=uuid.UUID(person_id),
        residence=rng.choice(VOLUME_COMMUNES),
        effective_date=event.time.date() + dt.timedelta(days=rng.randint(1, 40)),
    )
    return new_event(
        moved,
        source=event.source,
        time=event.time + dt.timedelta(days=50),
        event_id=str(uuid.uuid5(uuid.UUID(event.id), "moved")),
    )


# -- the state the service owns, comparable across runs and databases ------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _rows(session: Session, model: Any, skip: set[str], key: Callable[[Any], Any]) -> list[Any]:
    columns = [c.name for c in model.__table__.columns if c.name not in skip]
    out = []
    for row in session.exec(select(model)).all():
        values = {c: _plain(getattr(row, c)) for c in columns}
        if "data" in values:  # compare the JSON, not its spelling
            values["data"] = json.dumps(json.loads(values["data"]), sort_keys=True)
        out.append(tuple(sorted(values.items())))
    return sorted(out, key=key)


def dump_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """People, residences, records and voids, without row ids and timestamps."""
    with Session(engine) as session:
        return {
            "persons": _rows(session, Person, {"updated_at"}, repr),
            "residences": _rows(session, Residence, {"id"}, repr),
            "records": _rows(session, Record, {"updated_at"}, repr),
            "voids": _rows(session, Void, set(), repr),
        }


# -- the service, running ----------------------------------------------------------------------------


class RunningService:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, database_url: str) -> None:
        self.app = app
        self.client = client
        self.database_url = database_url

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    async def post(self, events: Sequence[CloudEvent], batch: int = 500) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(events), batch):
            body = [
                e.model_dump(mode="json", exclude_none=True) for e in events[start : start + batch]
            ]
            response = await self.client.post("/v1/events", json=body)
            assert response.status_code in (200, 207), response.text
            results += response.json()["results"]
        return results

    def consumed(self) -> int:
        return sum(self.ctx.consumed.values())

    async def wait_consumed(self, count: int, seconds: float = 120.0) -> None:
        """Until the Kafka subscriber has processed ``count`` events since the start."""
        await wait_until(lambda: self.consumed() >= count, seconds)

    async def published_all(self, seconds: float = 60) -> None:
        """Until the relay has published everything committed so far (the relay publishes at
        least once: a message may arrive twice, never not at all)."""
        await wait_until(lambda: outbox.pending(self.ctx.engine, "records") == 0, seconds)

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Send facility events on Kafka, as a facility system would (binary mode)."""
        sent = await publish_kafka(events, self.ctx.kafka.bootstrap_servers)
        assert sent == len(events)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        return dump_state(self.ctx.engine)

    def held(self) -> int:
        with Session(self.ctx.engine) as session:
            return len(session.exec(select(HeldEvent.event_id)).all())


class TopicReader:
    """Reads a topic from its beginning, without a consumer group, until stopped; keeps the
    CloudEvents it carries (type, key and data) in arrival order."""

    def __init__(self, bootstrap_servers: str, topic: str = topics.RECORDS) -> None:
        self.messages: list[tuple[str, str | None, dict[str, Any], dict[str, str]]] = []
        self.errors: list[Exception] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False
        )
        self._topic = topic
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        try:
            async with asyncio.timeout(30):  # a broker that just came back gets its topics soon
                while self._topic not in await self._consumer.topics():  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            partitions = [
                TopicPartition(self._topic, p)
                for p in sorted(self._consumer.partitions_for_topic(self._topic) or ())
            ]
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)
        except BaseException:
            await self._consumer.stop()
            raise
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self._consumer.stop()
        except (Exception, asyncio.CancelledError):
            # A consumer whose broker was killed (the outage test) fails to stop cleanly; a
            # cancellation of this task itself still goes through.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    async def _read(self) -> None:
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            except KafkaError as exc:  # the broker restarting: keep reading once it is back
                self.errors.append(exc)
                await asyncio.sleep(0.2)
                continue
            for records in batches.values():
                for record in records:
                    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
                    self.messages.append(
                        (
                            headers.get("ce_type", ""),
                            record.key.decode("utf-8", "replace") if record.key else None,
                            _json_object(record.value),
                            headers,
                        )
                    )

    def of_type(self, suffix: str) -> list[dict[str, Any]]:
        """The data of the messages whose CloudEvents type ends in ``suffix``."""
        return [data for name, _, data, _ in self.messages if name.endswith(suffix)]


def _json_object(body: bytes | None) -> dict[str, Any]:
    """A message body as a JSON object; empty when it is none (dead letters hold anything)."""
    try:
        value = json.loads(body or b"")
    except (ValueError, RecursionError):  # a dead letter may be nested too deep to read
        return {}
    return value if isinstance(value, dict) else {}


async def wait_until(condition: Callable[[], bool], seconds: float, poll: float = 0.05) -> None:
    """Poll ``condition`` until it holds; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the condition is no event of ours to await
            await asyncio.sleep(poll)


async def start_service(
    database_url: str, bootstrap_servers: str, **settings: Any
) -> AsyncIterator[RunningService]:
    """The whole service on a database that holds the org units already, its today ``TODAY``."""
    async with running(
        "records",
        database_url=database_url,
        bootstrap_servers=bootstrap_servers,
        today=lambda: TODAY,
        **settings,
    ) as (app, client):
        yield RunningService(app, client, database_url)
