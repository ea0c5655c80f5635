"""The signed facility claim, as a table: which events it lets in and why it refuses the others;
key files with rotation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mch_events.claims import EXTENSION, claim_problems, load_keys, sign
from mch_events.contracts import facility as f
from mch_events.envelope import CloudEvent, new_event

STATION, OTHER = "TYT-38004", "TYT-38005"
SECRET, OTHER_SECRET, OLD_SECRET = b"a" * 32, b"b" * 32, b"c" * 32
KEYS = {STATION: [SECRET, OLD_SECRET], OTHER: [OTHER_SECRET]}


def visit(source: str = STATION, facility: str = STATION) -> CloudEvent:
    data = f.ChildVisit(
        visit_id=uuid.UUID(int=1),
        child_id=uuid.UUID(int=2),
        facility=facility,
        visit_date="2026-11-20",
        weight_kg=7.9,
    )
    return new_event(data, source=source, event_id="claim-test-1")


def changed(event: CloudEvent, **attrs: object) -> CloudEvent:
    return CloudEvent.model_validate(event.model_dump(mode="json") | attrs)


CASES: list[tuple[str, Callable[[], CloudEvent], set[str]]] = [
    ("signed by its own facility", lambda: sign(visit(), STATION, SECRET), set()),
    ("signed with the key being rotated out", lambda: sign(visit(), STATION, OLD_SECRET), set()),
    ("no claim", lambda: visit(), {EXTENSION}),
    ("malformed claim", lambda: changed(visit(), **{EXTENSION: "TYT-38004"}), {EXTENSION}),
    ("unknown facility", lambda: sign(visit("TYT-1"), "TYT-1", SECRET), {EXTENSION}),
    ("another facility's key", lambda: sign(visit(), STATION, OTHER_SECRET), {EXTENSION}),
    (
        "data changed after signing",
        lambda: changed(sign(visit(), STATION, SECRET), data={**visit().data, "weight_kg": 9.9}),
        {EXTENSION},
    ),
    (
        "id changed after signing",
        lambda: changed(sign(visit(), STATION, SECRET), id="claim-test-2"),
        {EXTENSION},
    ),
    (
        "revision raised after signing",
        lambda: changed(sign(visit(), STATION, SECRET), revision=2),
        {EXTENSION},
    ),
    (
        "posing as another source",
        lambda: sign(visit(source=STATION), OTHER, OTHER_SECRET),
        {"source", "data.facility"},
    ),
    (
        "care at another facility",
        lambda: sign(visit(facility=OTHER), STATION, SECRET),
        {"data.facility"},
    ),
]


@pytest.mark.parametrize(("make", "refused"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_claim_table(make: Callable[[], CloudEvent], refused: set[str]) -> None:
    problems = claim_problems(make(), KEYS)
    assert {p.field for p in problems} == refused
    assert all(p.code == "not_authorized" and p.message for p in problems)


def test_the_claim_survives_the_wire() -> None:
    """Binary mode re-serialises ``data``: the signature is over its canonical form."""
    from mch_events.envelope import from_kafka, to_kafka

    body, headers = to_kafka(sign(visit(), STATION, SECRET))
    spaced = json.dumps(json.loads(body), indent=2).encode()
    assert claim_problems(from_kafka(spaced, headers), KEYS) == []


def test_key_files(tmp_path: Path) -> None:
    good = tmp_path / "keys.json"
    good.write_text(json.dumps({STATION: "s" * 16, OTHER: ["n" * 20, "o" * 20]}))
    assert load_keys(good) == {STATION: [b"s" * 16], OTHER: [b"n" * 20, b"o" * 20]}
    short = tmp_path / "short.json"
    short.write_text(json.dumps({STATION: "short"}))
    with pytest.raises(ValueError, match="16 characters"):
        load_keys(short)
