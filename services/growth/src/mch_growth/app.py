"""The growth service: ``create_app()`` is what ``mch serve growth`` runs."""

from __future__ import annotations

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_servicekit.access.audit import access_log_router
from mch_servicekit.app import create_service

from . import api, handlers, resync
from .settings import GrowthSettings


def create_app(
    settings: GrowthSettings | None = None, kafka: KafkaSettings | None = None
) -> FastAPI:
    app = create_service(
        "growth",
        settings=settings or GrowthSettings(),
        kafka=kafka,
        routers=[api.router, api.children, access_log_router("growth")],
        title="mch-platform growth",
        description="WHO growth standards, nutrition status and growth charts.",
    )
    handlers.register(app.state.ctx)
    app.state.ctx.republishes(resync.republish)
    return app
