"""Where the records gate spends its time: the Kafka path's work on one process (decode each record,
then ``apply_events`` with the gate, batch after batch) under cProfile, without the broker and the
HTTP server around it, so the profile shows the gate alone.

Run: ``.venv/bin/python services/records/bench/profile_gate.py [events] [sqlite|postgresql]
[stats-file]``. Prints the accepted events per second without the profiler (and per CPU second of
this process, which a busy machine changes less), then the functions that take the most time
(cumulative and own) with the profiler on. PostgreSQL is taken from ``MCH_BENCH_POSTGRES_URL``
as in ``bench_ingest.py``.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from aiokafka.structs import ConsumerRecord
from sqlalchemy import Engine
from sqlmodel import Session

from mch_events.consume import apply_events, decode
from mch_events.envelope import CloudEvent, subject_key, to_kafka
from mch_events.outbox import outbox_table
from mch_platform.local import demo_orgunits_json
from mch_records.domain import orgunits as orgunit_io
from mch_records.orgunits import import_versions, tree_cache
from mch_records.processing import CONSUMER, Gate
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import upgrade

sys.path.insert(0, str(Path(__file__).parent))

from bench_ingest import EVENTS, facility_events, postgres_database

BATCH = 500


def kafka_records(events: list[CloudEvent]) -> list[ConsumerRecord[bytes, bytes]]:
    records = []
    for offset, event in enumerate(events):
        body, headers = to_kafka(event)
        records.append(
            ConsumerRecord(
                topic="mch.facility-events.v1",
                partition=0,
                offset=offset,
                timestamp=0,
                timestamp_type=0,
                key=subject_key(event),
                value=body,
                checksum=None,
                serialized_key_size=0,
                serialized_value_size=len(body),
                headers=tuple((k, v.encode()) for k, v in headers.items()),
            )
        )
    return records


@contextlib.contextmanager
def database(kind: str, folder: Path) -> Iterator[Engine]:
    folder.mkdir()
    holder = (
        postgres_database(folder)
        if kind == "postgresql"
        else contextlib.nullcontext(f"sqlite:///{folder / 'records.db'}")
    )
    with holder as url:
        upgrade("mch_records", url)
        engine = make_engine(url)
        with Session(engine) as session:
            import_versions(
                session, orgunit_io.from_json(demo_orgunits_json().decode()), source="bench"
            )
            session.execute(outbox_table("records").__table__.delete())  # type: ignore[attr-defined]
            session.commit()
        try:
            yield engine
        finally:
            engine.dispose()


def ingest(engine: Engine, records: list[ConsumerRecord[bytes, bytes]]) -> int:
    gate = Gate(tree_cache(engine))
    accepted = 0
    for start in range(0, len(records), BATCH):
        batch = [decode(r) for r in records[start : start + BATCH]]
        results = apply_events(engine, CONSUMER, batch, gate, service="records")
        accepted += sum(1 for r in results if r.status == "accepted")
    return accepted


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else EVENTS
    kind = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    records = kafka_records(facility_events(count))
    with tempfile.TemporaryDirectory() as folder:
        with database(kind, Path(folder) / "plain") as engine:
            started, cpu = time.perf_counter(), time.process_time()
            accepted = ingest(engine, records)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        # On a busy machine the wall clock says more about the neighbours than about the gate;
        # the CPU time of this process (the gate's own work, without the database server's) does
        # not.
        print(
            f"{count:,} events on {kind}: {accepted:,} accepted, {accepted / elapsed:,.0f}/s, "
            f"{accepted / cpu:,.0f} per CPU second of the gate's process"
        )
        with database(kind, Path(folder) / "profiled") as engine:
            profiler = cProfile.Profile()
            profiler.enable()
            ingest(engine, records)
            profiler.disable()
    if len(sys.argv) > 3:
        profiler.dump_stats(sys.argv[3])
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(35)
        print(out.getvalue())


if __name__ == "__main__":
    main()
