"""Settings of the immunization service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from mch_servicekit.settings import ServiceSettings


class ImmunizationSettings(ServiceSettings):
    service: str = "immunization"
