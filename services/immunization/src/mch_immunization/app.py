"""The immunization service: ``create_app()`` is what ``mch serve immunization`` runs."""

from __future__ import annotations

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_servicekit.app import create_service

from .api import create_router
from .settings import ImmunizationSettings


def create_app(
    settings: ImmunizationSettings | None = None, kafka: KafkaSettings | None = None
) -> FastAPI:
    return create_service(
        "immunization",
        settings=settings or ImmunizationSettings(),
        kafka=kafka,
        routers=[create_router()],
        title="mch-platform immunization",
        description="EPI schedules as data, dose evaluation, forecasts and defaulters.",
    )
