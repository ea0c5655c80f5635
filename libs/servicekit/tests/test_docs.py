"""The documentation pages and the index work without internet: every script, style sheet and link
they name is served by the service itself, and the index gives way to a page of the service's own."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from mch_events.broker import KafkaSettings
from mch_platform.testing import bearer
from mch_servicekit.app import create_service
from mch_servicekit.settings import ServiceSettings

NO_BROKER = "127.0.0.1:9"  # nothing listens: the lifespan, which would connect, is not run

probe = APIRouter(tags=["probe"])


@probe.get("/v1/things", summary="List the things")
def things() -> list[str]:
    return []


@probe.get("/v1/things/{thing_id}")
def thing(thing_id: str) -> str:
    return thing_id


def service(tmp_path: Path, *routers: APIRouter, index_path: str | None = "/") -> FastAPI:
    return create_service(
        "probe",
        settings=ServiceSettings(service="probe", database_url=f"sqlite:///{tmp_path}/p.db"),
        kafka=KafkaSettings(bootstrap_servers=NO_BROKER),
        routers=routers,
        description="A service for the tests <b>escaped</b>.",
        index_path=index_path,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app = service(tmp_path, probe)
    # The index links every route, the operator's among them.
    yield TestClient(app, headers=bearer())
    app.state.ctx.engine.dispose()


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    return parser.urls


@pytest.mark.parametrize(
    ("page", "kinds"),
    [
        ("/docs", {"text/javascript", "text/css", "image/png"}),
        ("/redoc", {"text/javascript", "image/png"}),
    ],
)
def test_docs_pages_load_everything_from_the_service(
    client: TestClient, page: str, kinds: set[str]
) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = references(response.text)
    assert urls, "the page names its scripts and styles"
    seen = set()
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{page} loads {url} from another host"
        asset = client.get(url)
        assert asset.status_code == 200, url
        seen.add(asset.headers["content-type"].split(";")[0])
    assert seen == kinds
    assert "/openapi.json" in response.text
    assert "googleapis" not in response.text


def test_swagger_ui_fetches_no_validator_badge(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_the_bundles_are_the_real_ones(client: TestClient) -> None:
    swagger = client.get("/docs-assets/swagger-ui-bundle.js")
    redoc = client.get("/docs-assets/redoc.standalone.js")
    assert "SwaggerUIBundle" in swagger.text
    assert "Redoc" in redoc.text[:2000]
    assert client.get("/docs-assets/swagger-ui.css").text.lstrip().startswith(".swagger-ui")


def test_docs_honour_a_root_path(tmp_path: Path) -> None:
    app = service(tmp_path, probe)
    with_prefix = TestClient(app, root_path="/growth")
    for url in references(with_prefix.get("/docs").text):
        assert url.startswith("/growth/docs-assets/"), url
    assert "/growth/openapi.json" in with_prefix.get("/redoc").text
    app.state.ctx.engine.dispose()


def test_the_index_is_json_by_default(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert (body["service"], body["version"]) == ("probe", "1.0.0")
    assert body["links"] == {
        "docs": "/docs",
        "redoc": "/redoc",
        "openapi": "/openapi.json",
        "healthz": "/healthz",
        "readyz": "/readyz",
    }
    assert {"method": "GET", "path": "/v1/things", "summary": "List the things"} in body[
        "endpoints"
    ]
    assert "/v1/things/{thing_id}" in {e["path"] for e in body["endpoints"]}
    assert not {"/healthz", "/readyz", "/docs", "/"} & {e["path"] for e in body["endpoints"]}
    assert response.headers["vary"] == "Accept"


def test_the_index_is_a_page_for_a_browser(client: TestClient) -> None:
    response = client.get("/", headers={"accept": "text/html,application/xhtml+xml;q=0.9"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = references(response.text)
    assert {"/docs", "/redoc", "/healthz", "/readyz", "/v1/things"} <= set(links)
    # A path with parameters cannot be followed as it stands, so it is shown, not linked.
    assert "/v1/things/{thing_id}" in response.text
    assert "/v1/things/{thing_id}" not in links
    assert "<b>escaped</b>" not in response.text
    for url in set(links) - {"/readyz"}:  # readiness needs the broker, not started here
        assert client.get(url).status_code == 200, url


def test_a_service_page_at_the_root_moves_the_index(tmp_path: Path) -> None:
    dashboard = APIRouter()

    @dashboard.get("/", response_class=PlainTextResponse)
    def home() -> str:
        return "dashboard"

    app = service(tmp_path, dashboard, probe)
    client = TestClient(app)
    assert client.get("/", headers={"accept": "text/html"}).text == "dashboard"
    assert client.get("/index").json()["service"] == "probe"
    app.state.ctx.engine.dispose()


def test_a_service_can_do_without_the_index(tmp_path: Path) -> None:
    app = service(tmp_path, probe, index_path=None)
    client = TestClient(app)
    assert client.get("/").status_code == 404
    assert client.get("/index").status_code == 404
    assert client.get("/docs").status_code == 200
    app.state.ctx.engine.dispose()
