"""The CloudEvents envelope: both Kafka modes, structured JSON, and machine-readable reasons."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from mch_events.contracts import facility as f
from mch_events.contracts.results import EventResult, Problem, ReasonCode
from mch_events.envelope import (
    MAX_EVENT_BYTES,
    CloudEvent,
    EventError,
    from_kafka,
    new_event,
    parse,
    subject_key,
    to_kafka,
)


def visit() -> f.ChildVisit:
    return f.ChildVisit(
        visit_id=uuid.uuid4(),
        child_id=uuid.uuid4(),
        facility="TYT-38004",
        visit_date=dt.date(2026, 11, 3),
        weight_kg=9.1,
    )


def reasons(exc: pytest.ExceptionInfo[EventError]) -> set[ReasonCode]:
    return {p.code for p in exc.value.problems}


def test_binary_mode_round_trip_keeps_every_attribute() -> None:
    event = new_event(visit(), source="TYT-38004", revision=3)
    body, headers = to_kafka(event)
    assert headers["ce_type"] == "vn.mch.child.visit.v1"
    assert headers["ce_revision"] == "3"
    assert json.loads(body) == event.data
    assert from_kafka(body, headers) == event


def test_structured_mode_is_accepted_on_kafka_too() -> None:
    event = new_event(visit(), source="TYT-38004")
    body = event.model_dump_json().encode()
    assert from_kafka(body, {"content-type": "application/cloudevents+json"}) == event


def test_key_is_the_person_the_event_is_about() -> None:
    data = visit()
    assert subject_key(new_event(data, source="x")) == str(data.child_id).encode()


def test_missing_binary_headers_are_an_invalid_envelope() -> None:
    with pytest.raises(EventError) as exc:
        from_kafka(b"{}", {"ce_id": "1", "ce_type": "vn.mch.child.visit.v1"})
    assert reasons(exc) == {ReasonCode.INVALID_ENVELOPE}
    assert {p.field for p in exc.value.problems} == {"ce_source", "ce_specversion"}


def test_malformed_json_and_oversized_bodies_have_their_own_reasons() -> None:
    headers = {"ce_id": "1", "ce_type": "t", "ce_source": "s", "ce_specversion": "1.0"}
    with pytest.raises(EventError) as exc:
        from_kafka(b"{nope", headers)
    assert reasons(exc) == {ReasonCode.MALFORMED_JSON}
    with pytest.raises(EventError) as exc:
        from_kafka(b" " * (MAX_EVENT_BYTES + 1), headers)
    assert reasons(exc) == {ReasonCode.PAYLOAD_TOO_LARGE}


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"type": "vn.mch.unknown.v1"}, ReasonCode.UNKNOWN_TYPE, "type"),
        ({"specversion": "0.3"}, ReasonCode.INVALID_ENVELOPE, "specversion"),
        ({"id": ""}, ReasonCode.INVALID_ENVELOPE, "id"),
        ({"time": "yesterday"}, ReasonCode.INVALID_ENVELOPE, "time"),
        ({"data": {"visit_date": "2026-13-01"}}, ReasonCode.SCHEMA_VIOLATION, "data.visit_date"),
        ({"data": {"weight_kg": "heavy"}}, ReasonCode.SCHEMA_VIOLATION, "data.weight_kg"),
        ({"data": {"weigth_kg": 9}}, ReasonCode.SCHEMA_VIOLATION, "data.weigth_kg"),
        ({"data": {"visit_id": None}}, ReasonCode.SCHEMA_VIOLATION, "data.visit_id"),
    ],
)
def test_each_bad_event_is_answered_with_its_reason_and_field(
    change: dict[str, object], code: ReasonCode, field: str
) -> None:
    good = new_event(visit(), source="TYT-38004").model_dump(mode="json")
    bad = {**good, **{k: v for k, v in change.items() if k != "data"}}
    if "data" in change:
        bad["data"] = {**good["data"], **change["data"]}  # type: ignore[dict-item]
    with pytest.raises(EventError) as exc:
        parse(bad)
    assert code in reasons(exc)
    assert field in {p.field for p in exc.value.problems}


def test_revision_defaults_to_one_and_must_be_positive() -> None:
    raw = new_event(visit(), source="x").model_dump(mode="json", exclude={"revision"})
    assert CloudEvent.model_validate(raw).revision == 1
    with pytest.raises(EventError):
        parse({**raw, "revision": 0})


def test_birth_date_may_be_a_date_or_a_date_time() -> None:
    base = {
        "birth_id": str(uuid.uuid4()),
        "pregnancy_id": str(uuid.uuid4()),
        "mother_id": str(uuid.uuid4()),
        "facility": "BVDK-38",
        "place": "facility",
        "attendant": "midwife",
        "mode": "vaginal",
        "babies": [{"child_id": str(uuid.uuid4()), "sex": "F", "outcome": "live"}],
    }
    assert f.Birth.model_validate({**base, "birth_date": "2026-11-03"}).birth_date == dt.date(
        2026, 11, 3
    )
    when = f.Birth.model_validate({**base, "birth_date": "2026-11-03T22:15:00+07:00"}).birth_date
    assert isinstance(when, dt.datetime)


def test_http_status_of_a_result_follows_its_reason() -> None:
    def rejected(code: ReasonCode) -> EventResult:
        return EventResult(id="1", status="rejected", problems=[Problem(code=code, message="m")])

    assert rejected(ReasonCode.SCHEMA_VIOLATION).http_status == 422
    assert rejected(ReasonCode.PAYLOAD_TOO_LARGE).http_status == 413
    assert rejected(ReasonCode.CONFLICT).http_status == 409
    assert EventResult(id="1", status="accepted").http_status == 201
    assert EventResult(id="1", status="held").http_status == 202
    assert EventResult(id="1", status="duplicate").model_dump()["http_status"] == 200
