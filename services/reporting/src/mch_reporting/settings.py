"""Settings of the reporting service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

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
