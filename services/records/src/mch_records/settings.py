"""Settings of the records service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from mch_servicekit.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    service: str = "records"
    hold_days: float = 7.0
    """How long a valid event waits for a record it refers to before it is dead-lettered."""
    held_check_seconds: float = 30.0
    """How often held events are retried (their reference may have come in another transaction)
    and expired ones dead-lettered."""
