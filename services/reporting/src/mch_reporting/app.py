"""The reporting service: ``create_app()`` is what ``mch serve reporting`` runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_servicekit.app import create_service

from . import api, dashboard, exports, handlers, rebuild_api
from .processing import Facts
from .rebuild import Rebuild
from .settings import ReportingSettings


def create_app(
    settings: ReportingSettings | None = None, kafka: KafkaSettings | None = None
) -> FastAPI:
    settings = settings or ReportingSettings()
    app = create_service(
        "reporting",
        settings=settings,
        kafka=kafka,
        # The dashboard answers browsers at ``/``; the index of links moves to ``/index``.
        routers=[dashboard.router, api.router, exports.router, rebuild_api.router],
        title="mch-platform reporting",
        description="Indicators by org unit and period, rolled up the org-unit tree.",
    )
    dashboard.install(app, settings)
    exports.install(app, settings)
    facts = Facts(app.state.ctx.engine, small_cell_minimum=settings.small_cell_minimum)
    handlers.register(app.state.ctx, facts)
    app.state.facts = facts
    rebuild = Rebuild(app.state.ctx, facts, settings.resolved_database_url())
    app.state.rebuild = rebuild
    service_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_lifespan(app):
            try:
                yield
            finally:
                await rebuild.stop()  # before the engine and the broker go

    app.router.lifespan_context = lifespan
    return app
