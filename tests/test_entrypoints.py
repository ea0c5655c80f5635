"""What the container images run, run outside a container: each service starts from `mch serve`
with nothing but environment variables, after `mch migrate` as a separate one-shot command, becomes
ready against a real broker and PostgreSQL, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mch_platform.embedded_broker import EmbeddedBroker, free_port

pytestmark = pytest.mark.integration

MCH = str(Path(sys.executable).parent / "mch")


@pytest.mark.parametrize("service", ["records", "immunization", "growth", "reporting"])
def test_service_starts_from_environment_variables_only(
    service: str, kafka_broker: EmbeddedBroker, pg_databases: Callable[[], str], tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        "DATABASE_URL": pg_databases().replace("postgresql+psycopg://", "postgresql://"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "OTEL_SERVICE_NAME": f"mch-{service}",
    }
    migrate = subprocess.run(
        [MCH, "migrate", service], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    again = subprocess.run([MCH, "migrate", service], env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, "migrations must be safe to re-run before every upgrade"

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [MCH, "serve", service], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path
        )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, log.read_text()[-3000:]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["service"] == service
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    # Uvicorn re-raises the signal after a graceful shutdown, as process managers expect.
    assert code in (0, -signal.SIGTERM), log.read_text()[-3000:]
    assert "Application shutdown complete" in log.read_text()
    assert not (tmp_path / "data").exists(), "with DATABASE_URL set nothing is written locally"
