"""Ingestion throughput of the records service: accepted events per second over HTTP batches and
over Kafka, on SQLite and on PostgreSQL, next to the raw consume rate of the same broker (aiokafka
``getmany``) measured in the same run.

The service runs as it does in production, in a process of its own (``mch serve records``), against
the embedded broker, with a fresh database for each measurement. The events are simulated facility
events for a few demo communes, in the order the care happened (so every one is accepted): what a
facility sends, minus its mistakes.

Run: ``.venv/bin/python services/records/bench/bench_ingest.py [events]``. PostgreSQL is taken
from ``MCH_BENCH_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
the benchmark creates a database of its own there and drops it; without PostgreSQL that column is
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

from mch_events.envelope import CloudEvent
from mch_platform.benchkit import raw_consume_rate
from mch_platform.embedded_broker import EmbeddedBroker, free_port
from mch_platform.local import demo_orgunits_json
from mch_platform.simulate import SimCommune, generate, publish_kafka
from mch_servicekit.access import Role
from mch_servicekit.access.devissuer import DevIssuer
from mch_servicekit.migrations import upgrade

EVENTS = 20_000
HTTP_BATCH = 500
COMMUNES = ("38001", "38002", "38003", "38004", "38005")
PERIOD = (dt.date(2025, 7, 1), dt.date(2026, 6, 30))
PG_ADMIN_URL = os.environ.get(
    "MCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def facility_events(count: int) -> list[CloudEvent]:
    communes = [SimCommune(commune=c, station=f"TYT-{c}") for c in COMMUNES]
    events = []
    for event in generate(communes, *PERIOD, seed=11):
        events.append(event)
        if len(events) == count:
            return events
    raise SystemExit(f"the simulation gave fewer than {count} events; ask for fewer")


# -- databases and the service -------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / f'records-{uuid.uuid4().hex[:8]}.db'}"


@contextlib.contextmanager
def postgres_database(_folder: Path) -> Iterator[str]:
    name = f"mch_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_reachable() -> bool:
    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


def authorization(issuer: DevIssuer) -> dict[str, str]:
    """A token every role and the whole country allow: the benchmark measures ingestion, not
    access."""
    return {"authorization": f"Bearer {issuer.token('bench', tuple(Role), ('VN',))}"}


@contextlib.contextmanager
def records_service(
    database_url: str, bootstrap: str, log: Path, issuer: DevIssuer
) -> Iterator[str]:
    """``mch serve records`` in a process of its own, migrated, with the demo org units."""
    upgrade("mch_records", database_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        **issuer.environment(),
    }
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mch_platform", "serve", "records"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the records service did not start; see {log}")
            time.sleep(0.2)
        httpx.post(
            f"{url}/v1/orgunits/import",
            content=demo_orgunits_json(),
            headers=authorization(issuer),
            timeout=60,
        ).raise_for_status()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def consumed(url: str) -> dict[str, int]:
    checks: dict[str, dict[str, int]] = httpx.get(f"{url}/readyz", timeout=10).json()["checks"]
    return checks["consumed"]


# -- the two ways in -------------------------------------------------------------------------------


def http_rate(url: str, events: list[CloudEvent], issuer: DevIssuer) -> float:
    """Accepted events per second, batches of 500 posted one after the other."""
    bodies = [
        [e.model_dump(mode="json", exclude_none=True) for e in events[i : i + HTTP_BATCH]]
        for i in range(0, len(events), HTTP_BATCH)
    ]
    accepted = 0
    with httpx.Client(timeout=120, headers=authorization(issuer)) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post(f"{url}/v1/events", json=body)
            response.raise_for_status()
            accepted += response.json()["summary"].get("accepted", 0)
        elapsed = time.perf_counter() - started
    return accepted / elapsed


def kafka_rate(url: str, bootstrap: str, events: list[CloudEvent]) -> float:
    """Accepted events per second from the first publish to the last event consumed."""
    started = time.perf_counter()
    asyncio.run(publish_kafka(events, bootstrap))
    while sum(consumed(url).values()) < len(events):
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    return consumed(url).get("accepted", 0) / elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    events = facility_events(count)
    databases: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
        "SQLite": sqlite_database
    }
    if postgres_reachable():
        databases["PostgreSQL"] = postgres_database
    else:
        print(f"PostgreSQL not reachable at {PG_ADMIN_URL}: measuring SQLite only")
    print(f"{count:,} simulated facility events ({len(COMMUNES)} communes), in care order")
    rates: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as folder, EmbeddedBroker() as broker:
        work = Path(folder)
        issuer = DevIssuer(work / "issuer")
        raw = asyncio.run(raw_consume_rate(broker.bootstrap_servers, events))
        for db_name, database in databases.items():
            for way in ("HTTP batches", "Kafka"):
                with (
                    database(work) as url,
                    records_service(
                        url, broker.bootstrap_servers, work / "records.log", issuer
                    ) as service,
                ):
                    if way == "Kafka":
                        rate = kafka_rate(service, broker.bootstrap_servers, events)
                    else:
                        rate = http_rate(service, events, issuer)
                rates[way, db_name] = rate
                print(f"  {way:<13} {db_name:<11} {rate:>9,.0f} accepted events/s")
    print(f"  raw broker consume (aiokafka getmany, same broker): {raw:,.0f} messages/s")
    print()
    print(f"| accepted events/s | {' | '.join(databases)} |")
    print(f"|---|{'---:|' * len(databases)}")
    for way in ("HTTP batches", "Kafka"):
        print(f"| {way} | {' | '.join(f'{rates[way, db]:,.0f}' for db in databases)} |")
    print(f"\nRaw broker consume rate in the same run (aiokafka `getmany`): {raw:,.0f} messages/s")


if __name__ == "__main__":
    main()
