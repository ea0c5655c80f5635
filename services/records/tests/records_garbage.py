"""Malformed facility events for the fuzz tests, as Hypothesis strategies: wrong types, missing
fields, malformed dates, unknown org units, oversized payloads, non-objects, random JSON, NUL
characters. Every value drawn is one the service must reject."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from records_helpers import Clinic

from mch_events import topics
from mch_events.envelope import (
    MAX_EVENT_BYTES,
    CloudEvent,
    EventError,
    parse_envelope,
    to_kafka,
)
from mch_events.registry import EVENT_TYPES

BATCH = 100
HTTP_BATCHES = 50
KAFKA_MESSAGES = 5000


def _valid_events() -> list[CloudEvent]:
    """One valid event of each type, to break in one place each."""
    c = Clinic(seed=77)
    mother = c.mother()
    pregnancy = c.pregnancy(mother)
    birth = c.birth(pregnancy)
    child_id = birth.data["babies"][0]["child_id"]
    return [
        mother,
        pregnancy,
        c.antenatal(pregnancy, dt.date(2025, 9, 1)),
        birth,
        c.postnatal(birth, dt.date(2026, 3, 4)),
        c.child(),
        c.child_visit(child_id, dt.date(2026, 4, 1)),
        c.dose(child_id, dt.date(2026, 3, 2)),
        c.died(child_id, dt.date(2026, 5, 1)),
        c.moved(child_id, "38002", dt.date(2026, 4, 2)),
        c.void(child_id, dt.date(2026, 4, 3)),
    ]


VALID = [e.model_dump(mode="json", exclude_none=True) for e in _valid_events()]
NOT_A_VALUE = st.one_of(
    st.just({"nested": "object"}),
    st.lists(st.dictionaries(st.text(max_size=5), st.integers()), min_size=1, max_size=2),
)
"""Values no scalar or list field of a facility contract accepts."""
BAD_DATES = st.sampled_from(["2025-02-30", "31/12/2025", "yesterday", "2025-13-01", "", "T"])
BAD_IDS = st.sampled_from(["not-a-uuid", "", "123", "0000"])
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
NUL_TEXT = st.tuples(st.text(max_size=5), st.text(max_size=5)).map(lambda t: f"{t[0]}\x00{t[1]}")
"""Text with a NUL character, which no event attribute may hold (PostgreSQL cannot store it)."""


def _with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, **changes, "id": str(uuid.uuid4())}


def _with_data(event: dict[str, Any], data: Any) -> dict[str, Any]:
    return _with(event, data=data)


@st.composite
def broken_envelope(draw: st.DrawFn) -> dict[str, Any]:
    event = _with(draw(st.sampled_from(VALID)))
    name = draw(st.sampled_from(["specversion", "id", "source", "type", "time", "revision"]))
    if draw(st.booleans()):
        event.pop(name)
        if name == "id":  # an event without an id is still refused, whatever else it holds
            return event
        if name in ("time", "revision"):  # optional: break it instead
            event[name] = draw(NOT_A_VALUE)
        return event
    bad = {
        "specversion": st.sampled_from(["0.3", "1", "", "2.0"]),
        "id": st.one_of(st.just(""), st.text(min_size=129, max_size=140), NOT_A_VALUE),
        "source": st.one_of(st.just(""), NOT_A_VALUE, st.text(min_size=257, max_size=260)),
        "type": st.one_of(NOT_A_VALUE, st.just("")),
        "time": BAD_DATES.filter(bool) | NOT_A_VALUE,
        "revision": st.sampled_from([0, -1, "first", 1.5]),
    }[name]
    event[name] = draw(bad)
    return event


@st.composite
def broken_data(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.sampled_from(VALID))
    data = dict(event["data"])
    field = draw(st.sampled_from(sorted(data)))
    how = draw(st.sampled_from(["remove", "wrong_type", "bad_date", "bad_id", "extra"]))
    if how == "remove":
        required = [f for f in data if f not in ("revision",) and not _optional(event["type"], f)]
        data.pop(draw(st.sampled_from(required)))
    elif how == "bad_date" and any(k.endswith("date") or k in ("edd", "date") for k in data):
        dates = [k for k in data if k.endswith("date") or k in ("edd", "date")]
        data[draw(st.sampled_from(dates))] = draw(BAD_DATES)
    elif how == "bad_id" and any(k.endswith("_id") for k in data):
        data[draw(st.sampled_from([k for k in data if k.endswith("_id")]))] = draw(BAD_IDS)
    elif how == "extra":
        data[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in data))] = 1
    else:
        data[field] = draw(NOT_A_VALUE)
    return _with_data(event, data)


def _optional(type_name: str, field: str) -> bool:
    model = EVENT_TYPES[type_name].model
    return not model.model_fields[field].is_required()


@st.composite
def unknown_org_unit(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.sampled_from([e for e in VALID if {"facility", "residence"} & set(e["data"])]))
    code = draw(st.from_regex(r"ZZ-[A-Z0-9]{1,8}", fullmatch=True))
    if draw(st.booleans()):
        return _with(event, source=code)
    field = "facility" if "facility" in event["data"] else "residence"
    return _with_data(event, {**event["data"], field: code})


@st.composite
def oversized(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.sampled_from(VALID))
    padding = "x" * (MAX_EVENT_BYTES + draw(st.integers(1, 2000)))
    return _with_data(event, {**event["data"], "note": padding})


@st.composite
def nul_characters(draw: st.DrawFn) -> dict[str, Any]:
    event = draw(st.sampled_from(VALID))
    name = draw(st.sampled_from(["id", "source", "type", "data"]))
    if name != "data":
        return {**_with(event), name: draw(NUL_TEXT)}
    text_fields = [k for k, v in event["data"].items() if isinstance(v, str)]
    return _with_data(event, {**event["data"], draw(st.sampled_from(text_fields)): draw(NUL_TEXT)})


GARBAGE = st.one_of(
    st.integers(),
    st.text(max_size=20),
    st.none(),
    st.lists(st.integers(), max_size=3),
    JSON.filter(lambda v: not isinstance(v, dict) or "specversion" not in v),
    broken_envelope(),
    broken_data(),
    unknown_org_unit(),
    oversized(),
    nul_characters(),
    st.sampled_from(VALID).map(
        lambda e: _with(e, type=f"vn.mch.unknown.{uuid.uuid4().hex[:6]}.v1")
    ),
)


def draw_many(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` values of ``strategy``, the same on every run."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


KafkaMessage = tuple[bytes, dict[str, str]]


def as_kafka(item: Any, mode: int) -> KafkaMessage:
    """A malformed event as a facility system might publish it: in structured mode, in binary
    mode (when its envelope is whole enough to be written as headers), or with its body cut."""
    structured = json.dumps(item).encode(), {"content-type": "application/cloudevents+json"}
    if mode == 0 or not isinstance(item, dict):
        return structured
    try:
        body, headers = to_kafka(parse_envelope(item))
    except EventError:  # written as headers, a broken attribute could read as a valid one
        return structured
    if mode == 2:
        body = body[: len(body) // 2] + b"\xff"
    return body, headers


async def send_raw(bootstrap_servers: str, messages: list[KafkaMessage]) -> None:
    """Publish messages as they are, on the facility events topic."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        enable_idempotence=False,
        max_request_size=4 * MAX_EVENT_BYTES,
    )
    await producer.start()
    try:
        for body, headers in messages:
            await producer.send(
                topics.FACILITY_EVENTS,
                body,
                headers=[(k, v.encode("utf-8", "surrogatepass")) for k, v in headers.items()],
            )
        await producer.flush()
    finally:
        await producer.stop()
