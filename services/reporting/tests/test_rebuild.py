"""Rebuilding reporting's tables from the log, on the real broker, on SQLite and on PostgreSQL:
after the swap every answer equals the live one (late events, voids, amendments, merges and moves
included); while it runs answers come from the live tables, and what arrives meanwhile is kept;
a log that no longer holds the whole history is refused and the live tables stay."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, TopicPartition
from alembic import command
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Table, select
from sqlmodel import Session

from mch_events.consume import apply_events
from mch_events.contracts import facility as f
from mch_events.contracts import growth as g
from mch_events.contracts import immunization as i
from mch_events.contracts import records as r
from mch_events.envelope import CloudEvent, new_event
from mch_platform.embedded_broker import EmbeddedBroker, free_port
from mch_platform.testing import bearer, running
from mch_reporting.handlers import TOPICS
from mch_reporting.processing import Facts
from mch_reporting.rebuild import Rebuild, RebuildRefused, _whole_log
from mch_reporting.storage import REBUILT, positions_of
from mch_servicekit.access import Role
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import alembic_config, upgrade

pytestmark = pytest.mark.integration

Produce = Callable[..., Awaitable[None]]
WaitFor = Callable[..., Awaitable[None]]

D = dt.date
START, REFORM = D(2020, 1, 1), D(2025, 7, 1)
SCHEDULE = "vn-epi-child-2024@1.0"
OLD_COMMUNES, NEW_COMMUNES = ("40401", "40402"), ("38004", "38005")

TREE = [
    r.OrgUnit(code="VN", name="VN", level="national", valid_from=START),
    r.OrgUnit(code="38", name="38", level="province", parent="VN", valid_from=START),
    r.OrgUnit(code="404", name="404", level="district", parent="38", valid_from=START,
              valid_to=REFORM),
    # Merged in the reform: what still names an old commune counts for its successor.
    *(r.OrgUnit(code=c, name=c, level="commune", parent="404", valid_from=START, valid_to=REFORM,
                successor=new) for c, new in zip(OLD_COMMUNES, NEW_COMMUNES, strict=True)),
    *(r.OrgUnit(code=c, name=c, level="commune", parent="38", valid_from=REFORM)
      for c in NEW_COMMUNES),
    r.OrgUnit(code="TYT-38004", name="TYT-38004", level="facility", parent="38004",
              valid_from=REFORM),
    r.OrgUnit(code="BV-38", name="BV-38", level="facility", parent="38", valid_from=START),
]  # fmt: skip

QUESTIONS = [
    {"orgunit": unit, "period": period}
    for unit in ("VN", "38", "404", "40401", "38004", "38005")
    for period in ("2025", "2025Q2", "2025-06", "2025S2", "2026", "2026-11", "2026-9M")
] + [
    {"orgunit": unit, "period": period, "view": "facility"}
    for unit in ("38", "TYT-38004", "BV-38")
    for period in ("2025", "2026", "2026-11")
]


def residence_on(day: D, rng: random.Random) -> str:
    return rng.choice(OLD_COMMUNES if day < REFORM else NEW_COMMUNES)


def scenario(seed: int = 7, children: int = 40) -> tuple[list[BaseModel], list[BaseModel]]:
    """What records, growth and immunization publish for a few dozen children and their mothers,
    and, to send after it, what comes late: registrations dated after the care, amendments,
    voids, merges and moves (children still recorded in a commune merged in the reform count
    for its successor), a voided antenatal visit, an amended birth weight, a mother's death."""
    rng = random.Random(seed)
    first: list[BaseModel] = []
    late: list[BaseModel] = []
    kids: list[tuple[uuid.UUID, D, str, str]] = []
    for n in range(children):
        child = uuid.UUID(int=rng.getrandbits(128))
        born = D(2024, 1, 1) + dt.timedelta(days=rng.randrange(0, 900))
        sex = rng.choice("MF")
        home = residence_on(born, rng)
        moved = NEW_COMMUNES[n % 2]
        residences = [r.ResidencePeriod(residence=home)]
        if n % 5 == 0:  # a move, dated after the reform
            residences.append(r.ResidencePeriod(residence=moved, effective_date=D(2026, 3, 1)))
        state = r.PersonState(
            person_id=child, role="child", sex=sex, birth_date=born, registered_on=born,
            residences=residences,
        )  # fmt: skip
        if n % 4 == 0:  # registered late, and dated after its first care
            late.append(state.model_copy(update={"registered_on": D(2026, 12, 1)}))
        else:
            first.append(state)
        kids.append((child, born, sex, home))
        for visit_n in range(rng.randrange(1, 5)):
            day = born + dt.timedelta(days=30 + visit_n * 90 + rng.randrange(0, 40))
            if day > D(2026, 11, 30):
                break
            where = residence_on(day, rng) if not residences[1:] else home
            visit = uuid.UUID(int=rng.getrandbits(128))
            facility = "TYT-38004" if day >= REFORM else "BV-38"
            first.append(
                r.ChildVisitRecorded(
                    visit_id=visit, child_id=child, facility=facility, visit_date=day, sex=sex,
                    birth_date=born, residence=where, weight_kg=7.5,
                    vitamin_a=day.month in (6, 12),
                )
            )  # fmt: skip
            assessment = g.GrowthAssessed(
                visit_id=visit, child_id=child, facility=facility, residence=where,
                visit_date=day, sex=sex, birth_date=born, age_days=(day - born).days,
                waz=g.ZScore(value=round(rng.uniform(-3.5, 1.5), 2)),
                lhaz=g.ZScore(value=round(rng.uniform(-3.5, 1.5), 2)),
                whz=g.ZScore(value=round(rng.uniform(-3.5, 2.5), 2)),
                reference="WHO", engine_version="test",
            )  # fmt: skip
            first.append(assessment)
            if rng.random() < 0.2:  # amended: a new weighing
                late.append(
                    assessment.model_copy(update={"revision": 2, "waz": g.ZScore(value=-2.7)})
                )
            elif rng.random() < 0.1:  # voided
                late.append(assessment.model_copy(update={"revision": 2, "voided": True}))
        dose_day = born + dt.timedelta(days=rng.randrange(0, 60))
        dose = r.ImmunizationRecorded(
            immunization_id=uuid.UUID(int=rng.getrandbits(128)), person_id=child,
            facility="TYT-38004" if dose_day >= REFORM else "BV-38", date=dose_day,
            vaccine="BCG", sex=sex, birth_date=born, residence=residence_on(dose_day, rng),
        )  # fmt: skip
        first.append(dose)
        valid = i.ImmunizationStatusChanged(
            person_id=child, status="dose_valid", holds=True, since=dose_day, population="child",
            sex=sex, birth_date=born, residence=dose.residence, as_of=dose_day,
            schedule_version=SCHEDULE, vaccine="BCG", dose=1,
        )  # fmt: skip
        first.append(valid)
        if n % 7 == 3:  # the dose voided: the fact no longer holds
            late.append(dose.model_copy(update={"revision": 2, "voided": True}))
            late.append(valid.model_copy(update={"holds": False, "until": dose_day}))
    # Merges: a child registered twice, the second record merged into the first.
    for child, born, sex, home in kids[1:6]:
        twin = uuid.UUID(int=rng.getrandbits(128))
        twice = r.PersonState(
            person_id=twin, role="child", sex=sex, birth_date=born, registered_on=born,
            residences=[r.ResidencePeriod(residence=home)],
        )  # fmt: skip
        first.append(twice)
        late.append(twice.model_copy(update={"revision": 2, "merged_into": child}))
    more_first, more_late = mothers(rng)
    return first + more_first, late + more_late


def mothers(rng: random.Random) -> tuple[list[BaseModel], list[BaseModel]]:
    """Pregnancies, antenatal visits and births of a few mothers; late, a voided visit, an amended
    birth weight, a death within 42 days of the delivery."""
    first: list[BaseModel] = []
    late: list[BaseModel] = []
    for _ in range(8):
        mother, pregnancy = uuid.UUID(int=rng.getrandbits(128)), uuid.UUID(int=rng.getrandbits(128))
        delivered = D(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 680))
        home = residence_on(delivered, rng)
        first.append(
            r.PersonState(
                person_id=mother, role="mother", sex="F", birth_date=D(1995, 1, 1),
                registered_on=delivered - dt.timedelta(days=200),
                residences=[r.ResidencePeriod(residence=home)],
            )
        )  # fmt: skip
        first.append(
            r.PregnancyState(
                pregnancy_id=pregnancy, mother_id=mother, edd=delivered,
                registered_on=delivered - dt.timedelta(days=200), residence=home,
            )
        )  # fmt: skip
        for k in range(rng.randrange(1, 5)):
            first.append(
                visit := r.AntenatalVisitRecorded(
                    visit_id=uuid.UUID(int=rng.getrandbits(128)), pregnancy_id=pregnancy,
                    mother_id=mother, facility="BV-38",
                    visit_date=delivered - dt.timedelta(days=190 - 40 * k), residence=home,
                    gestational_weeks=12 + 6 * k,
                )
            )  # fmt: skip
        if rng.random() < 0.3:  # the last visit voided
            late.append(visit.model_copy(update={"revision": 2, "voided": True}))
        first.append(
            birth := r.BirthRecorded(
                birth_id=uuid.UUID(int=rng.getrandbits(128)), pregnancy_id=pregnancy,
                mother_id=mother, facility="BV-38", birth_date=delivered, residence=home,
                place="facility", attendant="midwife", mode="vaginal",
                babies=[f.Baby(child_id=uuid.UUID(int=rng.getrandbits(128)), sex="M",
                               outcome="live", weight_g=rng.choice([2300, 3100]))],
            )
        )  # fmt: skip
        if rng.random() < 0.4:  # the weight amended
            babies = [
                b.model_copy(update={"weight_g": 5400 - (b.weight_g or 0)}) for b in birth.babies
            ]
            late.append(birth.model_copy(update={"revision": 2, "babies": babies}))
        if rng.random() < 0.3:  # she dies within 42 days of the delivery
            late.append(
                r.PersonState(
                    person_id=mother, role="mother", sex="F", birth_date=D(1995, 1, 1),
                    registered_on=delivered - dt.timedelta(days=200),
                    residences=[r.ResidencePeriod(residence=home)],
                    died_on=delivered + dt.timedelta(days=10), revision=2,
                )
            )  # fmt: skip
    return first, late


def operator() -> dict[str, str]:
    return bearer([Role.OPERATOR], ["VN"], subject="operator")


async def answers(client: httpx.AsyncClient) -> list[Any]:
    """Every question's status and answer, ``as_of`` left out (it says when a value was
    applied, which a rebuild changes)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "as_of"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    found: list[Any] = []
    for params in QUESTIONS:
        response = await client.get("/v1/indicators", params=params)
        found.append((params, response.status_code, strip(response.json())))
    response = await client.get(
        "/v1/indicators/children", params={"orgunit": "38", "period": "2025"}
    )
    found.append(("children", response.status_code, strip(response.json())))
    return found


async def log_ends(broker: EmbeddedBroker) -> dict[tuple[str, int], int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [
            TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t) or ()
        ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): end for tp, end in ends.items() if end}


def applied(app: FastAPI) -> dict[tuple[str, int], int]:
    with Session(app.state.ctx.engine) as session:
        return positions_of(session)


async def caught_up(app: FastAPI, broker: EmbeddedBroker) -> bool:
    ends = await log_ends(broker)
    return bool(ends) and all(applied(app).get(k, 0) >= end for k, end in ends.items())


async def rebuilt(client: httpx.AsyncClient, wait_for: WaitFor) -> dict[str, Any]:
    async def ended() -> bool:
        response = await client.get("/v1/rebuild", headers=operator())
        return response.json()["state"] in ("done", "failed")

    await wait_for(ended, 120)
    status: dict[str, Any] = (await client.get("/v1/rebuild", headers=operator())).json()
    return status


async def test_a_rebuild_answers_as_the_live_tables_did_and_keeps_what_arrives_meanwhile(
    kafka_broker: EmbeddedBroker, database_url: str, produce: Produce, wait_for: WaitFor
) -> None:
    first, late = scenario()
    async with running(
        "reporting", database_url=database_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (app, client):
        await produce(kafka_broker, *TREE)
        await produce(kafka_broker, *first)
        await produce(kafka_broker, *late)
        await wait_for(lambda: caught_up(app, kafka_broker), 120)
        before = await answers(client)
        assert [s for _, s, _ in before].count(200) > len(QUESTIONS) // 2
        live = await client.get("/v1/indicators", params={"orgunit": "38", "period": "2025"})
        before_as_of = live.json()["as_of"]

        # Hold the rebuild just before its swap, and send a late weighing meanwhile.
        rebuild: Rebuild = app.state.rebuild
        hold, held = asyncio.Event(), asyncio.Event()

        async def before_swap() -> None:
            held.set()
            await hold.wait()

        rebuild.before_swap = before_swap
        started = await client.post("/v1/rebuild", headers=operator())
        assert started.status_code == 202, started.text
        assert started.json()["state"] == "running"
        assert started.json()["id"]
        await asyncio.wait_for(held.wait(), 120)
        again = await client.post("/v1/rebuild", headers=operator())
        assert again.status_code == 409
        assert "running" in again.json()["detail"]
        progress = (await client.get("/v1/rebuild", headers=operator())).json()
        assert progress["state"] == "running"
        assert progress["offsets_done"] == progress["offsets_total"] > 0
        assert progress["events_applied"] > 0

        child = uuid.uuid4()
        meanwhile = [
            r.PersonState(
                person_id=child, role="child", sex="F", birth_date=D(2026, 5, 1),
                registered_on=D(2026, 5, 1), residences=[r.ResidencePeriod(residence="38005")],
            ),
            g.GrowthAssessed(
                visit_id=uuid.uuid4(), child_id=child, facility="TYT-38004", residence="38005",
                visit_date=D(2026, 11, 12), sex="F", birth_date=D(2026, 5, 1), age_days=195,
                waz=g.ZScore(value=-3.2), reference="WHO", engine_version="test",
            ),
        ]  # fmt: skip
        await produce(kafka_broker, *meanwhile)
        await wait_for(lambda: caught_up(app, kafka_broker), 60)
        during = await answers(client)
        assert during != before  # the live tables, with what arrived meanwhile
        hold.set()

        status = await rebuilt(client, wait_for)
        assert status["state"] == "done", status
        assert status["finished_at"]
        assert status["events_per_second"] > 0
        assert await answers(client) == during
        # The values were applied by the rebuild: the tables were swapped.
        swapped = await client.get("/v1/indicators", params={"orgunit": "38", "period": "2025"})
        started_at = dt.datetime.fromisoformat(status["started_at"])
        assert dt.datetime.fromisoformat(swapped.json()["as_of"]) >= started_at
        assert dt.datetime.fromisoformat(before_as_of) < started_at
        # The swapped-in tables are those the migrations make: later ones apply to them.
        await asyncio.to_thread(command.check, alembic_config("mch_reporting", database_url))
        # The live consumer goes on on the swapped tables.
        await produce(
            kafka_broker, *(m.model_copy(update={"revision": 2, "voided": True}) for m in meanwhile)
        )
        await wait_for(lambda: caught_up(app, kafka_broker), 60)
        assert await answers(client) == before


async def test_a_log_that_began_again_is_refused_and_the_live_tables_stay(
    kafka_broker: EmbeddedBroker, database_url: str, produce: Produce, wait_for: WaitFor
) -> None:
    first, _ = scenario(seed=11, children=10)
    async with running(
        "reporting", database_url=database_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (app, client):
        await produce(kafka_broker, *TREE, *first)
        await wait_for(lambda: caught_up(app, kafka_broker), 120)
        before = await answers(client)
        # The embedded broker restarts empty, as after a crash.
        kafka_broker.stop()
        kafka_broker.start()
        started = await client.post("/v1/rebuild", headers=operator())
        assert started.status_code == 202, started.text
        status = await rebuilt(client, wait_for)
        assert status["state"] == "failed"
        assert "no longer holds the whole history" in status["reason"]
        assert "live tables were kept" in status["reason"]
        assert await answers(client) == before


def test_a_log_cut_by_retention_or_without_a_partition_is_refused() -> None:
    tp = TopicPartition("mch.records.v1", 0)
    with pytest.raises(RebuildRefused, match="begins at offset 120"):
        _whole_log({tp: 120}, {})
    with pytest.raises(RebuildRefused, match="began again"):
        _whole_log({tp: 0}, {("mch.records.v1", 1): 40})
    _whole_log({tp: 0}, {("mch.records.v1", 0): 500})


def test_a_batch_applied_with_its_rows_loaded_first_writes_what_one_by_one_does(
    tmp_path: Path,
) -> None:
    """``Facts`` as a ``BatchApply`` (rows loaded per batch, written at its end) against the same
    events applied one by one, each in its savepoint: the same tables, ``applied_at`` aside."""
    first, late = scenario(seed=3, children=25)
    events = [new_event(m, source="mch-tests") for m in [*TREE, *first, *late]]
    events += events[:40]  # a few sent twice
    tables: list[dict[str, list[tuple[Any, ...]]]] = []
    for name, batched in (("batched", True), ("one_by_one", False)):
        url = f"sqlite:///{tmp_path}/{name}.db"
        upgrade("mch_reporting", url)
        engine = make_engine(url)
        facts = Facts(engine)
        for start in range(0, len(events), 97):
            chunk: list[tuple[CloudEvent, dict[str, str]]] = [
                (e, {}) for e in events[start : start + 97]
            ]
            apply_events(engine, "c", chunk, facts if batched else facts.apply, service="reporting")
        with engine.connect() as conn:
            kept: dict[str, list[tuple[Any, ...]]] = {}
            for model in REBUILT:
                table: Table = model.__table__  # type: ignore[attr-defined]
                rows = conn.execute(select(table)).all()
                kept[table.name] = sorted(
                    tuple(v for k, v in row._mapping.items() if k != "applied_at") for row in rows
                )
            tables.append(kept)
        engine.dispose()
    assert tables[0] == tables[1]
    assert len(tables[0]["reporting_growth"]) > 50


async def test_mch_reporting_rebuild_shows_progress_and_fails_with_the_reason(
    kafka_broker: EmbeddedBroker, tmp_path: Path, produce: Produce, wait_for: WaitFor
) -> None:
    first, _ = scenario(seed=5, children=10)
    database_url = f"sqlite:///{tmp_path}/reporting.db"
    async with running(
        "reporting", database_url=database_url, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as (app, client):
        await produce(kafka_broker, *TREE, *first)
        await wait_for(lambda: caught_up(app, kafka_broker), 120)
        before = await answers(client)
        port = free_port()
        # The app runs already (``running``): uvicorn only serves it.
        server = uvicorn.Server(uvicorn.Config(app, port=port, lifespan="off", log_level="error"))
        serving = asyncio.create_task(server.serve())

        async def started() -> bool:
            return server.started

        try:
            await wait_for(started, 30)
            token = operator()["authorization"].removeprefix("Bearer ")

            async def mch_rebuild() -> tuple[int, str, str]:
                mch = str(Path(sys.executable).parent / "mch")
                process = await asyncio.create_subprocess_exec(
                    mch, "reporting", "rebuild", "--url", f"http://127.0.0.1:{port}",
                    "--token", token,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, err = await asyncio.wait_for(process.communicate(), 180)
                assert process.returncode is not None
                return process.returncode, out.decode(), err.decode()

            code, out, err = await mch_rebuild()
            assert code == 0, out + err
            assert out.startswith("rebuilt: "), out
            assert await answers(client) == before

            kafka_broker.stop()
            kafka_broker.start()
            code, out, err = await mch_rebuild()
            assert code == 1, out + err
            assert "mch reporting rebuild: failed: the log no longer holds the whole" in err
            assert await answers(client) == before
        finally:
            server.should_exit = True
            await serving
