"""One machine, one command: the embedded broker, SQLite, the four services, demo data.

``run_platform`` checks its ports, starts the broker and the services, waits until every service is
ready, loads the demo data in the background and then supervises the processes until a signal
(Ctrl-C, SIGTERM, SIGHUP) stops everything it started. ``Platform`` owns the processes;
``Supervisor`` restarts a service that exits (with backoff) and the embedded broker when it dies,
then asks the services to republish their state into the empty broker (``mch resync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from types import FrameType

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from mch_events.broker import EMBEDDED_CONSUMER_ENV
from mch_servicekit.migrations import upgrade
from mch_servicekit.waiting import pause

from .devauth import development_issuer, write_tokens
from .embedded_broker import EmbeddedBroker, free_port
from .services import SERVICES

console = Console()

PREFERRED_BROKER_PORT = 9092
"""The embedded broker takes Kafka's usual port when it is free (so ``mch simulate`` finds it
without options), any free port otherwise."""
STOP_SERVICES_WITHIN = 5.0
"""Seconds the services get to finish their batches and flush their outbox before they are killed;
the broker goes last, so everything ``mch up`` started is gone within 10 s of a stop signal. Killing
loses no more than stopping: a batch cut short was never committed, what was committed stays with
its outbox rows, and the memory-only broker forgets unconsumed events on any stop."""
PROBE_TIMEOUT = 2.0
"""A probe that takes longer counts as "not ready yet": the service may just be busy."""
SLOW_START_HINT = 60.0
"""After this many seconds a service that is still not ready is named, once (we keep waiting)."""


class PlatformError(Exception):
    """A reason not to start, or to stop, that fits on one line for the user."""


RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before the 1st, 2nd, … restart of a service that keeps exiting (the last one repeats)."""
STABLE_AFTER = 60.0
"""A service that ran this long before it exited starts its backoff from the beginning again."""
RESYNC_SERVICES = ("records", "immunization", "growth")
"""The services whose state an empty broker needs again: what they published (records' people and
records, immunization's and growth's assessments)."""


# -- ports -----------------------------------------------------------------------------------------
def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could not listen on ``port``: bound like uvicorn binds (SO_REUSEADDR, so
    connections of a process that just stopped do not count), refused only by a listener."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def service_ports(base_port: int) -> dict[str, int]:
    return {name: base_port + offset for offset, name in enumerate(SERVICES)}


def dashboard_link(reporting_url: str, token: str) -> str:
    """The dashboard with a token in the URL's fragment: a browser never sends a fragment to the
    server (no access log holds it), and the page moves it to the tab's session storage and out
    of the address bar at once."""
    return f"{reporting_url}/#token={token}"


def check_ports(base_port: int, broker_port: int | None) -> None:
    """Raise ``PlatformError`` naming the first busy port and the option that moves it."""
    ports = service_ports(base_port)
    if base_port < 1 or max(ports.values()) > 65535:
        raise PlatformError(f"--base-port {base_port}: the four services need ports up to 65535")
    for name, port in ports.items():
        if port_in_use(port):
            raise PlatformError(
                f"port {port} is in use ({name}); free it or choose other ports with --base-port"
            )
    if broker_port and port_in_use(broker_port):
        raise PlatformError(
            f"port {broker_port} is in use (embedded broker); free it or choose another with "
            "--broker-port"
        )


# -- processes -------------------------------------------------------------------------------------
def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when ``mch up`` dies, even by SIGKILL, so that no
    service or broker outlives it holding its port."""
    if sys.platform == "linux":
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class ServiceProcess:
    """One service: its port, its log, its process."""

    name: str
    port: int
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0
    """Exits in a row, each soon after its start: how far along ``RESTART_BACKOFF`` it is."""
    restart_at: float | None = None
    """When the supervisor starts it again (None: running, or not seen exiting yet)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        env = {**self.env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mch_platform", "serve", self.name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,  # started before the demo loader thread
            )
        self.started_at = time.monotonic()
        self.restart_at = None

    def exit_code(self) -> int | None:
        """None while it runs (or before it started)."""
        return self.process.poll() if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.running():
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def how_it_ended(self) -> str:
        code = self.exit_code()
        how = f"was killed by {signal.Signals(-code).name}" if code and code < 0 else "exited"
        return f"{how} (code {code})"


@dataclass
class Platform:
    """Everything ``mch up`` starts, stopped by its own handles."""

    data_dir: Path
    base_port: int
    broker_port: int | None = None
    broker: EmbeddedBroker | None = None
    bootstrap_servers: str = ""
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    auth_env: dict[str, str] = field(default_factory=dict)
    """The services' ``AUTH_*`` settings (the development issuer's, unless the environment names
    a real issuer)."""
    admin_headers: dict[str, str] = field(default_factory=dict)
    """What the demo loader sends to import the org units (an operator's token)."""

    def start_broker(self) -> None:
        configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if configured:
            self.bootstrap_servers = configured
            console.print(f"Kafka: [bold]{configured}[/] (KAFKA_BOOTSTRAP_SERVERS)")
            return
        log = self.data_dir / "broker.log"
        if self.broker_port:
            candidates = [self.broker_port]
        elif not port_in_use(PREFERRED_BROKER_PORT):
            # Another platform may take it between the check and the start: then any free port.
            candidates = [PREFERRED_BROKER_PORT, 0]
        else:
            candidates = [0]
        for port in candidates:
            self.broker = EmbeddedBroker(
                port=port or free_port(), log_file=log, preexec_fn=_die_with_parent
            )
            try:
                self.broker.start()
                break
            except (RuntimeError, TimeoutError) as exc:
                self.broker = None
                if port == candidates[-1]:
                    raise PlatformError(str(exc)) from exc
        assert self.broker is not None
        self.bootstrap_servers = self.broker.bootstrap_servers
        console.print(
            f"Kafka: embedded broker on [bold]{self.bootstrap_servers}[/] "
            f"(memory only, pid {self.broker.pid})"
        )

    def migrate(self, name: str) -> None:
        upgrade(SERVICES[name].package, self._database_url(name))

    def start_service(self, name: str, port: int) -> ServiceProcess:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self._database_url(name),
            **self.auth_env,
            **(EMBEDDED_CONSUMER_ENV if self.broker is not None else {}),
        }
        if name == "reporting":
            # The dashboard links to immunization's printable defaulter list.
            immunization = service_ports(self.base_port)["immunization"]
            env.setdefault("IMMUNIZATION_URL", f"http://127.0.0.1:{immunization}")
        service = ServiceProcess(name, port, self.data_dir, env)
        self.services[name] = service
        service.start()
        return service

    def _database_url(self, name: str) -> str:
        return f"sqlite:///{(self.data_dir / f'{name}.db').as_posix()}"

    def urls(self) -> dict[str, str]:
        return {name: service.url for name, service in self.services.items()}

    def exited(self) -> list[ServiceProcess]:
        """Services whose process ended (the supervisor restarts them)."""
        return [s for s in self.services.values() if s.exit_code() is not None]

    def restart_broker(self) -> None:
        """The embedded broker again, on the same port (the services and tools know that one).
        It starts empty: raises ``PlatformError`` when it cannot start (try again later)."""
        assert self.broker is not None
        self.broker.stop()  # reaps the dead process
        try:
            self.broker.start()
        except (RuntimeError, TimeoutError) as exc:
            raise PlatformError(str(exc)) from exc

    def broker_exited(self) -> bool:
        return self.broker is not None and not self.broker.running()

    def stop(self) -> None:
        """SIGTERM to every service, SIGKILL to those still running after
        ``STOP_SERVICES_WITHIN`` seconds, then the broker (the services flush to it first)."""
        self.stop_services()
        if self.broker is not None:
            self.broker.stop(timeout=1.5)
            console.print("  embedded broker stopped")

    def stop_services(self) -> None:
        for service in self.services.values():
            service.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SERVICES_WITHIN
        while any(s.running() for s in self.services.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        for service in self.services.values():
            if service.running():
                console.print(f"  {service.name} did not stop in time; killed")
                service.signal(signal.SIGKILL)
            if service.process is not None:
                service.process.wait()
                console.print(f"  {service.name} stopped")

    def kill(self) -> None:
        """At once, without waiting for anything (a second Ctrl-C)."""
        for service in self.services.values():
            service.signal(signal.SIGKILL)
        if self.broker is not None:
            self.broker.kill()


# -- signals ---------------------------------------------------------------------------------------
class StopSignals:
    """SIGINT, SIGTERM and SIGHUP ask the platform to stop; a second one kills it at once.

    SIGTERM is always handled: it is what process managers send, and the only signal a command
    started in the background by a non-interactive shell receives (its SIGINT is ignored). SIGINT
    and SIGHUP stay ignored when they were ignored at start (``nohup``, background jobs), as the
    shell meant."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self.requested = threading.Event()
        self.received: str | None = None

    def install(self) -> StopSignals:
        """For the rest of the process: a signal after the stop kills whatever is left at once
        instead of interrupting the exit with a traceback."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            if sig != signal.SIGTERM and signal.getsignal(sig) == signal.SIG_IGN:
                continue
            signal.signal(sig, self._handle)
        return self

    def stopping(self) -> None:
        """From now on a signal means: kill at once."""
        self.requested.set()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            console.print(f"{name} again: killing everything now")
            self._platform.kill()
            os._exit(128 + signum)
        self.received = name
        self.requested.set()


# -- running ---------------------------------------------------------------------------------------
def run_platform(
    *,
    data_dir: Path,
    fresh: bool,
    demo_communes: int,
    demo_months: int,
    base_port: int,
    broker_port: int | None = None,
) -> None:
    """Run until a signal; raises ``PlatformError`` (one line) when it cannot start."""
    check_ports(base_port, None if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else broker_port)
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    issuer = development_issuer(data_dir)
    tokens_file, tokens = write_tokens(issuer, data_dir) if issuer else (None, {})
    platform = Platform(
        data_dir=data_dir,
        base_port=base_port,
        broker_port=broker_port,
        auth_env=issuer.environment() if issuer else {},
        admin_headers={"authorization": f"Bearer {tokens['admin']}"} if tokens else {},
    )
    signals = StopSignals(platform).install()
    supervisor = Supervisor(platform, signals.requested)
    try:
        _start(platform, signals, supervisor)
        if signals.requested.is_set():
            return
        loader = DemoLoader(platform, signals.requested, demo_communes, demo_months)
        loader.start()
        _watch(platform, signals, supervisor, until=loader.orgunits_done)
        if signals.requested.is_set():
            return
        console.print(f"[green]Ready in {time.monotonic() - started:.1f} s[/]")
        for name, url in platform.urls().items():
            console.print(f"  {name:<13} {url}   API docs: {url}/docs")
        console.print(f"  logs and databases in {data_dir.resolve()}")
        if tokens_file is not None:
            console.print(f"  development tokens (admin, province, …) in {tokens_file.resolve()}")
            console.print("  dashboard, as the province's manager:")
            # Unwrapped, so the link can be copied whole from any terminal.
            console.print(
                f"  {dashboard_link(platform.urls()['reporting'], tokens['province'])}",
                soft_wrap=True,
                highlight=False,
            )
        console.print(f"Running (pid {os.getpid()}). Press Ctrl-C to stop.")
        _watch(platform, signals, supervisor, until=None)
    finally:
        signals.stopping()
        stopping = time.monotonic()
        console.print(f"{signals.received}: stopping…" if signals.received else "stopping…")
        platform.stop()
        console.print(f"stopped in {time.monotonic() - stopping:.1f} s")


def _start(platform: Platform, signals: StopSignals, supervisor: Supervisor) -> None:
    platform.start_broker()
    for name in SERVICES:
        if signals.requested.is_set():
            return
        platform.migrate(name)
    for name, port in service_ports(platform.base_port).items():
        platform.start_service(name, port)
    _wait_ready(platform, signals.requested, supervisor)


class Supervisor:
    """Keeps the platform running: a service that exits is started again after a backoff (its
    output goes on in its log), a dead embedded broker is started again on its port, and then the
    services republish their state into it, since it comes back empty."""

    def __init__(self, platform: Platform, stop: threading.Event) -> None:
        self._platform = platform
        self._stop = stop
        self._broker_retry_at = 0.0

    def check(self) -> None:
        """One round: called every half second while the platform runs."""
        now = time.monotonic()
        if self._platform.broker_exited() and now >= self._broker_retry_at:
            self._restart_broker()
        for service in self._platform.exited():
            if self._stop.is_set():
                return
            if service.restart_at is None:
                self._schedule(service, now)
            elif now >= service.restart_at:
                service.start()

    def _schedule(self, service: ServiceProcess, now: float) -> None:
        if now - service.started_at >= STABLE_AFTER:
            service.failures = 0
        delay = RESTART_BACKOFF[min(service.failures, len(RESTART_BACKOFF) - 1)]
        service.failures += 1
        service.restart_at = now + delay
        console.print(
            f"[yellow]{service.name} {service.how_it_ended()}; restarting it in {delay:.0f} s[/] "
            f"(log: {service.log_path})",
            soft_wrap=True,
        )

    def _restart_broker(self) -> None:
        """The services stop first and start again after the broker: a consumer that outlived the
        old log keeps its positions in it, and once the new log grows past them it would read on
        from there and skip what the new log holds before. Started afresh, they join groups the
        new broker has no offsets for and read each topic from its beginning."""
        broker = self._platform.broker
        assert broker is not None
        console.print(
            "[yellow]embedded broker died; the services stop while it restarts empty[/]",
            soft_wrap=True,
        )
        self._platform.stop_services()
        try:
            self._platform.restart_broker()
        except PlatformError as exc:
            self._broker_retry_at = time.monotonic() + RESTART_BACKOFF[1]
            console.print(f"[yellow]embedded broker could not restart ({exc}); trying again[/]")
            return
        for service in self._platform.services.values():
            service.start()
        console.print(
            f"[yellow]embedded broker restarted empty on {broker.bootstrap_servers} "
            f"(pid {broker.pid}); the services start again and republish their state[/]",
            soft_wrap=True,
        )
        threading.Thread(
            target=request_resync,
            args=(self._platform.urls(), self._stop, self._platform.admin_headers),
            name="mch-resync",
            daemon=True,
        ).start()


def request_resync(urls: dict[str, str], stop: threading.Event, headers: dict[str, str]) -> None:
    """Ask each service that publishes state to republish it (``POST /v1/admin/resync``, with the
    operator's ``headers``), as soon as it answers; one line per service."""
    pending = [name for name in RESYNC_SERVICES if name in urls]
    with httpx.Client(headers=headers) as client:
        while pending and not stop.is_set():
            for name in list(pending):
                try:
                    response = client.post(f"{urls[name]}/v1/admin/resync", timeout=PROBE_TIMEOUT)
                except httpx.HTTPError:
                    continue  # restarting or busy: ask again
                if response.status_code == 202:
                    console.print(f"  {name}: republishing its state")
                    pending.remove(name)
            pause(stop, 1.0)


def run_resync(
    urls: dict[str, str],
    *,
    headers: dict[str, str],
    wait: bool,
    echo: Callable[[str], object],
    timeout: float = 3600,
) -> bool:
    """``mch resync``: start a republish on each service (with the operator's ``headers``), then
    (``wait``) follow them until each is done and its outbox published. False when a service
    failed or did not answer."""
    ok = True
    with httpx.Client(timeout=30, headers=headers) as client:
        started = {}
        for name, url in urls.items():
            try:
                response = client.post(f"{url}/v1/admin/resync")
                response.raise_for_status()
            except httpx.HTTPError as exc:
                echo(f"{name}: {type(exc).__name__} ({url}): {exc}")
                ok = False
                continue
            echo(f"{name}: republishing its state")
            started[name] = url
        deadline = time.monotonic() + timeout
        while wait and started and time.monotonic() < deadline:
            for name, url in list(started.items()):
                try:
                    progress = client.get(f"{url}/v1/admin/resync").json()
                except (httpx.HTTPError, ValueError):
                    continue  # busy: ask again
                if progress["state"] == "failed":
                    echo(f"{name}: failed: {progress['error']}")
                    ok = False
                    del started[name]
                elif progress["state"] == "done" and progress["outbox_pending"] == 0:
                    echo(f"{name}: {progress['staged']:,} events republished and published")
                    del started[name]
            time.sleep(1.0)
        for name in started if wait else ():
            echo(f"{name}: still republishing after {timeout:.0f} s")
            ok = False
    return ok


def _watch(
    platform: Platform,
    signals: StopSignals,
    supervisor: Supervisor,
    until: threading.Event | None,
) -> None:
    """Until a signal or ``until`` is set, restarting what exits."""
    while not signals.requested.is_set():
        supervisor.check()
        if until is not None and until.is_set():
            return
        pause(signals.requested, 0.5)


def probe(client: httpx.Client, url: str) -> tuple[bool, str]:
    """(ready, why not): a slow, refused or failed answer is "not yet", never an error."""
    try:
        response = client.get(f"{url}/readyz", timeout=PROBE_TIMEOUT)
    except httpx.TimeoutException:
        return False, f"no answer within {PROBE_TIMEOUT:.0f} s"
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    if response.status_code == 200:
        return True, ""
    try:
        checks = response.json().get("checks", {})
        return False, ", ".join(
            f"{k} {v}" for k, v in checks.items() if k in ("database", "broker")
        )
    except ValueError:
        return False, f"HTTP {response.status_code}"


def _wait_ready(platform: Platform, stop: threading.Event, supervisor: Supervisor) -> None:
    pending = dict(platform.urls())
    started = time.monotonic()
    hinted: set[str] = set()
    with console.status("starting services…") as status, httpx.Client() as client:
        while pending and not stop.is_set():
            supervisor.check()
            for name, url in list(pending.items()):
                ready, why = probe(client, url)
                if ready:
                    console.print(f"  {name} ready")
                    del pending[name]
                elif time.monotonic() - started > SLOW_START_HINT and name not in hinted:
                    hinted.add(name)
                    log = platform.services[name].log_path
                    console.print(f"  {name} not ready yet ({why or 'starting'}); see {log}")
            status.update(f"waiting for {', '.join(pending)}…")
            pause(stop, 0.5)


# -- demo data -------------------------------------------------------------------------------------
def demo_orgunits_json() -> bytes:
    return (files("mch_records") / "data" / "orgunits-thanh-hoa.json").read_bytes()


class DemoLoader(threading.Thread):
    """Loads the demo org units, then publishes the demo events and shows them moving through the
    services. Whatever goes wrong is one line: the platform keeps running without the demo."""

    def __init__(
        self, platform: Platform, stop: threading.Event, communes: int, months: int
    ) -> None:
        super().__init__(name="mch-demo-loader", daemon=True)
        self._platform = platform
        self._stopping = stop  # not _stop: threading.Thread calls its own _stop() after a fork
        self._communes = communes
        self._months = months
        self.orgunits_done = threading.Event()

    def run(self) -> None:
        try:
            self._load()
        except Exception as exc:
            message = " ".join(str(exc).split())[:200]
            console.print(
                f"[yellow]demo data not loaded ({escape(type(exc).__name__)}: {escape(message)}); "
                "the platform keeps running[/]",
                soft_wrap=True,
            )
        finally:
            self.orgunits_done.set()

    def _load(self) -> None:
        urls = self._platform.urls()
        try:
            response = httpx.post(
                f"{urls['records']}/v1/orgunits/import",
                content=demo_orgunits_json(),
                headers=self._platform.admin_headers,
                timeout=120,
            )
            response.raise_for_status()
            console.print(f"Demo org units (Thanh Hóa) loaded: {response.json()}")
        finally:
            self.orgunits_done.set()
        if self._communes <= 0 or self._stopping.is_set():
            return
        end = dt.date.today()
        start = end - dt.timedelta(days=30 * self._months)
        sent = simulate_events(
            communes=self._communes,
            start=start,
            end=end,
            seed=1,
            http=None,
            bootstrap_servers=self._platform.bootstrap_servers,
        )
        if _wait_settled(urls, sent, self._stopping):
            console.print("[green]Demo data loaded[/]: every service has caught up")


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _consumed(client: httpx.Client, url: str) -> tuple[int, int] | None:
    """(events consumed since start, events waiting in the outbox) from a service's /readyz, or
    None when it does not answer in time (busy: ask again later)."""
    try:
        checks = client.get(f"{url}/readyz", timeout=PROBE_TIMEOUT).json()["checks"]
        return sum(checks["consumed"].values()), checks["outbox_pending"] or 0
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _wait_settled(
    urls: dict[str, str], sent: int, stop: threading.Event, timeout: float = 900
) -> bool:
    """Show the demo events moving through records until every service has caught up; False when
    stopped or still busy after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with _progress() as progress, httpx.Client() as client:
        task = progress.add_task("records consumed", total=sent)
        idle_since: float | None = None
        while time.monotonic() < deadline and not stop.is_set():
            states = {name: _consumed(client, url) for name, url in urls.items()}
            records = states["records"]
            if records is not None:
                progress.update(task, completed=min(records[0], sent))
            busy = (
                records is None
                or records[0] < sent
                or any(state is None or state[1] > 0 for state in states.values())
            )
            if busy:
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > 2:  # downstream consumers had time to catch up
                return True
            pause(stop, 0.5)
    if not stop.is_set():
        console.print("[yellow]demo events still being processed; the services keep going[/]")
    return False


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
