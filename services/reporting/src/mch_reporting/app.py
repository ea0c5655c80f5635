"""The reporting service: ``create_app()`` is what ``mch serve reporting`` runs."""

from __future__ import annotations

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_servicekit.app import create_service

from . import api, dashboard, exports, handlers
from .processing import Facts
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
        routers=[dashboard.router, api.router, exports.router],
        title="mch-platform reporting",
        description="Indicators by org unit and period, rolled up the org-unit tree.",
    )
    dashboard.install(app, settings)
    exports.install(app, settings)
    facts = Facts(app.state.ctx.engine, small_cell_minimum=settings.small_cell_minimum)
    handlers.register(app.state.ctx, facts)
    app.state.facts = facts
    return app
