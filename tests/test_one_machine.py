"""`mch up` on one machine, as the README says: four services ready, the README's example event
counted for the province; Ctrl-C or SIGTERM stops everything it started, a busy port is named before
anything starts, a service that dies is restarted while the rest runs on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mch_platform.testing import UpProcess as Up
from mch_platform.testing import free_base_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
MCH = str(Path(sys.executable).parent / "mch")


def readme_example() -> list[dict[str, object]]:
    """The events of the README's curl example, exactly as a reader would send them."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"curl -s localhost:8001/v1/events .*? -d '(\[.*?\])'", text, re.S)
    assert match, "the README lost its example"
    events: list[dict[str, object]] = json.loads(match.group(1))
    return events


STOP_BOUND = 10.0
"""What ``mch up`` promises: everything it started is gone within 10 s of a stop signal."""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def assert_all_gone(pids: set[int], ports: list[int], since: float, output: str) -> None:
    """Bounded wait for the condition; the bound is what mch up promises, measured from the signal."""
    while any(alive(p) for p in pids) or any(listening(p) for p in ports):
        left = [p for p in pids if alive(p)], [p for p in ports if listening(p)]
        assert time.monotonic() - since < STOP_BOUND, f"left behind: {left}\n{output}"
        time.sleep(0.1)
    print(
        f"all {len(pids)} children gone, {len(ports)} ports free in {time.monotonic() - since:.1f} s"
    )


def test_mch_up_runs_the_platform_and_the_readme_example_moves_the_province(tmp_path: Path) -> None:
    up = Up(tmp_path, "--demo-communes", "0", sigint=True)
    try:
        ready_in = up.wait_running()
        print(f"mch up: all four /readyz 200 and demo org units loaded in {ready_in:.1f} s")
        for url in up.urls:
            assert httpx.get(f"{url}/readyz").status_code == 200
        records, reporting = up.urls[0], up.urls[3]
        tokens = json.loads((tmp_path / "data" / "tokens.json").read_text())
        assert set(tokens) == {
            "admin",
            "province",
            "district",
            "commune",
            "commune_other",
            "facility",
        }

        def auth(name: str) -> dict[str, str]:
            return {"authorization": f"Bearer {tokens[name]}"}

        # Auth stays on: no token, no answer; the other commune's worker sees no province numbers.
        anonymous = httpx.post(f"{records}/v1/events", json=readme_example(), timeout=30)
        assert anonymous.status_code == 401
        outside = httpx.get(
            f"{reporting}/v1/indicators",
            params={"orgunit": "38004", "period": "2026-11"},
            headers=auth("commune_other"),
        )
        assert outside.status_code == 403
        answer = httpx.post(
            f"{records}/v1/events", json=readme_example(), headers=auth("facility"), timeout=30
        )
        assert [r["status"] for r in answer.json()["results"]] == ["accepted", "accepted"]
        sent = time.monotonic()

        def province_measured(token: str) -> dict[str, object]:
            body = httpx.get(
                f"{reporting}/v1/indicators",
                params={"orgunit": "38", "period": "2026-11"},
                headers=auth(token),
            ).json()
            return next(v for v in body["values"] if v["indicator"] == "U5_MEASURED")

        while True:
            measured = province_measured("admin")
            if measured["numerator"] == 1:
                assert (measured["denominator"], measured["value"]) == (1, 1.0), measured
                break
            assert time.monotonic() - sent < 30, measured
            time.sleep(0.05)
        print(f"README example → province U5_MEASURED in {time.monotonic() - sent:.2f} s")
        # One child is a small cell: the province's manager, who has no named access, sees it
        # suppressed.
        hidden = province_measured("province")
        assert (hidden["suppressed"], hidden["numerator"], hidden["value"]) == (True, None, None)
        again = httpx.post(
            f"{records}/v1/events", json=readme_example(), headers=auth("facility"), timeout=30
        )
        assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
        children, ports = up.children(), up.ports()
        assert len(children) == 5, up.output  # the broker and four services
    finally:
        up.process.send_signal(signal.SIGINT)  # Ctrl-C
        stopped = time.monotonic()
    assert_all_gone(children, ports, stopped, up.output)
    assert up.process.wait(timeout=60) == 0, up.output
    for name in ("records", "immunization", "growth", "reporting", "embedded broker"):
        assert f"  {name} stopped" in up.output
    for url in up.urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2)


def test_sigterm_stops_everything_mch_up_started(tmp_path: Path) -> None:
    up = Up(tmp_path, "--demo-communes", "0")
    try:
        up.wait_running()
        children, ports = up.children(), up.ports()
        assert len(children) == 5, up.output
    finally:
        up.process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
    assert_all_gone(children, ports, stopped, up.output)
    assert up.process.wait(timeout=60) == 0, up.output
    assert "SIGTERM: stopping" in up.output


def test_a_service_that_dies_is_restarted_and_the_rest_keeps_running(tmp_path: Path) -> None:
    up = Up(tmp_path, "--demo-communes", "0")
    try:
        up.wait_running()
        children = up.children()
        growth = next(p for p in children if b"serve\x00growth" in cmdline(p))
        os.kill(growth, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while not (restarted := up.children() - children) or not ready(up.urls[2]):
            assert up.process.poll() is None, up.output
            assert time.monotonic() < deadline, up.output
            time.sleep(0.5)
        assert [b"serve\x00growth" in cmdline(p) for p in restarted] == [True]
        assert all(alive(p) for p in children - {growth}), "the broker and the others run on"
        assert "growth was killed by SIGKILL (code -9); restarting it in 1 s" in up.output
        log = (tmp_path / "data" / "growth.log").read_text()
        assert log.count("growth ready on") == 2, "the restarted one appends to the same log"
    finally:
        code = up.stop(signal.SIGTERM)
    assert code == 0, up.output


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    def up(*args: str) -> subprocess.CompletedProcess[str]:
        command = [MCH, "up", "--data-dir", str(tmp_path / "data"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    base = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))
        taken.listen()
        result = up("--base-port", str(base))
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [
            f"mch up: port {base + 2} is in use (growth); free it or choose other ports with "
            "--base-port"
        ], result.stdout + result.stderr
        assert not (tmp_path / "data").exists(), "nothing was started or created"

        broker = up("--base-port", str(free_base_port()), "--broker-port", str(base + 2))
        assert broker.returncode != 0
        assert f"port {base + 2} is in use (embedded broker)" in broker.stderr, broker.stderr
        assert "--broker-port" in broker.stderr
