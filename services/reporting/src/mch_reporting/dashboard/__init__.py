"""The dashboard: a page for browsers at ``/`` and ``/dashboard`` (plain HTML, CSS and JS in this
package, nothing from another host), and the read-only endpoints it needs beside the indicators:
org units found by name or code on the tree of a period, and the targets values are held against.

The page holds no data: it asks the API with the bearer token the user gives it (see the README,
"Dashboard")."""

from __future__ import annotations

import hashlib
import html
import json
from functools import cache
from pathlib import Path
from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from mch_servicekit.access import ReadsAggregates, ReadsReference
from mch_servicekit.docs import index_document
from mch_servicekit.guards import SafeJSONRoute

from ..api import PeriodQ, _period, _tree, facts_of
from ..domain import orgunits
from ..domain.targets import Target, Targets, TargetsError, parse
from ..processing import Facts
from ..settings import ReportingSettings

HERE: Final = Path(__file__).resolve().parent
ASSETS: Final = HERE / "static"
ASSETS_PATH: Final = "/dashboard/assets"
DEFAULT_TARGETS: Final = HERE / "targets.json"

router = APIRouter(route_class=SafeJSONRoute)


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@cache
def _template() -> str:
    # The assets' URLs carry a digest of their contents: a browser that kept an older script
    # asks for the new one after an upgrade, and may keep each one as long as it likes.
    digest = hashlib.sha256()
    for asset in sorted(ASSETS.iterdir()):
        digest.update(asset.name.encode() + b"\0" + asset.read_bytes())
    text = (ASSETS / "dashboard.html").read_text("utf-8")
    return text.replace("{{version}}", digest.hexdigest()[:12])


def page(request: Request) -> HTMLResponse:
    settings: ReportingSettings = request.app.state.ctx.settings
    config = {
        "root": _prefix(request),
        "immunization": (settings.immunization_url or "").rstrip("/") or None,
    }
    text = (
        _template()
        .replace("{{root}}", html.escape(_prefix(request)))
        .replace("{{config}}", html.escape(json.dumps(config)))
    )
    # The page changes with the service's version only; the numbers come from the API.
    return HTMLResponse(text, headers={"Vary": "Accept", "Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def root(request: Request) -> Response:
    """The dashboard for a browser; the service's index (JSON) for anything else, as every
    service answers at its base URL."""
    if "text/html" in request.headers.get("accept", ""):
        return page(request)
    document = index_document(request.app, "reporting", _prefix(request))
    document["links"]["dashboard"] = f"{_prefix(request)}/dashboard"
    return JSONResponse(document, headers={"Vary": "Accept"})


@router.get("/dashboard", include_in_schema=False)
def dashboard(request: Request) -> HTMLResponse:
    return page(request)


class UnitOut(BaseModel):
    code: str
    name: str
    level: str
    parent: str | None


class UnitDetail(UnitOut):
    ancestors: list[UnitOut] = Field(description="from the root down to the parent")
    children: list[UnitOut] = Field(description="the units directly under it during the period")


def _out(unit: orgunits.Unit) -> UnitOut:
    return UnitOut(code=unit.code, name=unit.name, level=unit.level, parent=unit.parent)


@router.get("/v1/orgunits", response_model=list[UnitOut], tags=["dashboard"])
def find_orgunits(
    facts: Annotated[Facts, Depends(facts_of)],
    who: ReadsReference,
    q: Annotated[str, Query(max_length=100, description="words of the name, or a code prefix")],
    period: PeriodQ,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[UnitOut]:
    """Org units in force during the period whose name contains every word of ``q`` (diacritics
    optional: "Te Nong" finds "Tế Nông") or whose code starts with it; areas first."""
    found = orgunits.search(_tree(facts), q, _period(period), limit)
    return [_out(u) for u in found]


@router.get("/v1/orgunits/{code}", response_model=UnitDetail, tags=["dashboard"])
def get_orgunit(
    facts: Annotated[Facts, Depends(facts_of)],
    who: ReadsReference,
    code: str,
    period: PeriodQ,
) -> UnitDetail:
    """An org unit as it was during the period, its ancestors (for a breadcrumb) and the units
    directly under it (names for a drill-down)."""
    p, tree = _period(period), _tree(facts)
    found = orgunits.unit(tree, code, p)
    if found is None:
        raise HTTPException(404, f"org unit {code!r} is not in force during {p.code}")
    below = [orgunits.unit(tree, c, p) for c in orgunits.codes_below(tree, code, p)]
    return UnitDetail(
        **_out(found).model_dump(),
        ancestors=[_out(u) for u in orgunits.ancestors(tree, code, p)],
        children=[_out(u) for u in below if u is not None],
    )


def targets_of(request: Request) -> Targets:
    targets: Targets = request.app.state.targets
    return targets


@router.get("/v1/targets", response_model=list[Target], tags=["dashboard"])
def get_targets(
    targets: Annotated[Targets, Depends(targets_of)], who: ReadsAggregates
) -> list[Target]:
    """The targets the dashboard marks values against (``TARGETS_FILE``, else the packaged
    defaults: EPI antigens and FIC at least 95 %, ANC4 at least 90 %, PENTA dropout at most
    10 %)."""
    return targets.targets


def install(app: FastAPI, settings: ReportingSettings) -> None:
    """The page's assets, and the targets read once at start (a wrong file stops the service
    with the reason rather than showing no marks)."""
    path = settings.targets_file or DEFAULT_TARGETS
    try:
        app.state.targets = parse(path.read_text("utf-8"), str(path))
    except OSError as exc:
        raise TargetsError(f"{path}: {exc}") from exc
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="dashboard-assets")
