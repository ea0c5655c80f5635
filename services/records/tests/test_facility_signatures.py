"""Signed facility claims on Kafka, with the real broker, on SQLite and PostgreSQL: when claims are
required, an event signed by its own facility's credential is accepted, and one without a claim,
signed with another key, or claiming another facility than its ``source`` or ``data.facility`` is
rejected with ``not_authorized`` and a reason, dead-lettered and kept with the rejections."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from records_helpers import STATION, Clinic, RunningService, TopicReader, start_service, wait_until

from mch_events import topics
from mch_events.claims import sign
from mch_events.deadletter import REASON_HEADER
from mch_platform.embedded_broker import EmbeddedBroker

pytestmark = pytest.mark.integration

OTHER = "TYT-38002"
SECRET = b"station-38001-secret-0123456789"
OTHER_SECRET = b"station-38002-secret-0123456789"


@pytest_asyncio.fixture
async def claimed(
    records_db: str, kafka_broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[RunningService]:
    keys = tmp_path / "facility-keys.json"
    keys.write_text(json.dumps({STATION: SECRET.decode(), OTHER: OTHER_SECRET.decode()}))
    async for service in start_service(
        records_db,
        kafka_broker.bootstrap_servers,
        require_facility_claims=True,
        facility_keys_file=keys,
    ):
        yield service


async def test_only_events_signed_for_their_own_facility_get_in(claimed: RunningService) -> None:
    clinic = Clinic(seed=301)
    mother = clinic.mother()
    pregnancy = clinic.pregnancy(mother)
    visit = clinic.antenatal(pregnancy, dt.date(2025, 9, 1))
    signed = [sign(e, STATION, SECRET) for e in (mother, pregnancy, visit)]
    # The other station's system signs an event that says it comes from this station.
    posing = sign(clinic.mother(full_name="Ngô Thị Giả"), OTHER, OTHER_SECRET)
    forged = sign(clinic.mother(full_name="Phan Thị Sai"), STATION, OTHER_SECRET)
    unsigned = clinic.mother(full_name="Vũ Thị Trống")
    # Signed by this station, but the visit's data names the other one.
    elsewhere = sign(
        clinic.antenatal(pregnancy, dt.date(2025, 9, 2), facility=OTHER),
        STATION,
        SECRET,
    )
    bad = {posing.id: "source", forged.id: "facilityclaim", unsigned.id: "facilityclaim"}
    bad[elsewhere.id] = "data.facility"

    async with TopicReader(claimed.ctx.kafka.bootstrap_servers, topics.DEAD_LETTERS) as dead:
        await claimed.publish([*signed, posing, forged, unsigned, elsewhere])
        await wait_until(lambda: claimed.ctx.consumed.get("accepted", 0) >= 3, 60)
        await wait_until(lambda: len(dead.messages) >= len(bad), 60)

    assert {headers.get(REASON_HEADER) for *_, headers in dead.messages} == {"not_authorized"}
    rejections = (await claimed.client.get("/v1/rejections", params={"limit": 100})).json()
    fields = {
        r["event_id"]: {p["field"] for p in r["problems"] if p["code"] == "not_authorized"}
        for r in rejections
    }
    assert {event_id: fields.get(event_id) for event_id in bad} == {
        event_id: {field} for event_id, field in bad.items()
    }
    accepted = (await claimed.client.get(f"/v1/mothers/{mother.data['mother_id']}")).status_code
    assert accepted == 200
    assert (await claimed.client.get(f"/v1/mothers/{posing.data['mother_id']}")).status_code == 404
