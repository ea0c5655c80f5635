"""API documentation served by the service itself, and the index at its base URL.

Swagger UI and ReDoc come from the ``fastapi-offline`` package's static files, mounted under
``/docs-assets``: FastAPI's defaults load them from a CDN, which leaves ``/docs`` blank on a
network without internet (a commune health station, a ministry intranet).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Final

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match

ASSETS_PATH: Final = "/docs-assets"
ASSETS_DIR: Final = Path(fastapi_offline.__file__).resolve().parent / "static"
OPERATIONS: Final = ("/healthz", "/readyz")
_METHODS: Final = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH"})
INDEX_ELSEWHERE: Final = "/index"
"""Where the index goes when the service serves a page of its own at ``/``."""

# Swagger UI would otherwise show a badge fetched from its public validator.
_SWAGGER_PARAMETERS: Final[dict[str, Any]] = {"validatorUrl": None}


def _prefix(request: Request) -> str:
    # Behind a proxy that strips a path prefix, every URL the pages name must carry it.
    return str(request.scope.get("root_path", "")).rstrip("/")


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with assets from the service, none from a CDN.
    The app must be created with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _prefix(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _prefix(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} — ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )


def serves_root(app: FastAPI) -> bool:
    """Whether a route of the app already answers ``GET /`` (in the schema or not)."""
    scope = {"type": "http", "method": "GET", "path": "/", "root_path": ""}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def install_index(app: FastAPI, service: str, path: str = "/") -> None:
    """A small index at ``path``: the service's name and version, links to its documentation and
    health checks, and its endpoints (read from the app on each request, so routers included later
    are listed too). HTML for a browser, JSON for anything else."""

    @app.get(path, include_in_schema=False)
    def index(request: Request) -> Response:
        document = index_document(app, service, _prefix(request))
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_index_html(document), headers={"Vary": "Accept"})
        return JSONResponse(document, headers={"Vary": "Accept"})


def index_document(app: FastAPI, service: str, root: str = "") -> dict[str, Any]:
    # The OpenAPI document is what the service publishes as its API: the same endpoints, prefixes
    # and summaries as /docs shows.
    endpoints = [
        {"method": method.upper(), "path": root + path, "summary": operation.get("summary", "")}
        for path, operations in app.openapi().get("paths", {}).items()
        if path not in OPERATIONS
        for method, operation in operations.items()
        if method.upper() in _METHODS
    ]
    return {
        "service": service,
        "title": app.title,
        "version": app.version,
        "description": app.description,
        "links": {
            "docs": f"{root}/docs",
            "redoc": f"{root}/redoc",
            "openapi": root + (app.openapi_url or "/openapi.json"),
            "healthz": f"{root}/healthz",
            "readyz": f"{root}/readyz",
        },
        "endpoints": endpoints,
    }


def _index_html(document: dict[str, Any]) -> str:
    e = html.escape
    links = "".join(
        f'<li><a href="{e(url)}">{e(name)}</a></li>' for name, url in document["links"].items()
    )
    rows = "".join(
        "<tr><td>{method}</td><td>{path}</td><td>{summary}</td></tr>".format(
            method=e(ep["method"]),
            # Only a GET without path parameters can be followed as it stands.
            path=f'<a href="{e(ep["path"])}">{e(ep["path"])}</a>'
            if ep["method"] == "GET" and "{" not in ep["path"]
            else e(ep["path"]),
            summary=e(ep["summary"]),
        )
        for ep in document["endpoints"]
    )
    title = e(document["title"])
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "td{padding:.2em 1em .2em 0;vertical-align:top}</style></head><body>"
        f"<h1>{title} <small>{e(document['version'])}</small></h1>"
        f"<p>{e(document['description'])}</p>"
        f"<ul>{links}</ul>"
        f"<h2>Endpoints</h2><table>{rows}</table>"
        "</body></html>"
    )
