"""Hostile JSON gets a reason, never an unexpected exception."""

from __future__ import annotations

import json

import pytest

from mch_events import safejson
from mch_events.contracts.results import ReasonCode

LIMIT = 1 << 20


def reason(body: bytes) -> ReasonCode:
    with pytest.raises(safejson.JSONRejected) as exc:
        safejson.loads(body, max_bytes=LIMIT)
    return exc.value.code


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"9" * 5000, ReasonCode.NUMBER_TOO_LARGE),
        (b'{"a": -' + b"1" * 5000 + b"}", ReasonCode.NUMBER_TOO_LARGE),
        (b"[0." + b"1" * 500 + b"]", ReasonCode.NUMBER_TOO_LARGE),
        (b"[1e400]", ReasonCode.NUMBER_TOO_LARGE),
        (b"[-1E+999]", ReasonCode.NUMBER_TOO_LARGE),
        (b"[" * 10_000 + b"]" * 10_000, ReasonCode.TOO_DEEP),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, ReasonCode.TOO_DEEP),
        (b"[" * 100_000, ReasonCode.TOO_DEEP),
        (b"[" * 33 + b"]" * 33, ReasonCode.TOO_DEEP),
        (b'{"name": "\xff\xfe"}', ReasonCode.INVALID_ENCODING),
        (b'{"name": "\\ud800"}', ReasonCode.INVALID_ENCODING),
        (b"[NaN]", ReasonCode.INVALID_NUMBER),
        (b'{"w": Infinity}', ReasonCode.INVALID_NUMBER),
        (b"-Infinity", ReasonCode.INVALID_NUMBER),
        (b"{not json", ReasonCode.MALFORMED_JSON),
        (b"", ReasonCode.MALFORMED_JSON),
        (b"[1] [2]", ReasonCode.MALFORMED_JSON),
        (b" " * (LIMIT + 1), ReasonCode.PAYLOAD_TOO_LARGE),
    ],
)
def test_each_kind_of_bad_body_has_its_reason(body: bytes, code: ReasonCode) -> None:
    assert reason(body) == code


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, -3e10, None, True, "x"]},
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],  # 32 deep: the limit
        {"id": "9" * 5000, "deep": "[" * 1000, "escaped": '"\\[{'},
        {"emoji": "\U0001f476", "vi": "Nguyễn Thị Ánh", "nul": "a\x00b"},
        [10**98, -(10**98), 1e300, 0.1234567890123456789],
        [{"k": [1, {"k": [2]}]}] * 5000,
    ],
)
def test_ordinary_json_is_read_as_json_loads_reads_it(value: object) -> None:
    body = json.dumps(value).encode()
    assert safejson.loads(body, max_bytes=LIMIT) == json.loads(body)
    unescaped = json.dumps(value, ensure_ascii=False).encode()
    assert safejson.loads(unescaped, max_bytes=LIMIT) == value


def test_a_byte_order_mark_is_tolerated() -> None:
    assert safejson.loads(b'\xef\xbb\xbf{"a": 1}', max_bytes=LIMIT) == {"a": 1}


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    body = json.dumps({"s": "[" * 100 + "{" * 100, "t": ['"]' * 50]}).encode()
    assert safejson.loads(body, max_bytes=LIMIT)["s"].startswith("[[")


def test_the_depth_limit_can_be_set() -> None:
    assert safejson.loads(b"[[[1]]]", max_bytes=LIMIT, max_depth=3) == [[[1]]]
    with pytest.raises(safejson.JSONRejected) as exc:
        safejson.loads(b"[[[[1]]]]", max_bytes=LIMIT, max_depth=3)
    assert exc.value.code == ReasonCode.TOO_DEEP
