"""``mch reporting rebuild`` follows the rebuild it started to its end: done, or failed with the
service's reason (as ``POST``/``GET /v1/rebuild`` answer; the service side is tested in
services/reporting/tests/test_rebuild.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mch_platform.reporting_cli import RebuildFailed, run_rebuild


def status(state: str, done: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "state": state,
        "step": "replaying" if state == "running" else None,
        "offsets_done": done,
        "offsets_total": 10,
        "events_applied": done,
        "events_per_second": None,
        "reason": None,
    } | fields


def service(answers: list[httpx.Response]) -> httpx.Client:
    calls = iter(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        response = next(calls)
        assert request.method == ("POST" if response.status_code != 200 else "GET")
        return response

    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://reporting")


def test_it_follows_a_rebuild_to_its_end_with_each_progress() -> None:
    client = service(
        [
            httpx.Response(202, json=status("running", 0)),
            httpx.Response(200, json=status("running", 6)),
            httpx.Response(200, json=status("done", 10, events_per_second=5000.0)),
        ]
    )
    seen: list[int] = []
    done = run_rebuild(client, progress=lambda s: seen.append(s["offsets_done"]), poll=0)
    assert done["state"] == "done"
    assert seen == [0, 6, 10]


def test_a_failed_rebuild_is_an_error_with_the_services_reason() -> None:
    reason = "the log no longer holds the whole history: ...; the live tables were kept"
    client = service(
        [
            httpx.Response(202, json=status("running", 0)),
            httpx.Response(200, json=status("failed", 3, reason=reason)),
        ]
    )
    with pytest.raises(RebuildFailed, match="no longer holds the whole history"):
        run_rebuild(client, progress=lambda s: None, poll=0)


def test_a_refused_start_is_an_error_with_the_services_reason() -> None:
    client = service([httpx.Response(409, json={"detail": "rebuild r0 is running; wait"})])
    with pytest.raises(RebuildFailed, match=r"refused \(409\): rebuild r0 is running"):
        run_rebuild(client, progress=lambda s: None, poll=0)
