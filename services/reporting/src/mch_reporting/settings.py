"""Settings of the reporting service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mch_servicekit.access import DEFAULT_MINIMUM
from mch_servicekit.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    service: str = "reporting"
    targets_file: Path | None = None
    """The dashboard's targets (JSON, see ``dashboard/targets.json``); unset: the packaged ones."""
    immunization_url: str | None = None
    """The immunization service's base URL, for the dashboard's link to its defaulter list;
    unset: no link."""
    dhis2_mapping: Path | None = None
    """DHIS2 identifiers for the export's codes (JSON, see the README, "Exports"); unset: the
    export sends codes, for an import with ``idScheme=CODE``."""
    small_cell_minimum: int = Field(default=DEFAULT_MINIMUM, ge=1)
    """Indicator cells counting more than none but fewer than this many people (numerator or
    denominator) are suppressed for readers without named access to the org unit; 1 shows all."""
