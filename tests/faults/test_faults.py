"""Faults injected into a running ``mch up``: each service, then the embedded broker, is killed with
SIGKILL while a few thousand facility events flow, and the province's numbers still come out exact.

The ledger is U5_MEASURED for Thanh Hóa province (``38``) in one month: every child sent is
registered at birth and measured once that month, so its numerator and its denominator equal the
number of children sent, once records stored them, growth scored them and reporting counted them.
The client retries what failed, as a facility system does. Over Kafka the events wait in the broker
while a service is down; the broker is killed only while events flow over HTTP, since what a
memory-only broker held unread dies with it (see the README). Then growth is killed once more, after
the broker restart (its group's offsets on the new broker may be those of the lost log), and a
`mch resync` of the healthy platform must change no number.

The rounds share one ``mch up`` and build on each other: each adds its children to the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mch_events.envelope import CloudEvent
from mch_platform.simulate import publish_kafka
from mch_platform.testing import UpProcess as Up

pytestmark = pytest.mark.integration

MCH = str(Path(sys.executable).parent / "mch")
CHILDREN_PER_ROUND = 400
"""Two events each (registration, visit): 800 events per round, half over HTTP, half over Kafka
when the broker is not the one killed."""
SETTLE = 300.0
"""Seconds the platform gets to count a round (bounded polling; it normally takes far less)."""


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    up = Up(tmp_path_factory.mktemp("faults"), "--demo-communes", "0")
    try:
        up.wait_running()
        yield up
    finally:
        code = up.stop()
        print(up.output[-3000:])
    assert code == 0


def period() -> tuple[str, dt.date]:
    """Last month (the care happened; the test passes on any date)."""
    first = (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return first.strftime("%Y-%m"), first


def children(count: int) -> list[dict[str, Any]]:
    """``count`` children of commune 38004, each registered at birth and measured last month."""
    _, start = period()
    events: list[dict[str, Any]] = []
    for i in range(count):
        child, born = str(uuid.uuid4()), start - dt.timedelta(days=365 + i % 60)
        birth_time = dt.datetime.combine(
            born, dt.time(9), tzinfo=dt.timezone(dt.timedelta(hours=7))
        )
        events.append(
            {
                "specversion": "1.0",
                "id": f"reg-{child}",
                "source": "TYT-38004",
                "type": "vn.mch.child.registered.v1",
                "time": birth_time.isoformat(),
                "data": {
                    "child_id": child,
                    "sex": "FM"[i % 2],
                    "birth_date": born.isoformat(),
                    "residence": "38004",
                },
            }
        )
        events.append(
            {
                "specversion": "1.0",
                "id": f"visit-{child}",
                "source": "TYT-38004",
                "type": "vn.mch.child.visit.v1",
                "data": {
                    "visit_id": str(uuid.uuid4()),
                    "child_id": child,
                    "facility": "TYT-38004",
                    "visit_date": (start + dt.timedelta(days=i % 25)).isoformat(),
                    "weight_kg": 9.0 + (i % 7) / 10,
                    "length_height_cm": 74.0 + (i % 5) / 2,
                    "measured": "lying",
                },
            }
        )
    return events


class Sender(threading.Thread):
    """A facility system: POSTs batches to records and retries each until records answers it
    (``accepted`` or, for what it stored before the failure, ``duplicate``)."""

    def __init__(
        self, url: str, headers: dict[str, str], events: list[dict[str, Any]], batch: int = 50
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.headers, self.events, self.batch = url, headers, events, batch
        self.sent = 0
        self.retries = 0
        self.error: str | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=30, headers=self.headers) as client:
                for start in range(0, len(self.events), self.batch):
                    self._send(client, self.events[start : start + self.batch])
                    self.sent = start + self.batch
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def _send(self, client: httpx.Client, batch: list[dict[str, Any]]) -> None:
        deadline = time.monotonic() + SETTLE
        while True:
            try:
                response = client.post(f"{self.url}/v1/events", json=batch)
                if response.status_code in (200, 207):
                    statuses = {r["status"] for r in response.json()["results"]}
                    assert statuses <= {"accepted", "duplicate"}, response.text
                    return
            except httpx.HTTPError:
                pass
            self.retries += 1
            assert time.monotonic() < deadline, "records never answered"
            time.sleep(0.5)


def kafka_send(bootstrap_servers: str, events: list[dict[str, Any]]) -> None:
    sent = asyncio.run(
        publish_kafka([CloudEvent.model_validate(e) for e in events], bootstrap_servers)
    )
    assert sent == len(events)


def u5_measured(up: Up) -> tuple[int, int] | None:
    code, _ = period()
    try:
        response = httpx.get(
            f"{up.url('reporting')}/v1/indicators",
            params={"orgunit": "38", "period": code},
            headers=up.headers("province"),
            timeout=10,
        )
        total = next(
            v
            for v in response.json()["values"]
            if v["indicator"] == "U5_MEASURED" and v.get("sex") is None  # not a row by sex
        )
        return total["numerator"], total["denominator"]
    except (httpx.HTTPError, ValueError, KeyError, StopIteration):
        return None


def wait_counted(up: Up, expected: int) -> None:
    deadline = time.monotonic() + SETTLE
    last = None
    while (last := u5_measured(up)) != (expected, expected):
        assert up.process.poll() is None, up.output
        assert time.monotonic() < deadline, f"counted {last}, sent {expected}\n{up.output}"
        time.sleep(1.0)


def kill_while_flowing(up: Up, victim: str, *, kafka: bool) -> None:
    events = children(CHILDREN_PER_ROUND)
    half = len(events) // 2 if kafka else len(events)
    sender = Sender(up.url("records"), up.headers("facility"), events[:half])
    sender.start()
    if kafka:
        kafka_send(up.bootstrap_servers, events[half : half + half // 2])
    deadline = time.monotonic() + SETTLE
    while sender.sent < half // 3:  # a third through: the rest flows into the fault
        assert sender.is_alive() or sender.sent >= half, sender.error
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(up.pid_of(victim), signal.SIGKILL)
    if kafka:
        kafka_send(up.bootstrap_servers, events[half + half // 2 :])
    sender.join(SETTLE)
    assert sender.error is None, sender.error
    assert sender.sent >= half
    print(f"{victim}: {len(events)} events sent, {sender.retries} HTTP retries")


ROUNDS = ["records", "growth", "immunization", "reporting"]
done: list[str] = []


@pytest.mark.parametrize("victim", ROUNDS)
def test_a_service_killed_while_events_flow_loses_nothing(platform: Up, victim: str) -> None:
    kill_while_flowing(platform, victim, kafka=True)
    done.append(victim)
    wait_counted(platform, CHILDREN_PER_ROUND * len(done))
    assert f"{victim} was killed by SIGKILL" in platform.output
    assert platform.process.poll() is None


def test_the_broker_killed_while_events_flow_loses_nothing(platform: Up) -> None:
    kill_while_flowing(platform, "broker", kafka=False)
    done.append("broker")
    wait_counted(platform, CHILDREN_PER_ROUND * len(done))
    assert "embedded broker restarted empty" in platform.output
    assert platform.process.poll() is None


def test_a_service_killed_after_the_broker_restarted_consumes_again(platform: Up) -> None:
    """Its group's offsets on the new broker may be those of the lost log; it must not sit idle."""
    kill_while_flowing(platform, "growth", kafka=True)
    done.append("growth again")
    wait_counted(platform, CHILDREN_PER_ROUND * len(done))
    assert platform.process.poll() is None


def consumed(up: Up, service: str) -> int:
    checks = httpx.get(f"{up.url(service)}/readyz", timeout=10).json()["checks"]
    return sum(checks["consumed"].values())


def test_mch_resync_on_a_healthy_platform_changes_no_number(platform: Up) -> None:
    before = consumed(platform, "reporting")
    result = subprocess.run(
        [MCH, "resync", "--base-port", str(platform.base), "--data-dir", str(platform.data_dir)],
        capture_output=True,
        text=True,
        timeout=SETTLE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    staged = {
        name: int(count.replace(",", ""))
        for name, count in re.findall(r"(\w+): ([\d,]+) events republished", result.stdout)
    }
    sent = CHILDREN_PER_ROUND * len(done)
    assert staged["records"] == 2 * sent, "every child and every visit"
    assert staged["growth"] == sent, "an assessment per visit"
    assert set(staged) == {"records", "growth", "immunization"}
    deadline = time.monotonic() + SETTLE
    # What U5_MEASURED is counted from; reporting reads immunization's topic too, or not (yet).
    counted_from = staged["records"] + staged["growth"]
    while consumed(platform, "reporting") < before + counted_from:
        assert time.monotonic() < deadline, result.stdout
        time.sleep(1.0)
    assert u5_measured(platform) == (sent, sent)
