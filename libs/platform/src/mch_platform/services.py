"""The four services as the ``mch`` command knows them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI

from mch_events.broker import KafkaSettings
from mch_servicekit.settings import DEFAULT_PORTS


class AppFactory(Protocol):
    """A service's ``create_app``: its settings class is its own, so it is not named here."""

    def __call__(self, settings: Any = None, kafka: KafkaSettings | None = None) -> FastAPI: ...


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self.name]

    def app_factory(self) -> AppFactory:
        module = importlib.import_module(f"{self.package}.app")
        factory: AppFactory = module.create_app
        return factory


SERVICES: dict[str, ServiceSpec] = {
    name: ServiceSpec(name, f"mch_{name}")
    for name in ("records", "immunization", "growth", "reporting")
}
