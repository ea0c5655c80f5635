"""The records service: ``create_app()`` is what ``mch serve records`` runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_events.claims import load_keys
from mch_servicekit.app import create_service

from . import api, handlers, people_api, resync
from .orgunits import tree_cache
from .processing import ClaimedGate, Gate, utc_today
from .settings import RecordsSettings


def create_app(
    settings: RecordsSettings | None = None,
    kafka: KafkaSettings | None = None,
    today: Callable[[], dt.date] = utc_today,
) -> FastAPI:
    """``today`` is the service's clock for dates: tests fix it."""
    settings = settings or RecordsSettings()
    app = create_service(
        "records",
        settings=settings,
        kafka=kafka,
        routers=[api.router, people_api.router],
        title="mch-platform records",
        description="People, pregnancies, visits and org units: the gate for facility events.",
    )
    ctx = app.state.ctx
    gate = Gate(tree_cache(ctx.engine), hold_for=dt.timedelta(days=settings.hold_days), today=today)
    inbound = (
        ClaimedGate(gate, _facility_keys(settings)) if settings.require_facility_claims else gate
    )
    handlers.register(ctx, gate, held_check_seconds=settings.held_check_seconds, inbound=inbound)
    ctx.republishes(resync.republish)
    app.state.gate = gate
    return app


def _facility_keys(settings: RecordsSettings) -> dict[str, list[bytes]]:
    if settings.facility_keys_file is None:
        raise ValueError("REQUIRE_FACILITY_CLAIMS needs FACILITY_KEYS_FILE")
    return load_keys(settings.facility_keys_file)
