"""Pytest plugin shared by every package's tests (loaded with ``-p mch_platform.testing``).

Integration fixtures start the real parts: the embedded Kafka-protocol broker on a free port, and a
PostgreSQL database of the test's own (created and dropped around it). Under CI a missing
PostgreSQL fails the run; elsewhere the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mch_events.broker import EMBEDDED_CONSUMER_ENV
from mch_servicekit.access.devissuer import DevIssuer
from mch_servicekit.access.policy import Role

from .embedded_broker import EmbeddedBroker
from .local import port_in_use

PG_ADMIN_URL = os.environ.get(
    "MCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


_ISSUER: DevIssuer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Every service a test builds verifies tokens of one test issuer (auth is never off in
    tests): its key pair lives in a temporary directory for the run, and the services find it
    through the ``AUTH_*`` environment, as deployed ones do."""
    global _ISSUER
    if _ISSUER is None:
        _ISSUER = DevIssuer(Path(tempfile.mkdtemp(prefix="mch-test-issuer-")))
        os.environ.update(_ISSUER.environment())
        for name, value in EMBEDDED_CONSUMER_ENV.items():
            os.environ.setdefault(name, value)


def pytest_unconfigure(config: pytest.Config) -> None:
    global _ISSUER
    if _ISSUER is not None:
        shutil.rmtree(_ISSUER.directory, ignore_errors=True)
        _ISSUER = None


def test_issuer() -> DevIssuer:
    """The run's test issuer (see ``pytest_configure``)."""
    if _ISSUER is None:
        raise RuntimeError("the mch_platform.testing plugin is not loaded")
    return _ISSUER


test_issuer.__test__ = False  # type: ignore[attr-defined]


def bearer(
    roles: Iterable[Role | str] = tuple(Role),
    orgunits: Iterable[str] = ("VN",),
    *,
    facility: str | None = None,
    subject: str = "test-user",
) -> dict[str, str]:
    """An ``authorization`` header with a token of the test issuer; by default one that every role
    and the whole country allow (for tests about something other than access)."""
    token = test_issuer().token(subject, roles, orgunits, facility=facility)
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A fresh embedded broker for one test, stopped afterwards."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as broker:
        yield broker


@pytest.fixture(scope="module")
def module_kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded broker shared by the tests of a module."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log) as broker:
        yield broker


def _create_database() -> tuple[str, str]:
    name = f"mch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is required under CI: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    admin.dispose()
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    return name, url


def _drop_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def pg_databases() -> Iterator[Callable[[], str]]:
    """A factory of PostgreSQL databases (one per call), all dropped after the test."""
    names: list[str] = []

    def make() -> str:
        name, url = _create_database()
        names.append(name)
        return url

    yield make
    for name in names:
        _drop_database(name)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a PostgreSQL database created for this test and dropped after it."""
    name, url = _create_database()
    try:
        yield url
    finally:
        _drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """Each test using it runs twice: on SQLite and on a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/test.db"
        return
    name, url = _create_database()
    try:
        yield url
    finally:
        _drop_database(name)


@contextlib.asynccontextmanager
async def running(
    service: str,
    *,
    database_url: str,
    bootstrap_servers: str,
    today: Callable[[], dt.date] | None = None,
    **settings: object,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """One service, migrated and started in this process (subscribers, relay and all), with an
    HTTP client bound to it; stopped on exit. ``today`` fixes the clock of the services that
    read the date (records, immunization)."""
    from mch_events.broker import KafkaSettings
    from mch_servicekit.migrations import upgrade

    from .services import SERVICES

    spec = SERVICES[service]
    upgrade(spec.package, database_url)
    module = importlib.import_module(f"{spec.package}.settings")
    settings_cls = next(
        v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings"
    )
    clock = {} if today is None else {"today": today}
    app = spec.app_factory()(
        settings=settings_cls(database_url=database_url, **settings),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers),
        **clock,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{service}", headers=bearer()
        ) as client:
            yield app, client


@contextlib.asynccontextmanager
async def running_platform(
    names: Iterable[str], *, data_dir: Path, bootstrap_servers: str, tokenless: bool = False
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Several services in this process on SQLite under ``data_dir``, as the platform runs them
    (immunization forecasting again every half second), with a client each: one that sends a
    token every role and the whole country allow, or (``tokenless``) none unless asked."""
    clients: dict[str, httpx.AsyncClient] = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            started = (
                running(
                    name,
                    database_url=f"sqlite:///{data_dir}/{name}.db",
                    bootstrap_servers=bootstrap_servers,
                    reforecast_interval_seconds=0.5,
                )
                if name == "immunization"
                else running(
                    name,
                    database_url=f"sqlite:///{data_dir}/{name}.db",
                    bootstrap_servers=bootstrap_servers,
                )
            )
            _, client = await stack.enter_async_context(started)
            if tokenless:
                client.headers.clear()
            clients[name] = client
        yield clients


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 90.0) -> None:
    """Wait for ``check`` to hold, polling; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.2)


def free_base_port() -> int:
    """Four free ports in a row, from a random start: other checkouts run these tests too."""
    for _ in range(200):
        base = random.randrange(18001, 40000, 10)
        if not any(port_in_use(p) for p in range(base, base + 4)):
            return base
    raise RuntimeError("no four free ports in a row")


RESTORE_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
"""A shell that starts a command in the background leaves its SIGINT ignored; Ctrl-C in a terminal
does not. This wrapper makes the child look like the latter."""

SERVICE_ORDER = ("records", "immunization", "growth", "reporting")
"""``mch up``'s ports from ``--base-port`` on."""


class UpProcess:
    """``mch up`` as a subprocess of a test, its output in ``folder/up.log``, its data in
    ``folder/data``; stopped by its own handle (``stop``). It runs with the development issuer of
    ``mch up`` (its ``data/tokens.json``), not the test issuer of this plugin."""

    def __init__(self, folder: Path, *args: str, base: int | None = None, sigint: bool = False):
        self.base = base if base is not None else free_base_port()
        self.log = folder / "up.log"
        self.data_dir = folder / "data"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KAFKA_", "DATABASE_URL", "AUTH_"))
        }
        mch = str(Path(sys.executable).parent / "mch")
        command = [mch, "up", "--data-dir", str(self.data_dir), "--base-port", str(self.base)]
        if sigint:
            command = [sys.executable, "-c", RESTORE_SIGINT, *command]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [*command, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=folder
            )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def urls(self) -> list[str]:
        return [self.url(name) for name in SERVICE_ORDER]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.base + SERVICE_ORDER.index(service)}"

    def headers(self, token: str) -> dict[str, str]:
        """A development token ``mch up`` wrote (``facility``, ``province``, ``admin``, …)."""
        tokens = json.loads((self.data_dir / "tokens.json").read_text("utf-8"))
        return {"authorization": f"Bearer {tokens[token]}"}

    @property
    def bootstrap_servers(self) -> str:
        found = re.search(r"embedded broker on (127\.0\.0\.1:\d+)", self.output)
        assert found, self.output
        return found.group(1)

    def ports(self) -> list[int]:
        """The four service ports and the embedded broker's."""
        broker = int(self.bootstrap_servers.rsplit(":", 1)[1])
        return [self.base + i for i in range(len(SERVICE_ORDER))] + [broker]

    def wait_running(self, seconds: float = 300) -> float:
        """Until it prints ``Running``; how long that took."""
        started = time.monotonic()
        while "Running" not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() - started < seconds, self.output
            time.sleep(0.5)
        return time.monotonic() - started

    def children(self) -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.add(int(stat.parent.name))
        return found

    def pid_of(self, name: str) -> int:
        """The process of a service (``serve NAME``) or of the broker (``broker``)."""
        marker = b"broker\x00--listener-url" if name == "broker" else b"serve\x00" + name.encode()
        for pid in self.children():
            with contextlib.suppress(OSError):
                if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return pid
        raise AssertionError(f"no {name} process under mch up\n{self.output}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=60)
