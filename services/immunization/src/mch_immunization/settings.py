"""Settings of the immunization service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from pydantic import DirectoryPath

from mch_servicekit.settings import ServiceSettings


class ImmunizationSettings(ServiceSettings):
    service: str = "immunization"
    schedules_dir: DirectoryPath | None = None
    """``SCHEDULES_DIR``: the operator's schedule files (``*.json``); a file with the id of a shipped
    schedule replaces it, any other adds one. A directory that does not exist stops the start."""
    reforecast_interval_seconds: float = 3600.0
    """``REFORECAST_INTERVAL_SECONDS``: how often the people not yet forecast today are forecast
    again (the first run after midnight, Vietnam time, does the day's work); also at start."""
