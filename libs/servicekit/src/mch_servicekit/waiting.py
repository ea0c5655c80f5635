"""Waiting in threads for an event or a time, whichever comes first."""

from __future__ import annotations

import threading
import time

_SLICE = 0.05


def pause(event: threading.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` have passed; whether it is set.

    In short sleeps rather than ``event.wait(seconds)``: a condition wait with a timeout never
    returns when the clock is shifted with libfaketime (the test suite runs under it too), while
    ``time.sleep`` does."""
    deadline = time.monotonic() + seconds
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(left, _SLICE))
    return True
