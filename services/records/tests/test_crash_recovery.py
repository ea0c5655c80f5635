"""A records service killed with SIGKILL while it writes, against the real broker and PostgreSQL:
every facility event (each sent twice, the whole backlog shuffled, so that copies and references
arrive late and out of order) still has exactly one effect, and every announcement committed is
published, under one id.

The service runs as ``mch serve records``, a process of its own, so the kill is a real one: no
``finally``, no rollback sent, the connections simply gone. Its moment is made certain by locks the
test holds in PostgreSQL, so that when it dies:

- a consumer batch is in the middle of its bulk writes: the test has inserted, without committing,
  the row of a mother whose registration comes two thirds of the way into the backlog, and the
  batch that registers her waits on her key in its insert of people;
- the relay has published announcements, the broker has acknowledged them, and it is deleting
  their rows: a trigger of the test's own holds that deletion back until the test lets it go;
- what the batches in between committed is announced in the outbox and not published.

The test checks in PostgreSQL's commit log that both interrupted transactions were rolled back,
starts the service again, lets it finish, and checks that each event had one effect and that each
announcement was published under its id (twice, the same message, for those published before the
kill). Another trigger copies each committed outbox row's event id to a side table in the
transaction that inserts it, so what was committed is known after the relay deleted it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
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
from records_helpers import GateHarness, dump_state, volume_events
from sqlalchemy import Connection, Engine, make_url, text
from sqlmodel import Session

from mch_events import topics
from mch_events.broker import EMBEDDED_CONSUMER_ENV
from mch_events.envelope import CloudEvent
from mch_platform.embedded_broker import EmbeddedBroker, free_port
from mch_platform.simulate import publish_kafka
from mch_records.storage import Person, new_row
from mch_servicekit.db import make_engine

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

MCH = str(Path(sys.executable).parent / "mch")
EVENTS = 1_200
BATCH = 200
"""Records per consumer batch: a dozen batches, so the kill falls in the middle of the log."""
DEADLINE = 90.0
"""Seconds any one condition gets (bounded polling: it normally holds within a few)."""
DELETION_LOCK = zlib.crc32(b"mch-test-outbox-deletion")
"""The advisory lock the test holds to keep the relay's deletions waiting."""
PEOPLE_INSERT = re.compile(r"^\s*INSERT INTO records_person\b")
RELAY_DELETE = re.compile(r"^\s*DELETE FROM records_outbox\b")
ID_FIELDS = ("visit_id", "birth_id", "immunization_id", "pregnancy_id", "person_id")
"""What an announcement on ``mch.records.v1`` is about, the most specific id first."""

TEST_TRIGGERS = f"""
CREATE TABLE crash_outbox_log (seq bigserial PRIMARY KEY, event_id text NOT NULL);
CREATE FUNCTION crash_log_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO crash_outbox_log (event_id) VALUES (NEW.event_id);
    RETURN NEW;
END $$;
CREATE TRIGGER crash_log_outbox AFTER INSERT ON records_outbox
    FOR EACH ROW EXECUTE FUNCTION crash_log_outbox();
CREATE FUNCTION crash_hold_deletion() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({DELETION_LOCK});
    RETURN NULL;
END $$;
CREATE TRIGGER crash_hold_deletion AFTER DELETE ON records_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION crash_hold_deletion();
"""
"""The outbox rows committed, logged as they are inserted; the relay's deletions wait, once their
rows are gone, for the lock ``DELETION_LOCK`` whenever the test holds it."""


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
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what} {state()}"
        time.sleep(0.05)


@dataclass(frozen=True)
class Transaction:
    xid: int
    """The full (64-bit) transaction id, for ``pg_xact_status``."""
    statement: str
    written: set[str]
    """The service's tables it has written to, the one it waits to write to included."""


@dataclass
class Database:
    """The service's database, read by the test on connections of its own."""

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

    def waiting(self, statement: re.Pattern[str]) -> Transaction | None:
        """A transaction of the service that has written, its statement waiting for a lock."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid, backend_xid::text, query FROM pg_stat_activity "
                    "WHERE datname = :db AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL"
                ),
                {"db": self.name},
            ).all()
            for pid, xid, query in rows:
                if statement.match(query):
                    written = conn.execute(
                        text(
                            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                            "WHERE l.pid = :pid AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r'"
                        ),
                        {"pid": pid},
                    )
                    tables = {t for (t,) in written if t.startswith("records_")}
                    return Transaction(_full_xid(conn, int(xid)), query, tables)
        return None

    def outcome(self, xid: int) -> str:
        """``committed``, ``aborted`` or ``in progress``."""
        return str(self.scalar("SELECT pg_xact_status(CAST(:x AS text)::xid8)", x=str(xid)))


def _full_xid(conn: Connection, xid: int) -> int:
    """The 64-bit id of a 32-bit transaction id seen just now: in the current epoch, unless that
    puts it half the id space ahead (the counter wrapped since it was assigned)."""
    xmax = int(
        conn.execute(text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")).scalar_one()
    )
    full = (xmax >> 32 << 32) | xid
    return full - (1 << 32) if full - xmax > 1 << 31 else full


@contextlib.contextmanager
def holding(db: Database, lock: Callable[[Session], object]) -> Iterator[Callable[[], None]]:
    """A transaction of the test's own that takes a lock with ``lock``; calling what this yields
    rolls it back, releasing the lock, as leaving does."""
    session = Session(db.engine)
    try:
        lock(session)
        yield session.close
    finally:
        session.close()


def deletions_held(session: Session) -> object:
    """Held as a transaction lock, so that the rollback releases it."""
    return session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": DELETION_LOCK})


def unregistered(mother_id: str) -> Callable[[Session], object]:
    """Inserts the row of a person the service is about to register: its own insert of that key
    waits for the test's transaction."""

    def lock(session: Session) -> None:
        day = dt.date(2025, 7, 1)
        person = new_row(
            Person,
            person_id=mother_id,
            role="mother",
            sex="F",
            birth_date=day.replace(year=1995),
            registered_on=day,
            source="test",
        )
        session.add(person)
        session.flush()

    return lock


def waiting(process: RecordsProcess, db: Database, statement: re.Pattern[str]) -> Transaction:
    """Once a transaction of ``process`` waits with ``statement`` for a lock of the test's."""

    def waits() -> bool:
        assert process.process.poll() is None, process.output
        return db.waiting(statement) is not None

    poll(waits, f"a statement {statement.pattern!r} waiting", state=db.state)
    transaction = db.waiting(statement)
    assert transaction is not None
    return transaction


def rolled_back(db: Database, transaction: Transaction) -> bool:
    poll(lambda: db.outcome(transaction.xid) != "in progress", "the killed transaction to end")
    return db.outcome(transaction.xid) == "aborted"


def mother_registered_late(stream: list[CloudEvent]) -> str:
    """A mother whose first registration (of any revision) comes two thirds of the way into
    ``stream`` or later: beyond the first batches, in whichever partition it is."""
    first: dict[str, int] = {}
    for position, event in enumerate(stream):
        if event.type == "vn.mch.mother.registered.v1":
            first.setdefault(event.data["mother_id"], position)
    return min((p, m) for m, p in first.items() if p >= len(stream) * 2 // 3)[1]


def announced_id(data: dict[str, Any]) -> str:
    return str(next(data[name] for name in ID_FIELDS if name in data))


@dataclass(frozen=True)
class Message:
    key: str | None
    data: dict[str, Any]
    headers: dict[str, str]

    @property
    def id(self) -> str:
        return self.headers["ce_id"]


async def read_until(bootstrap_servers: str, topic: str, ids: set[str]) -> list[Message]:
    """The messages on ``topic`` from its beginning, read until every one of ``ids`` was seen.
    (Not up to the end offsets: the embedded broker reports as a partition's end the offset after
    the first record of its last produced batch.)"""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        assert topic in await consumer.topics()
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        messages: list[Message] = []
        seen: set[str] = set()
        async with asyncio.timeout(DEADLINE):
            while not ids <= seen:
                batches = await consumer.getmany(*partitions, timeout_ms=200, max_records=5000)
                for records in batches.values():
                    for r in records:
                        headers = {k: v.decode() for k, v in r.headers}
                        key = r.key.decode() if r.key is not None else None
                        messages.append(Message(key, json.loads(r.value or b"{}"), headers))
                        seen.add(headers["ce_id"])
        return messages
    finally:
        await consumer.stop()


async def topic_is_empty(bootstrap_servers: str, topic: str) -> bool:
    """Whether nothing was ever produced to ``topic``: every end offset is 0 (one record makes it
    1 at least, on the embedded broker too)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        assert topic in await consumer.topics()
        partitions = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        assert partitions
        return not any((await consumer.end_offsets(partitions)).values())
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
            conn.exec_driver_sql(TEST_TRIGGERS)
        db = Database(engine, str(make_url(records_db).database))
        kill = await crash_and_finish(
            db, records_db, stream, kafka_broker.bootstrap_servers, tmp_path
        )
        await check_one_effect_per_event(db, volume, expected, kafka_broker.bootstrap_servers, kill)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Kill:
    applied: int
    """Events claimed when the service was killed."""
    announced: int
    """Rows in the outbox then: committed, not deleted by the relay."""
    batch: Transaction


async def crash_and_finish(
    db: Database, url: str, stream: list[CloudEvent], bootstrap: str, folder: Path
) -> Kill:
    """The service killed as the module's docstring says, then started again to finish."""
    mother = mother_registered_late(stream)
    with records_processes(folder, url, bootstrap) as start:
        with (
            holding(db, deletions_held) as let_deletions_go,
            holding(db, unregistered(mother)) as let_batch_go,
        ):
            first = start()
            poll(first.ready, "the first records process to be ready")
            assert await publish_kafka(stream, bootstrap) == len(stream)
            deletion = waiting(first, db, RELAY_DELETE)
            batch = waiting(first, db, PEOPLE_INSERT)
            first.kill()
            let_batch_go()
            let_deletions_go()
        assert rolled_back(db, batch)
        assert rolled_back(db, deletion)
        kill = Kill(db.claims(), db.pending(), batch)
        assert 0 < kill.applied < EVENTS

        second = start()
        poll(
            lambda: db.claims() == EVENTS and db.held() == 0 and db.pending() == 0,
            "every event applied and every announcement published",
            state=lambda: f"{db.state()}\n{second.output}",
        )
        assert second.stop() in (0, -signal.SIGTERM), second.output
    print(
        f"killed at {kill.applied} events applied, {kill.announced} announcements in the outbox, "
        f"a batch waiting in {batch.statement[:30]!r} after writing to {sorted(batch.written)}"
    )
    return kill


async def check_one_effect_per_event(
    db: Database,
    volume: list[CloudEvent],
    expected: dict[str, list[tuple[Any, ...]]],
    bootstrap: str,
    kill: Kill,
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

    # Every announcement committed is published under its own id, and only those; what was
    # published before the kill (the relay's first batch, the oldest rows) is published again,
    # the same message under the same id, so consumers, which skip an event id they have
    # processed, apply it once.
    assert len(committed) == len(set(committed))
    published = await read_until(bootstrap, topics.RECORDS, set(committed))
    copies: dict[str, set[str]] = {}
    for message in published:
        body = json.dumps([message.key, message.data], sort_keys=True)
        copies.setdefault(message.id, set()).add(body)
    assert set(copies) == set(committed)
    assert all(len(bodies) == 1 for bodies in copies.values())
    again = {i for i, n in Counter(m.id for m in published).items() if n > 1}
    assert committed[0] in again
    assert kill.announced > len(again), "announcements committed and never published at the kill"
    print(
        f"{len(committed)} announcements committed, {len(published)} messages published, "
        f"{len(again)} of them twice"
    )

    # What consumers are left with is the stored state: the last announcement committed about each
    # person and record carries its stored revision and voided flag.
    data_of = {m.id: m.data for m in published}
    latest = {announced_id(data_of[i]): data_of[i] for i in committed}
    assert {i: (d["revision"], d["voided"]) for i, d in latest.items()} == stored
