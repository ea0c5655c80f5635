"""The immunization service: ``create_app()`` is what ``mch serve immunization`` runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from mch_events.broker import KafkaSettings
from mch_servicekit.access.audit import access_log_router
from mch_servicekit.app import ServiceContext, create_service
from mch_servicekit.guards import check_routes

from . import defaulters_page, handlers, resync
from .api import create_router
from .catalog import ScheduleBook
from .forecasting import Forecaster, today_in_vietnam
from .orgunits import tree_cache
from .processing import RecordsConsumer
from .service_api import create_service_router
from .settings import ImmunizationSettings


def create_app(
    settings: ImmunizationSettings | None = None,
    kafka: KafkaSettings | None = None,
    today: Callable[[], dt.date] = today_in_vietnam,
) -> FastAPI:
    """``today`` is the service's clock for dates: tests fix it."""
    settings = settings or ImmunizationSettings()
    app = create_service(
        "immunization",
        settings=settings,
        kafka=kafka,
        title="mch-platform immunization",
        description="EPI schedules as data, dose evaluation, forecasts and defaulters.",
    )
    ctx: ServiceContext = app.state.ctx
    schedules = ScheduleBook(ctx.engine, settings.schedules_dir)
    orgunits = tree_cache()
    forecaster = Forecaster(schedules, orgunits, today)
    reforecasting = handlers.Reforecasting(
        ctx.engine,
        forecaster,
        schedules,
        interval=settings.reforecast_interval_seconds,
        wake_relay=ctx.relay.wake,
    )
    consumer = RecordsConsumer(orgunits, changed=reforecasting.wake)
    handlers.register(ctx, consumer, reforecasting)
    ctx.republishes(resync.republish)
    app.include_router(create_router(lambda: schedules.catalog))
    app.include_router(
        create_service_router(
            ctx.engine,
            schedules,
            orgunits,
            today=forecaster.today,
            schedules_changed=reforecasting.wake,
        )
    )
    app.include_router(access_log_router("immunization"))
    app.add_api_route(
        "/lists/defaulters", _signed_in_defaulters, methods=["GET"], include_in_schema=False
    )
    # Its routers need the service's objects, so they come after create_service's own check.
    check_routes(app)
    return app


def _signed_in_defaulters() -> HTMLResponse:
    """The dashboard's link to the printable defaulter list (see ``SIGNED_IN_PAGE``)."""
    return HTMLResponse(defaulters_page.SIGNED_IN_PAGE)
