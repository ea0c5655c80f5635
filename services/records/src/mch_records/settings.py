"""Settings of the records service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from mch_servicekit.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    service: str = "records"
    hold_days: float = 7.0
    """How long a valid event waits for a record it refers to before it is dead-lettered."""
