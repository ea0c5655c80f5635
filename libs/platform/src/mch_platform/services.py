"""The four services as the ``mch`` command knows them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from mch_servicekit.settings import DEFAULT_PORTS


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    package: str

    @property
    def default_port(self) -> int:
        return DEFAULT_PORTS[self.name]

    def app_factory(self) -> Callable[[], FastAPI]:
        module = importlib.import_module(f"{self.package}.app")
        factory: Callable[[], FastAPI] = module.create_app
        return factory


SERVICES: dict[str, ServiceSpec] = {
    name: ServiceSpec(name, f"mch_{name}")
    for name in ("records", "immunization", "growth", "reporting")
}
