"""The records service: ``create_app()`` is what ``mch serve records`` runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_servicekit.app import create_service

from . import api, handlers, people_api, resync
from .processing import Gate, OrgUnits, utc_today
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
    gate = Gate(OrgUnits(ctx.engine), hold_for=dt.timedelta(days=settings.hold_days), today=today)
    handlers.register(ctx, gate, held_check_seconds=settings.held_check_seconds)
    ctx.republishes(resync.republish)
    app.state.gate = gate
    return app
