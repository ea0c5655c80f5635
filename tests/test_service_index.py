"""Each service answers at its base URL with an index of its links, and serves its documentation
pages with nothing loaded from another host."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from mch_events.broker import KafkaSettings

NO_BROKER = "127.0.0.1:9"  # the lifespan, which would connect, is not run
SERVICES = ["records", "immunization", "growth", "reporting"]


@pytest.fixture(params=SERVICES)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, TestClient]]:
    name: str = request.param
    app_module = importlib.import_module(f"mch_{name}.app")
    settings_module = importlib.import_module(f"mch_{name}.settings")
    settings_class = getattr(settings_module, f"{name.capitalize()}Settings")
    app = app_module.create_app(
        settings_class(database_url=f"sqlite:///{tmp_path}/{name}.db"),
        KafkaSettings(bootstrap_servers=NO_BROKER),
    )
    yield name, TestClient(app)
    app.state.ctx.engine.dispose()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


def test_the_index_answers_in_json_and_html(service: tuple[str, TestClient]) -> None:
    name, client = service
    as_json = client.get("/")
    assert as_json.status_code == 200
    body = as_json.json()
    assert body["service"] == name
    assert body["version"]
    assert set(body["links"]) >= {"docs", "redoc", "healthz", "readyz"}
    assert any(e["path"].startswith("/v1/") for e in body["endpoints"]), "its main endpoints"

    as_html = client.get("/", headers={"accept": "text/html"})
    assert as_html.status_code == 200
    assert as_html.headers["content-type"].startswith("text/html")
    assert {"/docs", "/redoc", "/healthz", "/readyz"} <= set(links(as_html.text))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_from_the_service_only(service: tuple[str, TestClient], page: str) -> None:
    _, client = service
    response = client.get(page)
    assert response.status_code == 200
    for url in links(response.text):
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{page} loads {url} from another host"
        assert client.get(url).status_code == 200, url
