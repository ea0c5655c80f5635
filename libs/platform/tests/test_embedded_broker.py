"""The embedded broker only reports itself started when it is the one listening: two platforms on
one machine must never share a broker by mistake."""

from __future__ import annotations

import socket

import pytest

from mch_platform.embedded_broker import EmbeddedBroker, owns_listener

pytestmark = pytest.mark.integration


def test_a_port_held_by_another_process_is_refused_at_once() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(RuntimeError, match="port is in use"):
            EmbeddedBroker(port=port).start()


def test_only_the_broker_process_own_listener_counts() -> None:
    with EmbeddedBroker() as broker, socket.socket() as other:
        assert broker.pid is not None
        assert owns_listener(broker.pid, broker.port) is True
        other.bind(("127.0.0.1", 0))
        other.listen()
        assert owns_listener(broker.pid, other.getsockname()[1]) is False
