"""What applying the log costs: the live consumer's rate, then a rebuild's, on the embedded broker.

Publishes (fixed seed) what records, growth and immunization publish for N children (default
5,000): the child, three visits with their growth assessments, a dose and its status fact, nine
events a child; starts the reporting service on a fresh SQLite database (or ``MCH_BENCH_DATABASE_URL``,
e.g. a PostgreSQL database), waits until its live consumer has applied the whole log, then
rebuilds its tables from the log and swaps them in. Prints events and events per second.

Run: ``.venv/bin/python services/reporting/bench/bench_rebuild.py [children]``
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel
from sqlmodel import Session

from mch_events.broker import EMBEDDED_CONSUMER_ENV, KafkaSettings, TopicGuard
from mch_events.contracts import growth as g
from mch_events.contracts import immunization as i
from mch_events.contracts import records as r
from mch_events.envelope import new_event, subject_key, to_kafka
from mch_events.registry import event_type_for
from mch_events.topics import ALL
from mch_platform.embedded_broker import EmbeddedBroker
from mch_reporting.app import create_app
from mch_reporting.rebuild import Rebuild
from mch_reporting.settings import ReportingSettings
from mch_reporting.storage import positions_of
from mch_servicekit.migrations import upgrade

SEED = 20261207
START = dt.date(2020, 1, 1)
COMMUNES = [f"38{n:03d}" for n in range(20)]


def history(children: int) -> list[BaseModel]:
    rng = random.Random(SEED)
    events: list[BaseModel] = [
        r.OrgUnit(code="VN", name="VN", level="national", valid_from=START),
        r.OrgUnit(code="38", name="38", level="province", parent="VN", valid_from=START),
        *(
            r.OrgUnit(code=c, name=c, level="commune", parent="38", valid_from=START)
            for c in COMMUNES
        ),
    ]
    for _ in range(children):
        child = uuid.UUID(int=rng.getrandbits(128))
        born = dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(900))
        sex = rng.choice(("M", "F"))
        home = rng.choice(COMMUNES)
        events.append(
            r.PersonState(
                person_id=child, role="child", sex=sex, birth_date=born, registered_on=born,
                residences=[r.ResidencePeriod(residence=home)],
            )
        )  # fmt: skip
        for n in range(3):
            day = born + dt.timedelta(days=30 + 60 * n)
            visit = uuid.UUID(int=rng.getrandbits(128))
            events.append(
                r.ChildVisitRecorded(
                    visit_id=visit, child_id=child, facility=f"TYT-{home}", visit_date=day,
                    sex=sex, birth_date=born, residence=home, weight_kg=6.5,
                )
            )  # fmt: skip
            events.append(
                g.GrowthAssessed(
                    visit_id=visit, child_id=child, facility=f"TYT-{home}", residence=home,
                    visit_date=day, sex=sex, birth_date=born, age_days=(day - born).days,
                    waz=g.ZScore(value=round(rng.uniform(-3, 1), 2)), reference="WHO",
                    engine_version="bench",
                )
            )  # fmt: skip
        events.append(
            r.ImmunizationRecorded(
                immunization_id=uuid.UUID(int=rng.getrandbits(128)), person_id=child,
                facility=f"TYT-{home}", date=born, vaccine="BCG", sex=sex, birth_date=born,
                residence=home,
            )
        )  # fmt: skip
        events.append(
            i.ImmunizationStatusChanged(
                person_id=child, status="dose_valid", holds=True, since=born, population="child",
                sex=sex, birth_date=born, residence=home, as_of=born,
                schedule_version="vn-epi-child-2024@1.0", vaccine="BCG", dose=1,
            )
        )  # fmt: skip
    return events


async def publish(bootstrap: str, events: list[BaseModel]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=20)
    await producer.start()
    try:
        sends = []
        for model in events:
            event = new_event(model, source="mch-bench")
            body, headers = to_kafka(event)
            sends.append(
                await producer.send(
                    event_type_for(type(model)).topic,
                    body,
                    key=subject_key(event),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
            )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def run(children: int, database_url: str, broker: EmbeddedBroker) -> None:
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
    guard = TopicGuard(kafka, create=True)
    await guard.ensure(ALL)
    await guard.close()
    events = history(children)
    started = time.perf_counter()
    await publish(broker.bootstrap_servers, events)
    print(f"published: {len(events)} events in {time.perf_counter() - started:.1f} s")

    upgrade("mch_reporting", database_url)
    app = create_app(ReportingSettings(database_url=database_url), kafka)
    async with app.router.lifespan_context(app):
        started = time.perf_counter()
        while True:
            with Session(app.state.ctx.engine) as session:
                applied = sum(positions_of(session).values())
            if applied >= len(events):
                break
            await asyncio.sleep(0.2)
        live = time.perf_counter() - started
        print(f"live consumer: {len(events) / live:,.0f} events/s ({live:.1f} s)")

        rebuild: Rebuild = app.state.rebuild
        started = time.perf_counter()
        rebuild.start()
        status = await rebuild.wait()
        took = time.perf_counter() - started
        if status.state != "done":
            raise SystemExit(f"rebuild failed: {status.reason}")
        print(
            f"rebuild: {status.offsets_done / took:,.0f} events/s "
            f"({status.offsets_done} events, {took:.1f} s, swap included)"
        )


def main() -> None:
    children = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    os.environ.update(EMBEDDED_CONSUMER_ENV)
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("MCH_BENCH_DATABASE_URL") or f"sqlite:///{folder}/reporting.db"
        with EmbeddedBroker(log_file=Path(folder) / "broker.log") as broker:
            asyncio.run(run(children, url, broker))


if __name__ == "__main__":
    main()
