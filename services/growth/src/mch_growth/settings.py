"""Settings of the growth service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from mch_servicekit.settings import ServiceSettings


class GrowthSettings(ServiceSettings):
    service: str = "growth"
