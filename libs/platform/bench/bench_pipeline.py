"""The whole pipeline on one machine, as users run it (``mch up``, no demo events): how many
facility events per second it carries from the facility topic to the province's numbers, and how
long one event takes to get there at a steady rate, hop by hop.

The province's numbers are computed from reporting's facts when asked, so an event has its effect
once reporting has applied it. The benchmark reads when that happened from reporting's database
(``applied_at`` of the fact rows an event's record id keys: the pregnancy, visit, birth, dose), and
the hops on the way from the other databases and the topics, changing nothing in the services:

- sent: when the facility event was produced on ``mch.facility-events.v1`` (this benchmark);
- records applied: ``records_record.updated_at``;
- records published: the broker timestamp of the record's state on ``mch.records.v1`` (what the
  outbox relay sent);
- reporting applied (direct): the record's facts in reporting (visits, births, doses, vitamin A);
- growth published, and reporting applied (growth): a child visit's assessment on
  ``mch.growth.v1``, then in ``reporting_growth``.

The end-to-end latency of an event is from sent to the last of its facts applied. Registrations
(the person's rows change with every later event about them) and the immunization service's
status facts are not timed; they travel the same hops.

Then, on what reporting holds by the end: its answers for the province and one commune, counted
(cold) and asked again with nothing new (warm), and a rebuild of its tables from the log
(``POST /v1/rebuild``) with its rate.

Run: ``.venv/bin/python libs/platform/bench/bench_pipeline.py [--events N] [--seconds S]
[--rates 100,1000]``; ``--seconds 0`` skips the steady rates.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from mch_events import topics
from mch_events.envelope import CloudEvent, subject_key, to_kafka
from mch_platform.benchkit import load, percentile, raw_consume_rate
from mch_platform.simulate import SimCommune, generate, publish_kafka
from mch_platform.testing import SERVICE_ORDER, UpProcess

PERIOD = (dt.date(2025, 7, 1), dt.date(2026, 6, 30))
RECORD_ID_FIELDS = ("immunization_id", "visit_id", "birth_id", "pregnancy_id")
"""The field naming an event's record, in the order that picks it (an antenatal visit names its
pregnancy too, a birth its pregnancy)."""
DIRECT_FACTS = (
    ("reporting_pregnancy", "pregnancy_id"),
    ("reporting_antenatal", "visit_id"),
    ("reporting_birth", "birth_id"),
    ("reporting_postnatal", "visit_id"),
    ("reporting_vitamin_a", "visit_id"),
    ("reporting_care", "record_id"),
)
"""Reporting's facts of a record, applied from ``mch.records.v1``."""
SETTLE_SECONDS = 300.0
"""How long the benchmark waits for the facts of what it sent before it reports what is missing."""


def record_id(data: object) -> str | None:
    if not isinstance(data, dict):
        return None
    for name in RECORD_ID_FIELDS:
        if name in data:
            return str(data[name])
    return None


def facility_events(communes: Sequence[str], count: int, seed: int) -> list[CloudEvent]:
    """The first ``count`` events of a year of care in ``communes``, in the order it happened."""
    chosen = [SimCommune(commune=c, station=f"TYT-{c}") for c in communes]
    events: list[CloudEvent] = []
    for event in generate(chosen, *PERIOD, seed=seed):
        events.append(event)
        if len(events) == count:
            break
    return events


def communes(first: int, count: int) -> list[str]:
    return [f"38{n:03d}" for n in range(first, first + count)]


# -- the platform's databases and topics --------------------------------------------------------


def _utc(value: str | None) -> float | None:
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _read(database: Path, query: str) -> list[tuple[str, str | None]]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(query).fetchall()
    finally:
        connection.close()


def applied(data_dir: Path, query: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for key, at in _read(data_dir / "reporting.db", query):
        moment = _utc(at)
        if moment is not None:
            found[key] = max(moment, found.get(key, moment))
    return found


def reporting_direct(data_dir: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for table, key in DIRECT_FACTS:
        for record, moment in applied(data_dir, f"SELECT {key}, applied_at FROM {table}").items():
            found[record] = max(moment, found.get(record, moment))
    return found


def reporting_growth(data_dir: Path) -> dict[str, float]:
    return applied(data_dir, "SELECT visit_id, applied_at FROM reporting_growth")


def records_applied(data_dir: Path) -> dict[str, float]:
    rows = _read(data_dir / "records.db", "SELECT record_id, updated_at FROM records_record")
    return {key: at for key, value in rows if (at := _utc(value)) is not None}


async def published(bootstrap: str, topic: str) -> dict[str, float]:
    """Record id → the broker timestamp of the first message about it on ``topic``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    found: dict[str, float] = {}
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for message in records:
                    key = record_id(json.loads(message.value)) if message.value else None
                    if key is not None and key not in found:
                        found[key] = message.timestamp / 1000
    finally:
        await consumer.stop()
    return found


# -- sending ------------------------------------------------------------------------------------


async def send_paced(bootstrap: str, events: Sequence[CloudEvent], rate: float) -> list[float]:
    """Produce ``events`` on the facility topic at ``rate`` per second, each at its own moment
    (ticks of 10 ms); returns when each was sent (epoch seconds)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, acks="all", linger_ms=0
    )
    await producer.start()
    sent: list[float] = []
    try:
        started = time.perf_counter()
        offset = time.time() - started
        for n, event in enumerate(events):
            due = started + n / rate
            wait = due - time.perf_counter()
            if wait > 0.01:
                await asyncio.sleep(wait)
            body, headers = to_kafka(event)
            sent.append(time.perf_counter() + offset)
            await producer.send(
                topics.FACILITY_EVENTS,
                body,
                key=subject_key(event),
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
        await producer.flush()
    finally:
        await producer.stop()
    return sent


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Journey:
    """One timed event, epoch seconds at each hop (None: not seen there)."""

    sent: float
    records: float | None = None
    records_published: float | None = None
    reporting: float | None = None
    growth_published: float | None = None
    reporting_growth: float | None = None

    @property
    def effect(self) -> float | None:
        moments = [m for m in (self.reporting, self.reporting_growth) if m is not None]
        return max(moments) if moments else None


@dataclass
class Outcome:
    events: int
    timed: int
    journeys: list[Journey] = field(default_factory=list)
    first_sent: float = 0.0
    last_sent: float = 0.0
    conditions: list[str] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return sum(1 for j in self.journeys if j.reporting is None)

    def last_effect(self) -> float:
        return max((e for j in self.journeys if (e := j.effect) is not None), default=0.0)


def timed_events(events: Sequence[CloudEvent], sent: Sequence[float]) -> dict[str, float]:
    """Record id → when its event was sent, for the events the benchmark times."""
    found: dict[str, float] = {}
    for event, moment in zip(events, sent, strict=True):
        key = record_id(event.data)
        if key is not None:
            found.setdefault(key, moment)
    return found


def idle(up: UpProcess) -> bool:
    """Every service has read everything it consumes and published everything it committed (as
    its ``/readyz`` says; a service too busy to answer is not idle)."""
    for service in SERVICE_ORDER:
        try:
            checks = httpx.get(f"{up.url(service)}/readyz", timeout=5).json()["checks"]
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        if checks.get("outbox_pending") != 0 or checks.get("consumers", {}).get("lag") != 0:
            return False
    return True


def wait_for_effects(up: UpProcess, keys: Iterable[str], quiet: float = 2.0) -> None:
    """Until reporting holds a fact of every key and the services have been idle for ``quiet``
    seconds (a child visit's assessment comes after its other facts), or ``SETTLE_SECONDS``
    passed."""
    wanted = set(keys)
    deadline = time.monotonic() + SETTLE_SECONDS
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if wanted <= reporting_direct(up.data_dir).keys() and idle(up):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= quiet:
                return
        else:
            idle_since = None
        time.sleep(0.5)


def journeys(up: UpProcess, sent_at: dict[str, float]) -> list[Journey]:
    records = records_applied(up.data_dir)
    direct, growth = reporting_direct(up.data_dir), reporting_growth(up.data_dir)
    bootstrap = up.bootstrap_servers
    on_records = asyncio.run(published(bootstrap, topics.RECORDS))
    on_growth = asyncio.run(published(bootstrap, topics.GROWTH))
    return [
        Journey(
            sent=moment,
            records=records.get(key),
            records_published=on_records.get(key),
            reporting=direct.get(key),
            growth_published=on_growth.get(key),
            reporting_growth=growth.get(key),
        )
        for key, moment in sent_at.items()
    ]


def measure(up: UpProcess, events: Sequence[CloudEvent], rate: float | None) -> Outcome:
    """Send ``events`` (at ``rate`` per second, or as fast as the producer goes) and follow them
    until their facts are in reporting."""
    before = load()
    bootstrap = up.bootstrap_servers
    if rate is None:
        first = time.time()
        asyncio.run(publish_kafka(events, bootstrap))
        sent = [first] * len(events)
        last = time.time()
    else:
        sent = asyncio.run(send_paced(bootstrap, events, rate))
        first, last = sent[0], sent[-1]
    during = load()
    sent_at = timed_events(events, sent)
    wait_for_effects(up, sent_at)
    outcome = Outcome(events=len(events), timed=len(sent_at), first_sent=first, last_sent=last)
    outcome.journeys = journeys(up, sent_at)
    outcome.conditions = [f"before: {before}", f"end of sending: {during}", f"after: {load()}"]
    return outcome


# -- printing -----------------------------------------------------------------------------------


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {percentile(values, 50) * 1000:>7,.0f} ms   p99 {percentile(values, 99) * 1000:>7,.0f}"
        f" ms   max {max(values) * 1000:>7,.0f} ms   ({len(values):,})"
    )


def hops(outcome: Outcome) -> Iterator[tuple[str, list[float]]]:
    def between(a: str, b: str) -> list[float]:
        spans = []
        for j in outcome.journeys:
            start, end = getattr(j, a), getattr(j, b)
            if start is not None and end is not None:
                spans.append(end - start)
        return spans

    yield "sent → records applied", between("sent", "records")
    yield "records applied → published", between("records", "records_published")
    yield "published → reporting applied", between("records_published", "reporting")
    yield "published → growth published", between("records_published", "growth_published")
    yield "growth published → reporting", between("growth_published", "reporting_growth")
    yield (
        "end to end (last fact)",
        [e - j.sent for j in outcome.journeys if (e := j.effect) is not None],
    )


def report_latency(rate: float, outcome: Outcome) -> None:
    print(
        f"\nsteady {rate:,.0f} events/s: {outcome.events:,} events sent in "
        f"{outcome.last_sent - outcome.first_sent:.1f} s, {outcome.timed:,} timed"
        + (f", {outcome.missing:,} without their facts" if outcome.missing else "")
    )
    for line in outcome.conditions:
        print(f"  {line}")
    for name, spans in hops(outcome):
        print(f"  {name:<32} {_ms(spans)}")


def report_sustained(outcome: Outcome) -> float:
    elapsed = outcome.last_effect() - outcome.first_sent
    rate = outcome.events / elapsed if elapsed > 0 else float("nan")
    print(
        f"\nsustained: {outcome.events:,} events produced as fast as the producer goes (in "
        f"{outcome.last_sent - outcome.first_sent:.1f} s); the last fact applied by reporting "
        f"{elapsed:.1f} s after the first send → {rate:,.0f} events/s"
        + (f" ({outcome.missing:,} timed events without their facts)" if outcome.missing else "")
    )
    for line in outcome.conditions:
        print(f"  {line}")
    return rate


def reporting_settled(up: UpProcess, quiet: float = 3.0) -> None:
    """Until reporting has applied nothing new for ``quiet`` seconds (the immunization service
    forecasts the people a run changed, and publishes, after the run's own facts), at most
    ``SETTLE_SECONDS``."""
    deadline, last, since = time.monotonic() + SETTLE_SECONDS, None, time.monotonic()
    while time.monotonic() < deadline:
        checks = httpx.get(f"{up.url('reporting')}/readyz", timeout=10).json()["checks"]
        applied = checks.get("consumed", {}).get("accepted")
        if applied != last:
            last, since = applied, time.monotonic()
        elif time.monotonic() - since >= quiet and idle(up):
            return
        time.sleep(0.5)


def report_answers(up: UpProcess) -> None:
    """The time of reporting's answers over what the runs left, for a province manager."""
    reporting_settled(up)
    print(f"\nreporting's answers, every indicator (cold, then warm); {load()}")
    # One client for all: a new one costs more than a warm answer (its TLS context is made even
    # for plain HTTP).
    with httpx.Client(headers=up.headers("province"), timeout=300) as client:
        for orgunit, period in (("38", str(PERIOD[1].year)), ("38", PERIOD[1].strftime("%Y-%m"))):
            for unit in (orgunit, communes(1, 1)[0]):
                took = []
                for _ in range(2):
                    started = time.perf_counter()
                    response = client.get(
                        f"{up.url('reporting')}/v1/indicators",
                        params={"orgunit": unit, "period": period},
                    )
                    took.append(time.perf_counter() - started)
                    response.raise_for_status()
                print(f"  {unit:<6} {period:<8} {took[0] * 1000:9.1f} ms  {took[1] * 1000:7.1f} ms")


def report_rebuild(up: UpProcess) -> None:
    """A rebuild of reporting's tables from the log, swapped in, as an operator starts it."""
    url, headers = f"{up.url('reporting')}/v1/rebuild", up.headers("admin")
    started = time.perf_counter()
    httpx.post(url, headers=headers, timeout=30).raise_for_status()
    while (status := httpx.get(url, headers=headers, timeout=30).json())["state"] == "running":
        time.sleep(0.5)
    took = time.perf_counter() - started
    print(
        f"\nreporting rebuild: {status['state']}, {status['offsets_done']:,} records replayed in "
        f"{took:.1f} s → {status['offsets_done'] / took:,.0f} records/s (swap included); {load()}"
        + (f"; {status['reason']}" if status.get("reason") else "")
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=20_000, help="for the sustained rate")
    parser.add_argument("--seconds", type=float, default=25.0, help="of each steady rate")
    parser.add_argument("--rates", default="100,1000", help="steady rates, events/s")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r] if args.seconds > 0 else []

    with tempfile.TemporaryDirectory(prefix="mch-bench-pipeline-") as folder:
        up = UpProcess(Path(folder), "--demo-communes", "0", "--broker-port", "0")
        try:
            started = up.wait_running()
            print(f"mch up (no demo events) running in {started:.1f} s; {load()}")
            bootstrap = up.bootstrap_servers
            sustained = facility_events(communes(1, 2), args.events, seed=11)
            raw = asyncio.run(raw_consume_rate(bootstrap, sustained))
            print(f"raw broker consume (aiokafka getmany, same broker): {raw:,.0f} messages/s")
            rate = report_sustained(measure(up, sustained, None))
            print(f"  = {rate / raw:.2%} of the raw consume rate")
            first = 3
            for steady in rates:
                count = max(1, round(steady * args.seconds))
                # Communes of their own (about 19k events a commune-year): no person is shared.
                size = max(1, -(-count // 15_000))
                events = facility_events(communes(first, size), count, seed=int(steady))
                first += size
                report_latency(steady, measure(up, events, steady))
            report_answers(up)
            report_rebuild(up)
        finally:
            up.stop()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
