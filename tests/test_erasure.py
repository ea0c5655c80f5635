"""Erasure on a lawful request reaches every service over the real broker: records clears the
person's identifiers, keeps their care and publishes ``PersonErased``; records, growth and
immunization stop serving the person by id (410, and defaulter lists leave them out). (Reporting,
which holds no names, counts them as before: services/reporting/tests/test_disclosure.py.)"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest

from mch_events.contracts import facility as f
from mch_events.envelope import new_event
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.local import demo_orgunits_json
from mch_platform.testing import bearer, running_platform, until
from mch_servicekit.access import Role

pytestmark = pytest.mark.integration

STATION, COMMUNE = "TYT-38004", "38004"
NAME = "Trần Thị Quên"
TODAY = dt.date.today()
BORN = TODAY - dt.timedelta(days=300)
SERVICES = ("records", "immunization", "growth")
WORKER = bearer([Role.HEALTH_WORKER], [COMMUNE], subject="nurse")
DATA_MANAGER = bearer([Role.DATA_MANAGER], ["38"], subject="dm")


def events(child: uuid.UUID) -> list[dict[str, Any]]:
    registered = f.ChildRegistered(
        child_id=child, sex="F", birth_date=BORN, residence=COMMUNE, full_name=NAME
    )
    visit = f.ChildVisit(
        visit_id=uuid.uuid5(child, "visit"),
        child_id=child,
        facility=STATION,
        visit_date=TODAY - dt.timedelta(days=1),
        weight_kg=8.1,
        length_height_cm=70.0,
        measured="lying",
    )
    return [
        new_event(m, source=STATION).model_dump(mode="json", exclude_none=True)
        for m in (registered, visit)
    ]


async def test_an_erasure_reaches_growth_and_immunization(
    kafka_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    child = uuid.uuid4()
    async with running_platform(
        SERVICES, data_dir=tmp_path, bootstrap_servers=kafka_broker.bootstrap_servers
    ) as clients:
        records, growth, immunization = (
            clients["records"],
            clients["growth"],
            clients["immunization"],
        )
        imported = await records.post("/v1/orgunits/import", content=demo_orgunits_json())
        assert imported.status_code == 200, imported.text
        answer = await records.post("/v1/events", json=events(child))
        assert {r["status"] for r in answer.json()["results"]} == {"accepted"}, answer.text

        async def defaulters() -> str:
            listed = await immunization.get(
                "/v1/defaulters", params={"orgunit": COMMUNE}, headers=WORKER
            )
            return listed.text

        async def served() -> bool:
            growth_ok = await growth.get(f"/v1/children/{child}/growth", headers=WORKER)
            doses = await immunization.get(f"/v1/people/{child}/immunizations", headers=WORKER)
            return (
                growth_ok.status_code == 200
                and doses.status_code == 200
                and str(child) in await defaulters()
            )

        await until(served)

        erased = await records.post(
            f"/v1/people/{child}/erase",
            json={"reason": "request of the child's mother, DPO-2026-18"},
            headers=DATA_MANAGER,
        )
        assert erased.status_code == 200, erased.text
        assert erased.json()["status"] == "erased"

        async def gone_everywhere() -> bool:
            growth_gone = await growth.get(f"/v1/children/{child}/growth", headers=WORKER)
            chart = await growth.get(
                f"/v1/children/{child}/chart.svg", params={"indicator": "wfa"}, headers=WORKER
            )
            doses = await immunization.get(f"/v1/people/{child}/immunizations", headers=WORKER)
            return (
                growth_gone.status_code == 410
                and chart.status_code == 410
                and doses.status_code == 410
                and str(child) not in await defaulters()
            )

        await until(gone_everywhere)
        handbook = await records.get(f"/v1/children/{child}", headers=WORKER)
        assert handbook.status_code == 410
        export = (await records.get(f"/v1/people/{child}/export", headers=DATA_MANAGER)).json()
        assert export["person"]["full_name"] is None
        assert [r["kind"] for r in export["records"]] == ["child_visit"]  # the care stays
        # Reads of the erased person are still audited where they are refused as gone.
        log = (
            await growth.get(
                "/v1/access-log",
                params={"person_id": str(child)},
                headers=bearer([Role.OPERATOR]),
            )
        ).json()
        assert len(log) >= 2
