"""Settings of the reporting service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from mch_servicekit.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service: str = "reporting"
