"""CloudEvents 1.0: structured JSON over HTTP, binary mode (``ce_*`` headers) over Kafka.

Structured mode is accepted on Kafka too (``content-type: application/cloudevents+json``), so a
facility system can publish what it would POST.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import safejson
from .contracts.results import Problem, ReasonCode
from .registry import EVENT_TYPES, EventType

VN_TZ = dt.timezone(dt.timedelta(hours=7), "ICT")
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
JSON_CONTENT_TYPE = "application/json"
MAX_EVENT_BYTES = 64 * 1024
"""No handbook event comes near this; a larger one is an error or an attack."""

T = TypeVar("T", bound=BaseModel)
log = logging.getLogger(__name__)
_REQUIRED_HEADERS = ("id", "source", "type", "specversion")


class CloudEvent(BaseModel):
    """A CloudEvent whose ``data`` is still a plain JSON object (validated per type by ``parse``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: str = "1.0"
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=128)
    time: dt.datetime | None = None
    subject: str | None = None
    datacontenttype: str | None = JSON_CONTENT_TYPE
    dataschema: str | None = None
    revision: int = Field(default=1, ge=1)
    """Extension: a producer amends a record by re-sending it with a higher revision."""
    traceparent: str | None = None
    """Extension (distributed tracing): the W3C trace context the event was produced in."""
    data: dict[str, Any]

    @property
    def event_type(self) -> EventType:
        return EVENT_TYPES[self.type]


class TypedEvent(BaseModel, Generic[T]):
    """An envelope together with its validated data."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    envelope: CloudEvent
    data: T


class EventError(Exception):
    """An event that cannot be accepted, with machine-readable problems."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def new_event(
    data: BaseModel,
    *,
    source: str,
    time: dt.datetime | None = None,
    revision: int = 1,
    event_id: str | None = None,
    type_name: str | None = None,
) -> CloudEvent:
    """Wrap a contract model in an envelope (the type comes from the registry)."""
    from .registry import event_type_for

    name = type_name or event_type_for(type(data)).name
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=name,
        time=time or dt.datetime.now(VN_TZ),
        revision=revision,
        data=data.model_dump(mode="json", exclude_none=True),
    )


def subject_key(event: CloudEvent) -> bytes | None:
    """The Kafka key: the person or record the event is about, per the type's contract."""
    known = EVENT_TYPES.get(event.type)
    value = event.data.get(known.subject_field) if known else None
    return str(value).encode() if value is not None else None


def _problems_from_validation(exc: ValidationError, prefix: str) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        problems.append(
            Problem(
                code=ReasonCode.SCHEMA_VIOLATION,
                field=path or None,
                rule=err["type"],
                message=f"{path}: {err['msg']}" if path else err["msg"],
            )
        )
    return problems


def parse_envelope(obj: Any) -> CloudEvent:
    """Validate the envelope; raises ``EventError`` and nothing else."""
    try:
        return _parse_envelope(obj)
    except EventError:
        raise
    except Exception as exc:
        raise EventError([_unexpected(ReasonCode.INVALID_ENVELOPE, exc)]) from exc


def _unexpected(code: ReasonCode, exc: Exception) -> Problem:
    # A validator that fails in an unforeseen way still says no for this one message only.
    log.warning("unexpected %s while validating an event", type(exc).__name__, exc_info=exc)
    return Problem(code=code, rule="unexpected_error", message=f"{type(exc).__name__}: {exc}"[:300])


def _parse_envelope(obj: Any) -> CloudEvent:
    if not isinstance(obj, Mapping):
        raise EventError(
            [Problem(code=ReasonCode.MALFORMED_JSON, message="an event must be a JSON object")]
        )
    if obj.get("specversion") != "1.0":
        raise EventError(
            [
                Problem(
                    code=ReasonCode.INVALID_ENVELOPE,
                    field="specversion",
                    message="specversion must be '1.0' (CloudEvents 1.0)",
                )
            ]
        )
    try:
        event = CloudEvent.model_validate(obj)
    except ValidationError as exc:
        problems = _problems_from_validation(exc, "")
        envelope_fields = {"id", "source", "type", "time", "subject", "revision", "specversion"}
        for i, p in enumerate(problems):
            if (p.field or "").split(".")[0] in envelope_fields:
                problems[i] = p.model_copy(update={"code": ReasonCode.INVALID_ENVELOPE})
        raise EventError(problems) from exc
    unstorable = [
        n for n in ("id", "source", "type", "subject") if "\x00" in (getattr(event, n) or "")
    ]
    if unstorable:
        # Consumers store these attributes (the event id, to deduplicate), and PostgreSQL cannot
        # store a NUL character: one such event would fail its whole batch, again and again.
        raise EventError(
            [
                Problem(
                    code=ReasonCode.INVALID_ENVELOPE,
                    field=name,
                    rule="no_nul_character",
                    message=f"{name} holds a NUL character",
                )
                for name in unstorable
            ]
        )
    return event


def parse_data(event: CloudEvent) -> BaseModel:
    """Validate ``data`` against the model of the event's type."""
    known = EVENT_TYPES.get(event.type)
    if known is None:
        raise EventError(
            [
                Problem(
                    code=ReasonCode.UNKNOWN_TYPE,
                    field="type",
                    message=f"unknown event type {event.type!r}",
                )
            ]
        )
    try:
        return known.model.model_validate(event.data)
    except ValidationError as exc:
        raise EventError(_problems_from_validation(exc, "data")) from exc
    except Exception as exc:
        raise EventError([_unexpected(ReasonCode.SCHEMA_VIOLATION, exc)]) from exc


def parse(obj: Any) -> TypedEvent[BaseModel]:
    """A structured-mode JSON object in, a validated typed event out (or ``EventError``)."""
    envelope = parse_envelope(obj)
    return TypedEvent(envelope=envelope, data=parse_data(envelope))


def loads_json(body: bytes) -> Any:
    """One event's JSON, within the limits of ``safejson`` (``EventError`` with the reason)."""
    try:
        return safejson.loads(body, max_bytes=MAX_EVENT_BYTES)
    except safejson.JSONRejected as exc:
        raise EventError([exc.problem]) from None


# -- Kafka binary mode ------------------------------------------------------------------------------


def to_kafka(event: CloudEvent) -> tuple[bytes, dict[str, str]]:
    """Binary mode: attributes as ``ce_*`` headers, ``data`` as the JSON body."""
    headers = {"content-type": event.datacontenttype or JSON_CONTENT_TYPE}
    attrs = event.model_dump(mode="json", exclude={"data", "datacontenttype"}, exclude_none=True)
    for name, value in attrs.items():
        headers[f"ce_{name}"] = str(value)
    return dumps_json(event.data), headers


def dumps_json(value: Any) -> bytes:
    """Compact UTF-8 JSON. orjson: serializing the outgoing events showed in the records gate's
    profile; the standard library for what orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def from_kafka(body: bytes, headers: Mapping[str, str]) -> CloudEvent:
    """Decode either mode; raises ``EventError`` with the reason when the message is unusable."""
    content_type = headers.get("content-type", "")
    if content_type.startswith(STRUCTURED_CONTENT_TYPE):
        return parse_envelope(loads_json(body))
    missing = [h for h in _REQUIRED_HEADERS if f"ce_{h}" not in headers]
    if missing:
        raise EventError(
            [
                Problem(
                    code=ReasonCode.INVALID_ENVELOPE,
                    field=f"ce_{name}",
                    message=f"missing header ce_{name} (CloudEvents binary mode)",
                )
                for name in missing
            ]
        )
    data = loads_json(body)
    attrs: dict[str, Any] = {
        k.removeprefix("ce_"): v for k, v in headers.items() if k.startswith("ce_")
    }
    attrs["data"] = data
    if content_type:
        attrs["datacontenttype"] = content_type
    return parse_envelope(attrs)
