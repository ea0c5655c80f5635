"""Rebuilding reporting's tables from the log (``POST /v1/rebuild``, ``mch reporting rebuild``).

A consumer of its own (no group, partitions assigned by hand) reads the topics reporting consumes
from their beginning into fresh tables, through the code the live consumer runs
(``consume_batch`` with ``Facts.apply``): a schema of their own on PostgreSQL, a database file of
their own beside the live one on SQLite. Meanwhile the live consumer goes on and answers come from
the live tables.

The swap: the live consumer keeps, in the transaction of each batch and before anything else, how
far into each partition its tables go (``reporting_log_position``). The rebuild reads up to the
ends of the log taken at its start, then up to the live positions; then one transaction locks the
positions (a live batch then waits, or has committed already), checks that the fresh tables go at
least as far in every partition (else it reads on and tries again) and replaces the live tables
with them. What the fresh tables hold beyond the live positions the live consumer finds already
claimed, or applies again, which changes nothing (highest revision wins, in the log's order).

A log that no longer holds the whole history is refused, and the live tables kept: a partition
that no longer begins at offset 0 (retention), or that ends before the live positions (a broker
that lost its log and began again, like the embedded one after a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, Table, make_url, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from mch_events.broker import client_options
from mch_events.consume import consume_batch
from mch_events.deadletter import DeadLetters
from mch_events.idempotency import processed_table
from mch_servicekit.app import ServiceContext
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import metadata_for

from .handlers import TOPICS
from .processing import Facts
from .storage import (
    REBUILT,
    SERVICE,
    ReportingLogPosition,
    advance,
    advance_positions,
    positions_of,
)

log = logging.getLogger(__name__)

SHADOW = "reporting_rebuild"
"""The PostgreSQL schema (or, on SQLite, the name the database file is attached under) of the
tables being rebuilt."""
QUIET_SECONDS = 10.0
"""A partition that gives nothing more this long, short of where it was read to before (by the
live consumer), ends there: the log began again since."""
SWAP_ATTEMPTS = 20

Position = tuple[str, int]


class PartitionProgress(BaseModel):
    topic: str
    partition: int
    done: int
    """Records read so far (from the partition's beginning)."""
    total: int
    """Records to read: the partition's end when the rebuild started (or the live position, when
    that is further)."""


class RebuildStatus(BaseModel):
    id: str | None = None
    state: Literal["idle", "running", "done", "failed"] = "idle"
    step: str | None = Field(
        default=None, description="while running: replaying, catching up, swapping"
    )
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    offsets_done: int = 0
    offsets_total: int = 0
    events_applied: int = 0
    """Events the fresh tables took (duplicates and rejected ones left out)."""
    events_per_second: float | None = None
    partitions: list[PartitionProgress] = Field(default_factory=list)
    reason: str | None = Field(
        default=None, description="why the rebuild failed; the live tables were kept"
    )


class RebuildRefused(Exception):
    """The rebuild cannot give a complete result: it stops, and the live tables stay."""


class _Nowhere:
    """Where a rebuild's rejections go: nowhere, the live consumer dead-lettered them already."""

    async def publish(
        self, message: Any, topic: str = "", *, key: Any = None, headers: Any = None
    ) -> None:
        return None


@dataclass
class _Shadow:
    """The fresh tables and the engine that writes them."""

    engine: Engine
    sqlite_file: Path | None
    """SQLite: the database file of the fresh tables; PostgreSQL: None (schema ``SHADOW``)."""
    facts: Facts
    """The live consumer's processing, writing the fresh tables."""

    def drop(self) -> None:
        self.engine.dispose()
        if self.sqlite_file is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.sqlite_file}{suffix}").unlink(missing_ok=True)


def _tables() -> list[Table]:
    metadata = metadata_for([*REBUILT, processed_table(SERVICE)])
    return list(metadata.sorted_tables)


class Rebuild:
    """One rebuild at a time per process."""

    def __init__(self, ctx: ServiceContext, facts: Facts, database_url: str) -> None:
        self._ctx = ctx
        self._facts = facts
        self._url = database_url
        self.status = RebuildStatus()
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0
        self.before_swap: Callable[[], Awaitable[None]] | None = None
        """Awaited once the log is read up to its ends of the start: where a test holds the
        rebuild to see what is answered meanwhile."""

    @property
    def running(self) -> bool:
        return self.status.state == "running"

    def start(self) -> RebuildStatus:
        """Start a rebuild; ``RuntimeError`` when one runs."""
        if self.running:
            raise RuntimeError(f"rebuild {self.status.id} is running; wait for it to end")
        self.status = RebuildStatus(
            id=uuid.uuid4().hex[:12],
            state="running",
            step="starting",
            started_at=dt.datetime.now(dt.UTC),
        )
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._run(), name=f"rebuild-{self.status.id}")
        return self.status

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def wait(self) -> RebuildStatus:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        return self.status

    async def _run(self) -> None:
        shadow: _Shadow | None = None
        consumer: AIOKafkaConsumer | None = None
        try:
            shadow = await asyncio.to_thread(self._make_shadow)
            consumer = AIOKafkaConsumer(
                **client_options(self._ctx.kafka),
                client_id=f"{self._ctx.kafka.client_id_prefix}-{SERVICE}-rebuild",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="none",
                max_poll_records=self._ctx.settings.consumer_batch_size,
            )
            await consumer.start()
            await self._replay_and_swap(consumer, shadow)
        except asyncio.CancelledError:
            self._fail("the service stopped during the rebuild")
            raise
        except RebuildRefused as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("rebuild %s failed", self.status.id)
            self._fail(f"{type(exc).__name__}: {exc}"[:500])
        else:
            self.status.state = "done"
            log.info(
                "rebuild %s: %d events applied and swapped in",
                self.status.id,
                self.status.events_applied,
            )
        finally:
            self.status.step = None
            self.status.finished_at = dt.datetime.now(dt.UTC)
            self._rate()
            if consumer is not None:
                with contextlib.suppress(Exception):
                    await consumer.stop()
            if shadow is not None:
                await asyncio.to_thread(self._drop_shadow, shadow)

    def _fail(self, reason: str) -> None:
        self.status.state = "failed"
        self.status.reason = f"{reason}; the live tables were kept"
        log.warning("rebuild %s failed: %s", self.status.id, self.status.reason)

    def _rate(self) -> None:
        elapsed = time.monotonic() - self._started
        if elapsed > 0:
            self.status.events_per_second = round(self.status.offsets_done / elapsed, 1)

    # -- the steps ---------------------------------------------------------------------------
    async def _replay_and_swap(self, consumer: AIOKafkaConsumer, shadow: _Shadow) -> None:
        await consumer.topics()  # the metadata of every topic, for partitions_for_topic
        partitions = [
            TopicPartition(topic, p)
            for topic in TOPICS
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        begins = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        live = await asyncio.to_thread(self._live_positions)
        _whole_log(begins, live)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        target = {tp: max(ends[tp], live.get((tp.topic, tp.partition), 0)) for tp in partitions}
        await self._progress(consumer, partitions, target)
        self.status.step = "replaying"
        await self._read_to(consumer, partitions, target, shadow)
        if self.before_swap is not None:
            await self.before_swap()
        for _attempt in range(SWAP_ATTEMPTS):
            live = await asyncio.to_thread(self._live_positions)
            _whole_log(begins, live)
            behind = {
                tp: live[(tp.topic, tp.partition)]
                for tp in partitions
                if live.get((tp.topic, tp.partition), 0) > await consumer.position(tp)
            }
            if behind:
                self.status.step = "catching up"
                target.update({tp: max(target[tp], at) for tp, at in behind.items()})
                await self._read_to(consumer, partitions, target, shadow)
            self.status.step = "swapping"
            mine = {(tp.topic, tp.partition): await consumer.position(tp) for tp in partitions}
            await _still_whole(consumer, partitions)
            try:
                swapped = await asyncio.to_thread(self._swap, shadow, mine)
            except OperationalError as exc:
                # Readers held the tables too long (see _swap_postgres): try again.
                log.warning("rebuild %s: the swap was interrupted: %s", self.status.id, exc)
                await asyncio.sleep(1.0)
                continue
            if swapped:
                self._facts.forget_tree()
                return
        raise RebuildRefused(
            f"no swap in {SWAP_ATTEMPTS} attempts: the live consumer kept ahead of the rebuild, "
            "or readers kept the tables"
        )

    async def _read_to(
        self,
        consumer: AIOKafkaConsumer,
        partitions: Sequence[TopicPartition],
        target: Mapping[TopicPartition, int],
        shadow: _Shadow,
    ) -> None:
        """Read every partition up to ``target`` (what a fetch brings beyond it is applied too:
        the fresh tables may go further than the live ones)."""
        dead_letters = DeadLetters(_Nowhere(), service=SERVICE)
        quiet_since = time.monotonic()
        while True:
            pending = [tp for tp in partitions if await consumer.position(tp) < target[tp]]
            if not pending:
                return
            try:
                fetched = await consumer.getmany(*pending, timeout_ms=500)
            except OffsetOutOfRangeError as exc:
                raise RebuildRefused(
                    f"the log lost records while they were read ({exc}): retention or a broker "
                    "that began again"
                ) from exc
            records = [r for batch in fetched.values() for r in batch]
            if not records:
                if time.monotonic() - quiet_since > QUIET_SECONDS:
                    at = {tp: await consumer.position(tp) for tp in pending}
                    raise RebuildRefused(_short(pending, at, target))
                continue
            quiet_since = time.monotonic()
            summary = await consume_batch(
                records,
                engine=shadow.engine,
                consumer=f"mch-{SERVICE}",
                service=SERVICE,
                apply=shadow.facts,
                dead_letters=dead_letters,
                positions=advance_positions,
            )
            self.status.events_applied += sum(
                1 for r in summary.results if r.status not in ("duplicate", "rejected")
            )
            await self._progress(consumer, partitions, target)
            self._rate()

    async def _progress(
        self,
        consumer: AIOKafkaConsumer,
        partitions: Sequence[TopicPartition],
        target: Mapping[TopicPartition, int],
    ) -> None:
        rows = []
        for tp in partitions:
            done = await consumer.position(tp)
            rows.append(
                PartitionProgress(
                    topic=tp.topic,
                    partition=tp.partition,
                    done=min(done, target[tp]),
                    total=target[tp],
                )
            )
        self.status.partitions = rows
        self.status.offsets_done = sum(r.done for r in rows)
        self.status.offsets_total = sum(r.total for r in rows)

    # -- the database side (worker threads) ------------------------------------------------------
    @property
    def _backend(self) -> str:
        return make_url(self._url).get_backend_name()

    def _make_shadow(self) -> _Shadow:
        if self._backend == "sqlite":
            database = make_url(self._url).database
            if not database or database == ":memory:":
                raise RebuildRefused("a database in memory cannot be rebuilt beside itself")
            path = Path(f"{database}.{SHADOW}")
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            engine = make_engine(f"sqlite:///{path}")
            shadow = _Shadow(engine, path, Facts(engine))
            with shadow.engine.begin() as conn:
                for table in _tables():
                    table.create(conn)
        else:
            engine = make_engine(self._url).execution_options(schema_translate_map={None: SHADOW})
            shadow = _Shadow(engine, None, Facts(engine))
            with shadow.engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {SHADOW}"))
                for table in _tables():
                    table.create(conn)
        return shadow

    def _drop_shadow(self, shadow: _Shadow) -> None:
        try:
            if shadow.sqlite_file is None:
                with shadow.engine.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {SHADOW} CASCADE"))
        except Exception:
            log.exception("rebuild %s: the fresh tables could not be dropped", self.status.id)
        finally:
            shadow.drop()

    def _live_positions(self) -> dict[Position, int]:
        with Session(self._ctx.engine) as session:
            return positions_of(session)

    def _swap(self, shadow: _Shadow, mine: Mapping[Position, int]) -> bool:
        """Replace the live tables with the fresh ones in one transaction, if the fresh ones go at
        least as far as the live ones in every partition; False (nothing changed) if not."""
        if shadow.sqlite_file is not None:
            return self._swap_sqlite(shadow.sqlite_file, mine)
        return self._swap_postgres(mine)

    def _swap_postgres(self, mine: Mapping[Position, int]) -> bool:
        tables = _tables()
        positions = ReportingLogPosition.__tablename__
        with self._ctx.engine.begin() as conn:
            # The positions first: a live batch takes them first too, so the two never deadlock.
            conn.execute(text(f"LOCK TABLE {positions} IN ACCESS EXCLUSIVE MODE"))
            if _ahead(_positions(conn, positions), mine):
                return False  # the transaction ends without a change
            names = ", ".join(t.name for t in tables)
            # Give up before the deadlock detector (1 s by default) would pick a victim among
            # readers that hold one table and wait for another: the swap is tried again.
            conn.execute(text("SET LOCAL lock_timeout = '900ms'"))
            conn.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            for table in tables:
                conn.execute(text(f'DROP TABLE "{table.name}"'))
                conn.execute(text(f'ALTER TABLE {SHADOW}."{table.name}" SET SCHEMA "{schema}"'))
            advance(conn, mine)
        return True

    def _swap_sqlite(self, path: Path, mine: Mapping[Position, int]) -> bool:
        database = make_url(self._url).database
        assert database is not None
        con = sqlite3.connect(database, timeout=60, isolation_level=None)
        try:
            con.execute("PRAGMA busy_timeout=60000")
            con.execute(f"ATTACH DATABASE ? AS {SHADOW}", (str(path),))
            con.execute("BEGIN IMMEDIATE")  # the write lock first: no live batch in between
            rows = con.execute(
                f"SELECT topic, partition, next_offset FROM {ReportingLogPosition.__tablename__}"
            ).fetchall()
            if _ahead({(t, p): o for t, p, o in rows}, mine):
                con.execute("ROLLBACK")
                return False
            for table in _tables():
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                con.execute(f'DELETE FROM main."{table.name}"')
                con.execute(
                    f'INSERT INTO main."{table.name}" ({columns}) '
                    f'SELECT {columns} FROM {SHADOW}."{table.name}"'
                )
            con.executemany(
                f"INSERT INTO {ReportingLogPosition.__tablename__} (topic, partition, next_offset)"
                " VALUES (?, ?, ?) ON CONFLICT (topic, partition) DO UPDATE"
                " SET next_offset = max(next_offset, excluded.next_offset)",
                [(t, p, o) for (t, p), o in sorted(mine.items())],
            )
            con.execute("COMMIT")
            return True
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()


def _positions(conn: Connection, table: str) -> dict[Position, int]:
    rows = conn.execute(text(f"SELECT topic, partition, next_offset FROM {table}")).all()
    return {(t, p): o for t, p, o in rows}


def _ahead(live: Mapping[Position, int], mine: Mapping[Position, int]) -> bool:
    """Whether the live tables hold records the fresh ones do not."""
    return any(offset > mine.get(where, 0) for where, offset in live.items())


def _whole_log(
    begins: Mapping[TopicPartition, int],
    live: Mapping[Position, int],
) -> None:
    """Refuse a log that no longer holds what the live tables were built from, as far as can be
    told before reading it (a partition that ends too early shows while it is read: the end
    offsets some brokers report lag behind their logs)."""
    for tp, begin in sorted(begins.items()):
        if begin > 0:
            raise RebuildRefused(
                f"the log no longer holds the whole history: {tp.topic} partition {tp.partition} "
                f"begins at offset {begin} (its first records were deleted, by retention)"
            )
    in_log = {(tp.topic, tp.partition) for tp in begins}
    for (topic, partition), applied in sorted(live.items()):
        if applied > 0 and (topic, partition) not in in_log:
            raise RebuildRefused(
                f"the log no longer holds the whole history: it has no {topic} partition "
                f"{partition}, but the live tables hold records of it up to offset {applied} "
                "(the broker lost its log and began again)"
            )


async def _still_whole(consumer: AIOKafkaConsumer, partitions: Sequence[TopicPartition]) -> None:
    begins = await consumer.beginning_offsets(list(partitions))
    for tp, begin in sorted(begins.items()):
        if begin > 0:
            raise RebuildRefused(
                f"the log lost its first records during the rebuild: {tp.topic} partition "
                f"{tp.partition} begins at offset {begin}"
            )


def _short(
    pending: Sequence[TopicPartition],
    at: Mapping[TopicPartition, int],
    target: Mapping[TopicPartition, int],
) -> str:
    tp = pending[0]
    return (
        f"the log no longer holds the whole history: {tp.topic} partition {tp.partition} ends "
        f"at offset {at[tp]}, but the live tables hold records up to offset {target[tp]} (the "
        "broker lost its log and began again)"
    )
