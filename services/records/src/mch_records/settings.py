"""Settings of the records service (environment variables; see docs/architecture.md)."""

from __future__ import annotations

from pathlib import Path

from mch_servicekit.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    service: str = "records"
    hold_days: float = 7.0
    """How long a valid event waits for a record it refers to before it is dead-lettered."""
    held_check_seconds: float = 30.0
    """How often held events are retried (their reference may have come in another transaction)
    and expired ones dead-lettered."""
    require_facility_claims: bool = False
    """Reject (and dead-letter) every Kafka event without a valid signed facility claim whose
    facility is the event's ``source`` and ``data.facility`` (``mch_events.claims``). HTTP
    submissions are authorised by their token instead."""
    facility_keys_file: Path | None = None
    """The facilities' claim secrets: ``{"TYT-38004": "secret", ...}`` (a list while rotating).
    Required when claims are."""
