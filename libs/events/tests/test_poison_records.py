"""Whatever a Kafka record holds, decoding it either succeeds or says why not (``EventError``);
and the reason codes, a public contract, are only ever added to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

from mch_events.consume import decode
from mch_events.contracts.results import EventResult, Problem, ReasonCode
from mch_events.envelope import CloudEvent, EventError
from mch_events.schemas import CONTRACT_DIR

HEADERS = [
    ("ce_id", b"e-1"),
    ("ce_source", b"TYT-38004"),
    ("ce_type", b"vn.mch.death.v1"),
    ("ce_specversion", b"1.0"),
    ("content-type", b"application/json"),
]


@dataclass
class Record:
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=lambda: list(HEADERS))
    topic: str = "mch.facility-events.v1"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (b'{"n": ' + b"9" * 5000 + b"}", ReasonCode.NUMBER_TOO_LARGE),
        (b"[" * 10_000 + b"]" * 10_000, ReasonCode.TOO_DEEP),
        (b"[" * 60_000, ReasonCode.TOO_DEEP),
        (b'{"cause": "\xc3\x28"}', ReasonCode.INVALID_ENCODING),
        (b"not json", ReasonCode.MALFORMED_JSON),
        (None, ReasonCode.MALFORMED_JSON),
        (b'{"x": "' + b"y" * 70_000 + b'"}', ReasonCode.PAYLOAD_TOO_LARGE),
        (b'{"date": NaN}', ReasonCode.INVALID_NUMBER),
        (b"[1, 2]", ReasonCode.SCHEMA_VIOLATION),  # data must be an object
    ],
)
def test_a_poison_record_is_an_event_error_with_its_reason(
    value: bytes | None, code: ReasonCode
) -> None:
    with pytest.raises(EventError) as exc:
        decode(Record(value))  # type: ignore[arg-type]
    assert exc.value.problems[0].code == code


def test_a_header_without_a_value_does_not_break_decoding() -> None:
    record = Record(b'{"person_id": "p"}', [*HEADERS, ("x-empty", None)])
    event, headers = decode(record)  # type: ignore[arg-type]
    assert isinstance(event, CloudEvent)
    assert headers["x-empty"] == ""


def test_structured_mode_poison_has_its_reason_too() -> None:
    record = Record(
        b'{"a":' * 5000 + b"}" * 5000, [("content-type", b"application/cloudevents+json")]
    )
    with pytest.raises(EventError) as exc:
        decode(record)  # type: ignore[arg-type]
    assert exc.value.problems[0].code == ReasonCode.TOO_DEEP


FIRST_RELEASE = {
    "malformed_json",
    "invalid_envelope",
    "unknown_type",
    "schema_violation",
    "payload_too_large",
    "unknown_org_unit",
    "unknown_reference",
    "implausible_value",
    "conflict",
    "processing_error",
}


def test_reason_codes_are_only_added_to() -> None:
    assert {c.value for c in ReasonCode} >= FIRST_RELEASE


def test_every_reason_code_is_documented() -> None:
    readme = (CONTRACT_DIR.parent / "README.md").read_text()
    section = readme.split("## Reasons", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", section)) >= {c.value for c in ReasonCode}


@pytest.mark.parametrize(
    "code",
    [
        ReasonCode.INVALID_ENCODING,
        ReasonCode.TOO_DEEP,
        ReasonCode.NUMBER_TOO_LARGE,
        ReasonCode.INVALID_NUMBER,
    ],
)
def test_the_new_codes_are_client_errors(code: ReasonCode) -> None:
    result = EventResult(id="e", status="rejected", problems=[Problem(code=code, message="m")])
    assert result.http_status == 422
