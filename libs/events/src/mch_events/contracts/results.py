"""How an event is answered: per-event results over HTTP, the same reasons in dead-letter headers."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field


class ReasonCode(StrEnum):
    """Machine-readable reasons. Stable: facility IT systems switch on them."""

    MALFORMED_JSON = "malformed_json"
    """The body is not JSON (or not a JSON object)."""
    INVALID_ENVELOPE = "invalid_envelope"
    """A CloudEvents attribute is missing or wrong (specversion, id, source, type, time)."""
    UNKNOWN_TYPE = "unknown_type"
    """The event type is not one of the contract's types."""
    SCHEMA_VIOLATION = "schema_violation"
    """The data does not match the type's schema: a missing field, a wrong type, a bad date."""
    PAYLOAD_TOO_LARGE = "payload_too_large"
    """The body or the event is over the size limit."""
    INVALID_ENCODING = "invalid_encoding"
    """The body is not UTF-8 text (or holds an unpaired surrogate escape)."""
    TOO_DEEP = "too_deep"
    """Arrays and objects are nested deeper than the limit."""
    NUMBER_TOO_LARGE = "number_too_large"
    """A number has more digits than the limit, or is out of a float's range."""
    INVALID_NUMBER = "invalid_number"
    """``NaN`` or ``Infinity``: not JSON numbers, and not measurements."""
    UNKNOWN_ORG_UNIT = "unknown_org_unit"
    """A facility, residence or source code that is not in the org-unit tree on that date."""
    UNKNOWN_REFERENCE = "unknown_reference"
    """The event refers to a record (pregnancy, mother, child) that never arrived."""
    IMPLAUSIBLE_VALUE = "implausible_value"
    """A value that cannot be right (a 45 kg newborn, a visit before birth)."""
    CONFLICT = "conflict"
    """The event contradicts a stored record (an identifier already used by someone else)."""
    PROCESSING_ERROR = "processing_error"
    """The consumer failed on a valid-looking event: an operator must look."""
    NOT_AUTHORIZED = "not_authorized"
    """The submitter may not submit for the event's ``source`` or ``facility`` (a facility system
    submits only its own facility's events)."""


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: ReasonCode
    field: str | None = None
    """Dotted path of the offending field (``data.babies.0.weight_g``), when there is one."""
    rule: str | None = None
    """The rule that failed, e.g. ``birth_weight_max_6000g`` or ``visit_after_birth``."""
    message: str


class EventResult(BaseModel):
    """The answer for one event of a batch."""

    id: str | None
    status: Literal["accepted", "duplicate", "stale", "held", "rejected"]
    """``duplicate``: this event id was seen before (nothing changed). ``stale``: an older revision of a
    record that already has a newer one. ``held``: valid, waiting for a record it refers to."""
    problems: list[Problem] = []

    @computed_field  # type: ignore[prop-decorator]  # mypy rejects decorated properties
    @property
    def http_status(self) -> int:
        """The status an HTTP client would get for this event alone."""
        if self.status == "rejected":
            codes = {p.code for p in self.problems}
            if ReasonCode.PAYLOAD_TOO_LARGE in codes:
                return 413
            if ReasonCode.PROCESSING_ERROR in codes:
                return 500
            return 409 if ReasonCode.CONFLICT in codes else 422
        return {"accepted": 201, "held": 202}.get(self.status, 200)
