"""What ``mch up`` decides before and while it starts: busy ports are named, and a service that is
slow to answer its probe is "not ready yet", never a failure."""

from __future__ import annotations

import socket

import httpx
import pytest

from mch_platform.local import PlatformError, check_ports, port_in_use, probe
from mch_platform.testing import free_base_port


def test_a_listening_port_is_in_use_and_a_closed_one_is_not() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def test_the_busy_port_is_named_with_its_service_and_the_option_that_moves_it() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(PlatformError) as records:
            check_ports(port, None)
        assert str(records.value) == (
            f"port {port} is in use (records); free it or choose other ports with --base-port"
        )
        with pytest.raises(PlatformError) as broker:
            check_ports(free_base_port(), port)
        assert "(embedded broker)" in str(broker.value)
        assert "--broker-port" in str(broker.value)


def test_ports_beyond_the_range_are_refused() -> None:
    with pytest.raises(PlatformError, match="--base-port 65534"):
        check_ports(65534, None)


def test_a_refused_or_silent_probe_is_not_yet() -> None:
    with httpx.Client() as client:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        assert probe(client, f"http://127.0.0.1:{port}") == (False, "ConnectError")
        with socket.socket() as silent:  # accepts connections, never answers: a busy service
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            url = f"http://127.0.0.1:{silent.getsockname()[1]}"
            ready, why = probe(client, url)
    assert not ready
    assert why.startswith("no answer within")
