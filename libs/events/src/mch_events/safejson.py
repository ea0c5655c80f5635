"""JSON from the outside world (Kafka records, HTTP bodies), parsed within limits.

``json.loads`` fails on hostile input in ways a caller does not expect: ``RecursionError`` for deep
nesting, a bare ``ValueError`` for an integer of more than 4,300 digits, ``UnicodeDecodeError`` for
bytes that are not UTF-8; and it accepts ``NaN`` and ``Infinity``, which are not JSON. ``loads`` raises
only ``JSONRejected``, with the reason code a client or a dead letter carries.

The limits cost little on ordinary input: numbers are checked as they are parsed, and the depth is
measured (by byte operations in C) only when the body has more brackets than the limit.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from .contracts.results import Problem, ReasonCode

MAX_DEPTH = 32
"""Nested arrays and objects; handbook events need fewer than ten."""
MAX_NUMBER_CHARS = 100
"""Characters in one number (sign, digits, point and exponent): far beyond any count or
measurement, far below where converting a number starts to cost real time."""

_BOM = b"\xef\xbb\xbf"
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'[]{}"'))
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_INFINITIES = (math.inf, -math.inf)


class JSONRejected(ValueError):
    """A body that is not acceptable JSON, with the reason."""

    def __init__(self, code: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(code=code, message=message)

    @property
    def code(self) -> ReasonCode:
        return self.problem.code


def _no_constant(name: str) -> NoReturn:
    raise JSONRejected(ReasonCode.INVALID_NUMBER, f"{name} is not a JSON number")


def _too_long(text: str) -> JSONRejected:
    return JSONRejected(
        ReasonCode.NUMBER_TOO_LARGE,
        f"a number of {len(text)} characters; the limit is {MAX_NUMBER_CHARS}",
    )


# Number hooks run for every number, so they do as little as they can.
def _checked_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _too_long(text)
    return int(text)


def _checked_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _too_long(text)
    value = float(text)
    if value in _INFINITIES:
        raise JSONRejected(ReasonCode.NUMBER_TOO_LARGE, f"{text} is out of range")
    return value


_DECODER = json.JSONDecoder(
    parse_constant=_no_constant, parse_int=_checked_int, parse_float=_checked_float
)


def _too_deep(body: bytes, max_depth: int) -> bool:
    # Keep only brackets and quotes (escaped backslashes and quotes gone first, so that the quotes
    # left pair up), drop what is between quotes, then peel the innermost pairs once per level;
    # all of it in C.
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    rest = b"".join(body.translate(None, _NOT_STRUCTURE).split(b'"')[::2])
    for _ in range(max_depth):
        rest, peeled = _INNERMOST_PAIR.subn(b"", rest)
        if not peeled:
            return False
    return _INNERMOST_PAIR.search(rest) is not None


def loads(body: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """Parse UTF-8 JSON (a byte order mark is tolerated) or raise ``JSONRejected``."""
    try:
        return _loads(body, max_bytes, max_depth)
    except JSONRejected:
        raise
    except RecursionError:
        # Unbalanced brackets escape the depth check (it counts pairs) but not this.
        raise JSONRejected(ReasonCode.TOO_DEEP, f"nested deeper than {max_depth}") from None
    except UnicodeError as exc:
        raise JSONRejected(ReasonCode.INVALID_ENCODING, f"not UTF-8: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JSONRejected(ReasonCode.MALFORMED_JSON, f"not valid JSON: {exc}") from None
    except Exception as exc:
        # Whatever else the parser may raise, the caller gets a reason, never a crash.
        raise JSONRejected(
            ReasonCode.MALFORMED_JSON, f"not valid JSON: {type(exc).__name__}: {exc}"[:300]
        ) from None


def _loads(body: bytes, max_bytes: int, max_depth: int) -> Any:
    if len(body) > max_bytes:
        raise JSONRejected(
            ReasonCode.PAYLOAD_TOO_LARGE, f"the body is {len(body)} bytes; the limit is {max_bytes}"
        )
    if body.count(b"[") + body.count(b"{") > max_depth and _too_deep(body, max_depth):
        raise JSONRejected(ReasonCode.TOO_DEEP, f"nested deeper than {max_depth}")
    value = _DECODER.decode(body.removeprefix(_BOM).decode("utf-8"))
    if b"\\ud" in body or b"\\uD" in body:
        # An unpaired surrogate escape ("\ud800") parses, but no UTF-8 text or database can
        # hold it.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    return value
