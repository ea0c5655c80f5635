"""Registration dates, through records: a registration's date is its CloudEvent ``time`` on
Vietnam's clock (UTC+7), so a child registered at 01:30 on 1 November in Vietnam (18:30 UTC on
31 October) is registered in November, and one registered at 23:30 on 31 October in October."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable

import pytest

from mch_events.contracts import facility as f
from mch_events.envelope import new_event
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.local import demo_orgunits_json
from mch_platform.testing import running

pytestmark = pytest.mark.integration

WaitFor = Callable[..., Awaitable[None]]


def registration(time: str) -> dict[str, object]:
    child = f.ChildRegistered.model_validate(
        {
            "child_id": str(uuid.uuid4()),
            "sex": "F",
            "birth_date": "2026-03-01",
            "residence": "38004",
        }
    )
    event = new_event(child, source="TYT-38004").model_dump(mode="json", exclude_none=True)
    event["time"] = time
    return event


async def test_a_registration_is_dated_by_its_time_in_vietnam(
    kafka_broker: EmbeddedBroker, pg_databases: Callable[[], str], wait_for: WaitFor
) -> None:
    servers = kafka_broker.bootstrap_servers
    async with contextlib.AsyncExitStack() as stack:
        records = (
            await stack.enter_async_context(
                running("records", database_url=pg_databases(), bootstrap_servers=servers)
            )
        )[1]
        reporting = (
            await stack.enter_async_context(
                running("reporting", database_url=pg_databases(), bootstrap_servers=servers)
            )
        )[1]
        response = await records.post("/v1/orgunits/import", content=demo_orgunits_json())
        assert response.status_code == 200, response.text
        response = await records.post(
            "/v1/events",
            json=[registration("2026-10-31T18:30:00Z"), registration("2026-10-31T16:30:00Z")],
        )
        assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]

        async def denominator(period: str) -> int | None:
            answer = await reporting.get(
                "/v1/indicators",
                params={"orgunit": "38004", "period": period, "indicator": "U5_MEASURED"},
            )
            if answer.status_code != 200:
                return None
            value: int = answer.json()["values"][0]["denominator"]
            return value

        async def both_registered() -> bool:
            return await denominator("2026-11") == 2

        await wait_for(both_registered)
        assert await denominator("2026-10") == 1
        assert await denominator("2026-09") == 0
