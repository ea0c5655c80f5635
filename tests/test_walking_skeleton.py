"""One thin slice through the platform, on the real broker and PostgreSQL: a child visit recorded
at a commune health station is stored by records, scored by growth and counted by reporting for
its commune, district and province — and one trace follows it all the way."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mch_events.contracts import facility as f
from mch_events.envelope import VN_TZ, new_event
from mch_events.telemetry import setup_tracing
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.local import demo_orgunits_json
from mch_platform.testing import running

pytestmark = pytest.mark.integration

SPANS = InMemorySpanExporter()
setup_tracing("mch-tests", extra_processors=(SimpleSpanProcessor(SPANS),))

# Demo tree: commune 40401 (Tế Nông) was in district 404 (Nông Cống) until 2025-07-01; from then
# its station TYT-38004 serves the new commune 38004 directly under the province 38.
PRE_REFORM_COMMUNE, PRE_REFORM_STATION, DISTRICT = "40401", "TYT-40401", "404"
COMMUNE, STATION, PROVINCE = "38004", "TYT-38004", "38"
TODAY = dt.date(2026, 11, 20)
"""The records gate's today: after every care date used here, whatever the machine's clock says."""


@contextlib.asynccontextmanager
async def platform(
    broker: EmbeddedBroker, database: Callable[[], str]
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    clients: dict[str, httpx.AsyncClient] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in ("records", "growth", "reporting"):
            # Records is the service here that reads the date (its gate refuses future care).
            today = (lambda: TODAY) if name == "records" else None
            _, client = await stack.enter_async_context(
                running(
                    name,
                    database_url=database(),
                    bootstrap_servers=broker.bootstrap_servers,
                    today=today,
                )
            )
            clients[name] = client
        response = await clients["records"].post(
            "/v1/orgunits/import", content=demo_orgunits_json()
        )
        assert response.status_code == 200, response.text
        yield clients


def events(
    child: uuid.UUID,
    station: str,
    commune: str,
    visit_date: dt.date,
    registered_on: dt.date | None = None,
) -> list[dict[str, object]]:
    """The child registered (on the visit's day unless ``registered_on``) and then measured; each
    CloudEvent ``time`` is when it happened."""
    registered = f.ChildRegistered(
        child_id=child, sex="F", birth_date=visit_date - dt.timedelta(days=300), residence=commune
    )
    visit = f.ChildVisit(
        visit_id=uuid.uuid4(),
        child_id=child,
        facility=station,
        visit_date=visit_date,
        weight_kg=6.1,
        length_height_cm=68.0,
        measured="lying",
    )
    registered_at = dt.datetime.combine(registered_on or visit_date, dt.time(8), tzinfo=VN_TZ)
    visited_at = dt.datetime.combine(visit_date, dt.time(9), tzinfo=VN_TZ)
    return [
        new_event(m, source=station, time=at).model_dump(mode="json", exclude_none=True)
        for m, at in ((registered, registered_at), (visit, visited_at))
    ]


async def indicator(
    client: httpx.AsyncClient, orgunit: str, period: str, code: str
) -> dict[str, object]:
    response = await client.get("/v1/indicators", params={"orgunit": orgunit, "period": period})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {"orgunit", "period", "as_of", "values"} <= body.keys()
    return next(v for v in body["values"] if v["indicator"] == code)


async def wait_for(check: Callable[[], object], seconds: float = 30.0) -> float:
    """Poll ``check`` (an async callable returning truthy) until it holds; the seconds it took."""
    started = time.monotonic()
    while True:
        if await check():  # type: ignore[misc]
            return time.monotonic() - started
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.05)


async def test_a_child_visit_moves_commune_district_and_province_numbers(
    kafka_broker: EmbeddedBroker, pg_databases: Callable[[], str]
) -> None:
    async with platform(kafka_broker, pg_databases) as clients:
        # Let the consumers join their groups before measuring how fast an event travels.
        await wait_for(lambda: _ready(clients))
        SPANS.clear()
        child = uuid.uuid4()
        visit_day = dt.date(2026, 11, 3)
        response = await clients["records"].post(
            "/v1/events", json=events(child, STATION, COMMUNE, visit_day)
        )
        assert response.status_code == 200, response.text
        assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]

        async def counted() -> bool:
            v = await indicator(clients["reporting"], PROVINCE, "2026-11", "U5_MEASURED")
            return v["numerator"] == 1

        took = await wait_for(counted)
        print(f"visit → province U5_MEASURED in {took:.2f} s")
        commune = await indicator(clients["reporting"], COMMUNE, "2026-11", "U5_MEASURED")
        assert commune["numerator"] == 1
        assert commune["denominator"] == 1
        assert commune["value"] == 1.0
        national = await indicator(clients["reporting"], "VN", "2026Q4", "U5_MEASURED")
        assert national["numerator"] == 1

        # The district no longer exists in 2026: a clear 404, never a 5xx.
        response = await clients["reporting"].get(
            "/v1/indicators", params={"orgunit": DISTRICT, "period": "2026-11"}
        )
        assert response.status_code == 404
        assert "not in force" in response.json()["detail"]

        # One trace from the HTTP request through records, growth and reporting.
        trace_id = _trace_of_request(SPANS)
        names = {s.name for s in SPANS.get_finished_spans() if s.context.trace_id == trace_id}
        assert any(n.startswith("mch-records process vn.mch.child.visit.v1") for n in names), names
        assert any(n.startswith("mch-growth process vn.mch.records.child-visit.v1") for n in names)
        assert any(
            n.startswith("mch-reporting process vn.mch.growth.assessed.v1") for n in names
        ), names


async def test_a_2024_visit_rolls_up_through_its_district(
    kafka_broker: EmbeddedBroker, pg_databases: Callable[[], str]
) -> None:
    async with platform(kafka_broker, pg_databases) as clients:
        await wait_for(lambda: _ready(clients))
        child = uuid.uuid4()
        day = dt.date(2024, 11, 5)
        # Registered back then: the CloudEvent time is when it happened.
        batch = events(child, PRE_REFORM_STATION, PRE_REFORM_COMMUNE, day, dt.date(2024, 3, 1))
        response = await clients["records"].post("/v1/events", json=batch)
        assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]

        async def counted() -> bool:
            v = await indicator(clients["reporting"], DISTRICT, "2024-11", "U5_MEASURED")
            return v["numerator"] == 1

        await wait_for(counted)
        province = await indicator(clients["reporting"], PROVINCE, "2024", "U5_MEASURED")
        assert province["numerator"] == 1


async def _ready(clients: dict[str, httpx.AsyncClient]) -> bool:
    for client in clients.values():
        body = (await client.get("/readyz")).json()
        if body["status"] != "ready":
            return False
    # Each consumer has joined once it has been assigned partitions; the org units imported at
    # start travel the same path, so reporting having them means the pipeline is live.
    response = await clients["reporting"].get(
        "/v1/indicators", params={"orgunit": PROVINCE, "period": "2026-11"}
    )
    return response.status_code == 200


def _trace_of_request(spans: InMemorySpanExporter) -> int:
    for span in spans.get_finished_spans():
        if span.name.startswith("POST /v1/events"):
            trace_id: int = span.context.trace_id
            return trace_id
    raise AssertionError("no span for the HTTP request")
