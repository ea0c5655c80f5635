"""The `mch` command as an operator uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mch_platform.embedded_broker import EmbeddedBroker

MCH = str(Path(sys.executable).parent / "mch")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MCH, *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in (
        "up", "serve", "migrate", "resync", "simulate", "schemas", "growth", "reporting"
    ):  # fmt: skip
        assert command in result.stdout


def test_an_unknown_service_is_a_clear_error() -> None:
    result = run("serve", "billing")
    assert result.returncode != 0
    assert "unknown service 'billing'" in result.stdout + result.stderr


def test_simulate_refuses_a_backwards_date_range() -> None:
    result = run("simulate", "--from", "2026-11-10", "--to", "2026-11-01")
    assert result.returncode != 0
    assert "--from is after --to" in result.stdout + result.stderr


@pytest.mark.integration
def test_simulate_publishes_deterministic_events_on_kafka(kafka_broker: EmbeddedBroker) -> None:
    args = ("simulate", "--communes", "1", "--from", "2026-11-01", "--to", "2026-11-07")
    first = run(*args, "--seed", "7", "--bootstrap-servers", kafka_broker.bootstrap_servers)
    assert first.returncode == 0, first.stderr
    assert "published" in first.stdout
    second = run(*args, "--seed", "7", "--bootstrap-servers", kafka_broker.bootstrap_servers)
    counts = [line for line in first.stdout.splitlines() if line.startswith("Simulating")]
    assert counts == [line for line in second.stdout.splitlines() if line.startswith("Simulating")]


def test_schemas_export_writes_the_contract(tmp_path: Path) -> None:
    result = run("schemas", "export", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "jsonschema" / "vn.mch.child.visit.v1.json").exists()
    assert (tmp_path / "asyncapi" / "records.json").exists()


def test_resync_of_a_service_that_does_not_answer_fails_naming_it() -> None:
    """(A resync that works: tests/faults, against a running ``mch up``.)"""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run("resync", "growth", "--url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"growth: ConnectError (http://127.0.0.1:{port})")
    both = run("resync", "--url", f"http://127.0.0.1:{port}")
    assert both.returncode != 0
    assert "--url names one service" in both.stdout + both.stderr


def test_a_rebuild_of_a_service_that_does_not_answer_fails_with_the_reason() -> None:
    """(A rebuild that works: services/reporting/tests/test_rebuild.py, and the states it goes
    through below.)"""
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run("reporting", "rebuild", "--url", f"http://127.0.0.1:{port}", "--token", "x")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mch reporting rebuild: failed: ConnectError" in result.stderr
