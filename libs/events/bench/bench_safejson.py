"""What the JSON limits cost: ``safejson.loads`` against plain ``json.loads`` on ordinary bodies.

.venv/bin/python libs/events/bench/bench_safejson.py
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable

from mch_events import safejson

EVENT = {
    "visit_id": "3f1c2a9e-8d4b-4c1e-9a7f-2b6d5e8c0a11",
    "child_id": "a7e4b2c1-5f3d-4e8a-b9c6-1d2e3f4a5b6c",
    "facility": "TYT-38004",
    "visit_date": "2026-05-14",
    "weight_kg": 7.42,
    "length_height_cm": 68.5,
    "measured": "lying",
    "head_cm": 43.1,
    "muac_cm": 14.2,
    "oedema": False,
    "vitamin_a": True,
}
STRUCTURED = {
    "specversion": "1.0",
    "id": "5b0f1d2e-0c9a-4e1b-8f3d-7a6c5b4e3d2f",
    "source": "TYT-38004",
    "type": "vn.mch.child.visit.v1",
    "time": "2026-05-14T09:30:00+07:00",
    "data": EVENT,
}
BODIES = {
    "one event's data (Kafka binary mode)": json.dumps(EVENT).encode(),
    "one structured event": json.dumps(STRUCTURED, ensure_ascii=False).encode(),
    "HTTP batch of 1,000 events": json.dumps([STRUCTURED] * 1000).encode(),
}


def best_of(fn: Callable[[], object], number: int) -> float:
    """Seconds per call, the best of 5 runs (the others are slowed by whatever else runs)."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


def main() -> None:
    print(f"{'body':40} {'bytes':>8} {'json.loads':>12} {'safejson':>12} {'ratio':>6}")
    for name, body in BODIES.items():
        number = max(10, 2_000_000 // len(body))
        plain = best_of(lambda b=body: json.loads(b), number)
        safe = best_of(lambda b=body: safejson.loads(b, max_bytes=16 << 20), number)
        print(
            f"{name:40} {len(body):8} {plain * 1e6:10.1f}µs {safe * 1e6:10.1f}µs "
            f"{safe / plain:6.2f}"
        )


if __name__ == "__main__":
    main()
