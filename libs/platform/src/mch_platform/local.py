"""One machine, one command: the embedded broker, SQLite, the four services, demo data."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mch_servicekit.migrations import upgrade

from .devauth import development_issuer, write_tokens
from .embedded_broker import EmbeddedBroker, free_port
from .services import SERVICES

console = Console()


def demo_orgunits_json() -> bytes:
    return (files("mch_records") / "data" / "orgunits-thanh-hoa.json").read_bytes()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def _broker(data_dir: Path) -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        console.print(f"Kafka: [bold]{configured}[/] (KAFKA_BOOTSTRAP_SERVERS)")
        yield configured
        return
    port = 9092 if _port_free(9092) else free_port()
    with EmbeddedBroker(port=port, log_file=data_dir / "broker.log") as broker:
        console.print(
            f"Kafka: embedded broker on [bold]{broker.bootstrap_servers}[/] "
            f"(memory only, pid {broker.pid})"
        )
        yield broker.bootstrap_servers


def _wait_ready(
    urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    with console.status("starting services…") as status:
        while pending:
            for name, url in list(pending.items()):
                if processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited with code {processes[name].returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        console.print(f"  {name} ready")
                        del pending[name]
            if time.monotonic() > deadline:
                raise TimeoutError(f"not ready within {timeout:.0f} s: {', '.join(pending)}")
            status.update(f"waiting for {', '.join(pending)}…")
            time.sleep(0.5)


def run_platform(
    *, data_dir: Path, fresh: bool, demo_communes: int, demo_months: int, base_port: int
) -> None:
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    issuer = development_issuer(data_dir)
    tokens_file, tokens = write_tokens(issuer, data_dir) if issuer else (None, {})
    admin = {"authorization": f"Bearer {tokens['admin']}"} if tokens else {}
    with _broker(data_dir) as bootstrap:
        env_common = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "DATA_DIR": str(data_dir)}
        env_common |= issuer.environment() if issuer else {}
        urls: dict[str, str] = {}
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for offset, (name, spec) in enumerate(SERVICES.items()):
                url = f"sqlite:///{(data_dir / f'{name}.db').as_posix()}"
                upgrade(spec.package, url)
                port = base_port + offset
                env = {**env_common, "DATABASE_URL": url, "PORT": str(port), "HOST": "127.0.0.1"}
                log = open(data_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
                processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "mch_platform", "serve", name],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
                log.close()
                urls[name] = f"http://127.0.0.1:{port}"
            _wait_ready(urls, processes, timeout=90)
            response = httpx.post(
                f"{urls['records']}/v1/orgunits/import",
                content=demo_orgunits_json(),
                headers=admin,
                timeout=60,
            )
            response.raise_for_status()
            console.print(f"Demo org units (Thanh Hóa) loaded: {response.json()}")
            console.print(f"[green]Ready in {time.monotonic() - started:.1f} s[/]")
            for name, url in urls.items():
                console.print(f"  {name:<13} {url}   API docs: {url}/docs")
            console.print(f"  logs and databases in {data_dir.resolve()}")
            if tokens_file is not None:
                console.print(
                    f"  development tokens (admin, province, …) in {tokens_file.resolve()}"
                )
            if demo_communes > 0:
                end = dt.date.today()
                start = end - dt.timedelta(days=30 * demo_months)
                sent = simulate_events(
                    communes=demo_communes,
                    start=start,
                    end=end,
                    seed=1,
                    http=None,
                    bootstrap_servers=bootstrap,
                )
                _wait_settled(urls, sent)
            console.print("Running. Press Ctrl-C to stop.")
            _wait_forever(processes)
        except KeyboardInterrupt:
            console.print("stopping…")
        finally:
            _stop_all(processes)


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _consumed(url: str) -> tuple[int, int]:
    """(events consumed since start, events waiting in the outbox) from a service's /readyz."""
    checks = httpx.get(f"{url}/readyz", timeout=5).json()["checks"]
    return sum(checks["consumed"].values()), checks["outbox_pending"] or 0


def _wait_settled(urls: dict[str, str], sent: int, timeout: float = 900) -> None:
    """Show the demo events moving through records until every service has caught up."""
    deadline = time.monotonic() + timeout
    with _progress() as progress:
        task = progress.add_task("records", total=sent)
        idle_since: float | None = None
        while time.monotonic() < deadline:
            done, pending = _consumed(urls["records"])
            progress.update(task, completed=min(done, sent))
            busy = pending > 0 or done < sent
            for name in ("growth", "reporting", "immunization"):
                busy = busy or _consumed(urls[name])[1] > 0
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 2:  # downstream consumers had time to catch up
                return
            time.sleep(0.5)
    console.print("[yellow]demo events still being processed; the services keep going[/]")


def _wait_forever(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    while True:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see its log")
        time.sleep(1)


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        console.print(f"  {name} stopped")


def demo_communes(count: int) -> list[object]:
    """The first ``count`` communes of the demo tree in force today, with their stations."""
    from mch_events.contracts.records import OrgUnit
    from mch_events.orgtree import OrgTree
    from mch_records.domain.orgunits import from_json

    from .simulate import SimCommune

    tree = OrgTree(from_json(demo_orgunits_json()))
    today = dt.date.today()
    communes: list[object] = []
    units: list[OrgUnit] = sorted(
        (u for u in tree.versions() if u.level == "commune" and tree.exists(u.code, today)),
        key=lambda u: u.code,
    )
    for unit in units:
        stations = [c for c in tree.children(unit.code, today) if c.kind == "commune_station"]
        if stations:
            communes.append(SimCommune(commune=unit.code, station=stations[0].code))
        if len(communes) == count:
            break
    return communes


def simulate_events(
    *,
    communes: int,
    start: dt.date,
    end: dt.date,
    seed: int,
    http: str | None,
    bootstrap_servers: str,
    token: str | None = None,
) -> int:
    """Publish the demo events; returns how many were sent."""
    from .simulate import generate, publish_http, publish_kafka

    chosen = demo_communes(communes)
    events = list(generate(chosen, start, end, seed))  # type: ignore[arg-type]
    console.print(
        f"Simulating {len(events):,} facility events for {len(chosen)} communes, "
        f"{start} → {end} (seed {seed})"
    )
    with _progress() as progress:
        task = progress.add_task("publishing", total=len(events))

        def advance(n: int) -> None:
            progress.update(task, advance=n)

        if http:
            auth = {"authorization": f"Bearer {token}"} if token else {}
            with httpx.Client(timeout=60, headers=auth) as client:
                summary = publish_http(events, http, progress=advance, client=client)
            console.print(f"records answered: {dict(summary.statuses)}")
            return summary.sent
        sent = asyncio.run(publish_kafka(events, bootstrap_servers, progress=advance))
    console.print(f"published {sent:,} events on Kafka")
    return sent
