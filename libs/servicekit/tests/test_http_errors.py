"""Against a real uvicorn server: an unexpected error is a JSON 500 and the client's keep-alive
connection survives it; a JSON body over the limits is a 4xx with a reason, never a 5xx."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, Request
from pydantic import BaseModel

from mch_events.broker import KafkaSettings
from mch_servicekit.app import create_service
from mch_servicekit.guards import SafeJSONRoute
from mch_servicekit.settings import ServiceSettings

router = APIRouter(route_class=SafeJSONRoute)


class Reading(BaseModel):
    value: float


@router.get("/whoami")
def whoami(request: Request) -> dict[str, int]:
    """The client's port: the same port means the same connection."""
    assert request.client is not None
    return {"port": request.client.port}


@router.get("/boom")
def boom() -> None:
    raise RuntimeError("a bug")


@router.post("/readings")
def readings(body: Reading) -> Reading:
    return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: object) -> Iterator[str]:
    app = create_service(
        "probe",
        settings=ServiceSettings(service="probe", database_url=f"sqlite:///{tmp_path}/p.db"),
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),  # never connected: no lifespan
        routers=[router],
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    try:
        with httpx.Client() as probe:
            for _ in range(200):
                try:
                    probe.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        app.state.ctx.engine.dispose()


def test_an_unexpected_error_is_a_json_500_and_the_connection_stays_open(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        before = client.get("/whoami").json()["port"]
        failed = client.get("/boom")
        assert failed.status_code == 500
        assert failed.json()["detail"]["reason"] == "internal_error"
        after = client.get("/whoami")
        assert after.status_code == 200
        assert after.json()["port"] == before
        again = client.get("/boom")
        assert again.status_code == 500
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b'{"value": ' + b"9" * 5000 + b"}", 400, "number_too_large"),
        (b'{"value": 1e999}', 400, "number_too_large"),
        (b"[" * 10_000 + b"]" * 10_000, 400, "too_deep"),
        (b'{"value": "\xff"}', 400, "invalid_encoding"),
        (b'{"value": NaN}', 422, "invalid_number"),
        (b'{"value": -Infinity}', 422, "invalid_number"),
        (b'{"value": ', 400, "malformed_json"),
        (b" " * (9 * 1024 * 1024), 413, "payload_too_large"),
    ],
)
def test_a_json_body_over_the_limits_is_a_client_error(
    server: str, body: bytes, status: int, reason: str
) -> None:
    with httpx.Client(base_url=server) as client:
        response = client.post(
            "/readings", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, response.text
        assert response.json()["detail"]["reason"] == reason
        assert client.post("/readings", json={"value": 1.5}).json() == {"value": 1.5}


def test_a_route_that_would_read_json_without_limits_is_refused(tmp_path: object) -> None:
    plain = APIRouter()

    @plain.post("/unguarded")
    def unguarded(body: Reading) -> None: ...

    with pytest.raises(TypeError, match="/unguarded"):
        create_service(
            "probe",
            settings=ServiceSettings(service="probe", database_url=f"sqlite:///{tmp_path}/p.db"),
            routers=[plain],
        )
