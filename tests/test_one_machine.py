"""`mch up` on one machine, as the README says: four services ready, the README's example event
counted for the province, everything stopped by Ctrl-C."""

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


def free_base_port() -> int:
    for base in range(18001, 30000, 10):
        ports = range(base, base + 4)
        if all(_free(p) for p in ports):
            return base
    raise RuntimeError("no four free ports in a row")


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_mch_up_runs_the_platform_and_the_readme_example_moves_the_province(tmp_path: Path) -> None:
    base = free_base_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DATABASE_URL"))}
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                MCH,
                "up",
                "--data-dir",
                str(tmp_path / "data"),
                "--demo-communes",
                "0",
                "--base-port",
                str(base),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    urls = [f"http://127.0.0.1:{base + i}" for i in range(4)]
    try:
        started = time.monotonic()
        while "Running" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() - started < 120, log.read_text()
            time.sleep(0.5)
        ready_in = time.monotonic() - started
        print(f"mch up: all four /readyz 200 and demo org units loaded in {ready_in:.1f} s")
        for url in urls:
            assert httpx.get(f"{url}/readyz").status_code == 200
        records, reporting = urls[0], urls[3]
        answer = httpx.post(f"{records}/v1/events", json=readme_example(), timeout=30)
        assert [r["status"] for r in answer.json()["results"]] == ["accepted", "accepted"]
        sent = time.monotonic()
        while True:
            body = httpx.get(
                f"{reporting}/v1/indicators", params={"orgunit": "38", "period": "2026-11"}
            ).json()
            measured = next(v for v in body["values"] if v["indicator"] == "U5_MEASURED")
            if measured["numerator"] == 1:
                assert (measured["denominator"], measured["value"]) == (1, 1.0), body
                break
            assert time.monotonic() - sent < 30, body
            time.sleep(0.05)
        print(f"README example → province U5_MEASURED in {time.monotonic() - sent:.2f} s")
        again = httpx.post(f"{records}/v1/events", json=readme_example(), timeout=30)
        assert [r["status"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output
    assert output.count(" stopped") == 4, output
    for url in urls:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2)
