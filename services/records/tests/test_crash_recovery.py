"""A records service killed with SIGKILL in the middle of writing a consumer batch, twice, against
the real broker and PostgreSQL: every facility event (each sent twice, the whole backlog shuffled)
still has exactly one effect, and every announcement committed is published, once by its id.

The service runs as ``mch serve records``, a process of its own, so the kill is a real one: no
``finally``, no rollback sent, the connections simply gone. The moment is taken from PostgreSQL: a
transaction of the service that has begun writing the batch's rows (it has a transaction id, and its
last statement writes one of the gate's tables) is killed, and the test then checks in the commit
log that this very transaction was aborted, not committed just before the signal landed (if it was,
the service is started again and another batch is tried).

The first life runs while another relay holds the outbox's leadership (the advisory lock a second
replica would hold), so announcements are committed and not published when it dies: the next
life's relay must publish them. In the second life the relay runs, so the kill may also fall
between a publication and the deletion of its rows: those are published again under the same ids.
A trigger of the test's own copies every committed outbox row's event id to a side table, in the
transaction that inserts it, so what was committed is known after the relay has deleted it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from records_helpers import (
    GateHarness,
    TopicReader,
    dump_state,
    volume_events,
)
from sqlalchemy import Connection, Engine, make_url, text

from mch_events import topics
from mch_events.broker import EMBEDDED_CONSUMER_ENV
from mch_events.envelope import CloudEvent
from mch_platform.embedded_broker import EmbeddedBroker, free_port
from mch_platform.simulate import publish_kafka
from mch_servicekit.db import make_engine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

MCH = str(Path(sys.executable).parent / "mch")
EVENTS = 1_200
BATCH = 200
"""Records per consumer batch: a dozen or more batches, so a kill falls in the middle of the log."""
DEADLINE = 90.0
"""Seconds any one condition gets (bounded polling: it normally holds within a few)."""
RELAY_LOCK = zlib.crc32(b"mch-outbox-records")
"""The advisory lock that elects the records outbox relay (``mch_events.outbox``)."""
BATCH_ROWS = re.compile(r"^\s*(INSERT INTO|UPDATE) records_(person|record|residence)\b")
"""The last statements of a consumer batch: its rows, written after its claims and its outbox rows
(the unit of work flushes on commit)."""
RELAY_DELETE = re.compile(r"^\s*DELETE FROM records_outbox\b")
"""The relay removing rows the broker has acknowledged."""
ID_FIELDS = ("visit_id", "birth_id", "immunization_id", "pregnancy_id", "person_id")
"""What an announcement on ``mch.records.v1`` is about, the most specific id first."""

OUTBOX_LOG = """
CREATE TABLE crash_outbox_log (seq bigserial PRIMARY KEY, event_id text NOT NULL);
CREATE FUNCTION crash_log_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crash_outbox_log (event_id) VALUES (NEW.event_id);
    RETURN NEW;
END $$;
CREATE TRIGGER crash_log_outbox AFTER INSERT ON records_outbox
    FOR EACH ROW EXECUTE FUNCTION crash_log_outbox();
"""


class RecordsProcess:
    """``mch serve records`` configured by its environment, its output in a file; stopped by its
    own handle."""

    def __init__(self, folder: Path, database_url: str, bootstrap_servers: str) -> None:
        self.port = free_port()
        self.log = folder / f"records-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_"))}
        env |= EMBEDDED_CONSUMER_ENV | {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CONSUMER_BATCH_SIZE": str(BATCH),
            # One writer: the consumer. The periodic retry of held events (for an event and its
            # reference arriving over HTTP and Kafka at once) would otherwise commit beside it.
            "HELD_CHECK_SECONDS": "3600",
        }
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [MCH, "serve", "records"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait()

    def ready(self) -> bool:
        assert self.process.poll() is None, self.output
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/readyz", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


@contextlib.contextmanager
def records_processes(
    folder: Path, database_url: str, bootstrap_servers: str
) -> Iterator[Callable[[], RecordsProcess]]:
    """A starter of records processes; each one started is stopped on the way out."""
    started: list[RecordsProcess] = []

    def start() -> RecordsProcess:
        started.append(RecordsProcess(folder, database_url, bootstrap_servers))
        return started[-1]

    try:
        yield start
    finally:
        for process in started:
            process.stop()


def poll(
    condition: Callable[[], bool],
    what: str,
    seconds: float = DEADLINE,
    state: Callable[[], str] = str,
    every: float = 0.1,
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what} {state()}"
        time.sleep(every)


@dataclass
class Database:
    """The service's database, read by the test on a connection of its own."""

    engine: Engine
    name: str

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def claims(self) -> int:
        return int(self.scalar("SELECT count(*) FROM records_processed_event"))

    def pending(self) -> int:
        return int(self.scalar("SELECT count(*) FROM records_outbox"))

    def held(self) -> int:
        return int(self.scalar("SELECT count(*) FROM records_held_event"))

    def state(self) -> str:
        return f"(claims {self.claims()}, held {self.held()}, outbox {self.pending()})"

    def writing(self, statement: re.Pattern[str]) -> Transaction | None:
        """A transaction of the service that has written and whose last statement matches."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid, backend_xid::text, query FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
                ),
                {"db": self.name},
            ).all()
            for backend, xid, query in rows:
                if statement.match(query):
                    return Transaction(backend, int(xid), _full_xid(conn, int(xid)), query)
        return None

    def stuck(self, transaction: Transaction) -> bool | None:
        """With the service frozen: None while the backend still works on its own, then whether
        the transaction is open, waiting for the service (for its next statement or its commit,
        or to take results it sent)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT state, wait_event, backend_xid::text FROM pg_stat_activity "
                    "WHERE pid = :pid"
                ),
                {"pid": transaction.backend},
            ).first()
        if row is None:
            return False
        state, wait_event, xid = row
        if state == "active" and wait_event not in ("ClientRead", "ClientWrite"):
            return None
        return xid is not None and int(xid) == transaction.xid

    def outcome(self, xid: int) -> str:
        """``committed``, ``aborted`` or ``in progress``."""
        return str(self.scalar("SELECT pg_xact_status(CAST(:x AS text)::xid8)", x=str(xid)))


@dataclass(frozen=True)
class Transaction:
    backend: int
    xid: int
    full_xid: int
    """For ``pg_xact_status``."""
    statement: str


def _full_xid(conn: Connection, xid: int) -> int:
    """The 64-bit id of a 32-bit transaction id seen just now: in the current epoch, unless that
    puts it half the id space ahead (the counter wrapped since it was assigned)."""
    xmax = int(conn.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")).scalar())
    full = (xmax >> 32 << 32) | xid
    return full - (1 << 32) if full - xmax > 1 << 31 else full


def kill_inside(process: RecordsProcess, db: Database, statement: re.Pattern[str]) -> str:
    """Kill ``process`` inside a transaction that has run ``statement`` and not committed; returns
    the statement. Seen from outside, the transaction may commit before a signal lands; frozen
    (SIGSTOP), the process cannot send its commit, so once its backend waits for it with the
    transaction still open, SIGKILL certainly falls before the commit. Otherwise the process
    goes on and a later transaction is taken."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        assert process.process.poll() is None, process.output
        seen = db.writing(statement)
        if seen is None:
            time.sleep(0.005)  # a batch's writes take a few tens of milliseconds
            continue
        process.process.send_signal(signal.SIGSTOP)
        if _open_while_frozen(db, seen):
            process.kill()
            poll(lambda: db.outcome(seen.full_xid) != "in progress", "the rollback")  # noqa: B023
            assert db.outcome(seen.full_xid) == "aborted"
            return seen.statement
        process.process.send_signal(signal.SIGCONT)
    raise AssertionError(f"no transaction caught open within {DEADLINE} s:\n{process.output}")


def _open_while_frozen(db: Database, transaction: Transaction) -> bool:
    deadline = time.monotonic() + DEADLINE
    while (stuck := db.stuck(transaction)) is None:
        assert time.monotonic() < deadline, "the database still works for the frozen service"
        time.sleep(0.01)
    return stuck and db.outcome(transaction.full_xid) == "in progress"


def announced_id(data: dict[str, Any]) -> str:
    return next(data[name] for name in ID_FIELDS if name in data)


async def topic_is_empty(bootstrap_servers: str, topic: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions)
        return not any(ends.values())
    finally:
        await consumer.stop()


@pytest.mark.parametrize("records_db", ["postgresql"], indirect=True)
async def test_a_service_killed_while_it_writes_leaves_one_effect_per_event(
    records_db: str, kafka_broker: EmbeddedBroker, harness: GateHarness, tmp_path: Path
) -> None:
    volume = volume_events(EVENTS, seed=15)
    assert Counter(harness.statuses(volume)) == {"accepted": EVENTS}
    expected = harness.dump()
    stream: list[CloudEvent] = volume * 2
    random.Random(15).shuffle(stream)

    engine = make_engine(records_db)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(OUTBOX_LOG)
        db = Database(engine, str(make_url(records_db).database))
        kills = await crash_twice_and_finish(
            db, records_db, stream, kafka_broker.bootstrap_servers, tmp_path
        )
        await check_one_effect_per_event(db, volume, expected, kafka_broker.bootstrap_servers)
        print(kills)
    finally:
        engine.dispose()


async def crash_twice_and_finish(
    db: Database, url: str, stream: list[CloudEvent], bootstrap: str, folder: Path
) -> str:
    """Three lives of the service: killed inside a batch, killed inside the relay's deletion of
    what it published, then left to finish. Returns what was killed where."""
    # Another relay holds the leadership through the first life (its lock on a connection of its
    # own, as a second replica's relay would): what that life commits stays in the outbox.
    other_relay = db.engine.connect()
    other_relay.execute(text("SELECT pg_advisory_lock(:k)"), {"k": RELAY_LOCK})
    other_relay.commit()

    def hand_over_leadership() -> None:
        # A session lock outlives the transaction and the connection's return to the pool.
        if not other_relay.closed:
            other_relay.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELAY_LOCK})
            other_relay.close()

    try:
        with records_processes(folder, url, bootstrap) as start:
            first = start()
            poll(first.ready, "the first records process to be ready")
            assert await publish_kafka(stream, bootstrap) == len(stream)

            # 1. Killed a fifth of the way in, its batch's rows written and not committed; what it
            # committed before is announced in the outbox, none of it published.
            poll(lambda: db.claims() >= EVENTS // 5, "a fifth of the events applied")
            batch_statement = kill_inside(first, db, BATCH_ROWS)
            at_first_kill, unpublished = db.claims(), db.pending()
            assert at_first_kill < EVENTS
            assert unpublished > 0
            hand_over_leadership()

            # 2. Started again: its relay publishes the announcements left over, and is killed
            # after the broker acknowledged a batch of them, before their rows are deleted.
            second = start()
            kill_inside(second, db, RELAY_DELETE)
            at_second_kill = db.claims()

            # 3. Started again, it applies the rest and publishes everything left.
            third = start()
            poll(
                lambda: (
                    db.claims() == len({e.id for e in stream})
                    and db.held() == 0
                    and db.pending() == 0
                ),
                "every event applied and every announcement published",
                state=lambda: f"{db.state()}\n{third.output}",
            )
            assert third.stop() in (0, -signal.SIGTERM), third.output
    finally:
        hand_over_leadership()
    return (
        f"killed at {at_first_kill} events applied, {unpublished} announcements unpublished, "
        f"writing {batch_statement[:40]!r}; then in the relay's deletion at {at_second_kill}"
    )


async def check_one_effect_per_event(
    db: Database,
    volume: list[CloudEvent],
    expected: dict[str, list[tuple[Any, ...]]],
    bootstrap: str,
) -> None:
    # Exactly one effect per event: each claimed once, none held, none rejected, and the stored
    # state that of one pass in the order the care happened.
    with db.engine.connect() as conn:
        claimed = {r[0] for r in conn.execute(text("SELECT event_id FROM records_processed_event"))}
        stored = {
            row[0]: (row[1], row[2])
            for row in conn.execute(
                text(
                    "SELECT person_id, revision, voided FROM records_person UNION ALL "
                    "SELECT record_id, revision, voided FROM records_record"
                )
            )
        }
        log = conn.execute(text("SELECT event_id FROM crash_outbox_log ORDER BY seq"))
        committed = [r[0] for r in log]
    assert claimed == {e.id for e in volume}
    assert db.held() == 0
    assert db.scalar("SELECT count(*) FROM records_rejection") == 0
    assert await topic_is_empty(bootstrap, topics.DEAD_LETTERS)
    assert dump_state(db.engine) == expected

    # Every announcement committed is published under its own id, and only those; one published
    # twice (the relay killed between publishing and deleting) is the same message both times, so
    # consumers, which skip an event id they have processed, apply it once.
    assert len(committed) == len(set(committed))
    async with TopicReader(bootstrap) as reader:
        async with asyncio.timeout(DEADLINE):
            while len({h["ce_id"] for *_, h in reader.messages}) < len(committed):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    copies: dict[str, set[str]] = {}
    for _, key, data, headers in reader.messages:
        copies.setdefault(headers["ce_id"], set()).add(json.dumps([key, data], sort_keys=True))
    assert set(copies) == set(committed)
    assert all(len(found) == 1 for found in copies.values())
    assert len(reader.messages) > len(committed), "the relay's second life published again"

    # What consumers are left with is the stored state: the last announcement committed about each
    # person and record carries its stored revision and voided flag.
    data_of = {h["ce_id"]: data for *_, data, h in reader.messages}
    latest = {announced_id(data_of[i]): data_of[i] for i in committed}
    assert {i: (d["revision"], d["voided"]) for i, d in latest.items()} == stored
