"""HTTP edges of the exports: the answers of ``/v1/indicators`` (and ``/children``) as a CSV file
and as a DHIS2 ``dataValueSets`` document, built by the same functions, so they carry the same
rows under the same access rules and refusals."""

from __future__ import annotations

import json
import re
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from mch_servicekit.access import Principal, ReadsAggregates
from mch_servicekit.guards import SafeJSONRoute

from .api import (
    IndicatorQ,
    IndicatorsResponse,
    OrgUnitQ,
    PeriodQ,
    ViewQ,
    _period,
    _tree,
    children_answer,
    facts_of,
    unit_answer,
)
from .domain import exports, orgunits
from .domain.indicators import View
from .domain.periods import Period
from .processing import Facts
from .settings import ReportingSettings

router = APIRouter(route_class=SafeJSONRoute)

UNMAPPED_NAMED = 50
"""How many unmapped codes the header names (a header is no place for a long list)."""

ChildrenQ = Annotated[
    bool,
    Query(description="true: the units directly under the org unit, as /v1/indicators/children"),
]


def mapping_of(request: Request) -> exports.Dhis2Mapping:
    mapping: exports.Dhis2Mapping = request.app.state.dhis2_mapping
    return mapping


def _tables(
    facts: Facts,
    who: Principal,
    orgunit: str,
    p: Period,
    view: View,
    indicator: list[str],
    children: bool,
) -> list[exports.Table]:
    answers: list[IndicatorsResponse] = (
        children_answer(facts, who, orgunit, p, view, indicator).children
        if children
        else [unit_answer(facts, who, orgunit, p, view, indicator)]
    )
    tree = _tree(facts)

    def name(code: str) -> str:
        unit = orgunits.unit(tree, code, p)
        return unit.name if unit is not None else code

    return [exports.Table(a.orgunit, name(a.orgunit), a.values) for a in answers]


def _filename(orgunit: str, p: Period, view: View, children: bool, suffix: str) -> str:
    # Header-safe whatever the code holds: the unit was found in the tree, but codes are data.
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", orgunit)
    below = "_children" if children else ""
    return f"indicators_{safe}_{p.code}_{view}{below}.{suffix}"


@router.get(
    "/v1/exports/csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "the rows, one per line"}},
    tags=["exports"],
)
def export_csv(
    facts: Annotated[Facts, Depends(facts_of)],
    who: ReadsAggregates,
    orgunit: OrgUnitQ,
    period: PeriodQ,
    view: ViewQ = "residence",
    children: ChildrenQ = False,
    indicator: IndicatorQ = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """The rows of ``/v1/indicators`` (``children=true``: of ``/v1/indicators/children``) as CSV,
    one line per org unit × indicator × sex (the total with an empty sex), UTF-8 with a byte
    order mark; a cell without a numerator (suppressed) is empty."""
    p = _period(period)
    tables = _tables(facts, who, orgunit, p, view, indicator, children)
    return Response(
        exports.to_csv(tables, p, view),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": (
                f'attachment; filename="{_filename(orgunit, p, view, children, "csv")}"'
            )
        },
    )


@router.get(
    "/v1/exports/dhis2",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "a DHIS2 dataValueSets document",
        }
    },
    tags=["exports"],
)
def export_dhis2(
    facts: Annotated[Facts, Depends(facts_of)],
    mapping: Annotated[exports.Dhis2Mapping, Depends(mapping_of)],
    who: ReadsAggregates,
    orgunit: OrgUnitQ,
    period: PeriodQ,
    view: ViewQ = "residence",
    children: ChildrenQ = False,
    indicator: IndicatorQ = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """The same rows as a DHIS2 ``dataValueSets`` document (``POST /api/dataValueSets`` with
    ``idScheme=CODE``, or the id schemes the mapping file implies): data elements
    ``CODE_NUM`` and ``CODE_DEN``, the org unit's code, the DHIS2 period code. The statutory
    9-month period has no DHIS2 period type: 422."""
    p = _period(period)
    try:
        exports.dhis2_period(p)
    except exports.NoDhis2Period as exc:
        raise HTTPException(422, f"period: {exc}") from exc
    tables = _tables(facts, who, orgunit, p, view, indicator, children)
    built = exports.to_dhis2(tables, p, mapping)
    headers = {
        "Content-Disposition": (
            f'attachment; filename="{_filename(orgunit, p, view, children, "json")}"'
        )
    }
    if built.unmapped:
        named = [re.sub(r"[^A-Za-z0-9_:-]", "_", u) for u in built.unmapped[:UNMAPPED_NAMED]]
        more = len(built.unmapped) - len(named)
        headers["X-DHIS2-Unmapped"] = " ".join(named) + (f" (and {more} more)" if more else "")
    return Response(
        json.dumps(built.document, ensure_ascii=False).encode("utf-8"),
        media_type="application/json",
        headers=headers,
    )


def install(app: FastAPI, settings: ReportingSettings) -> None:
    """The DHIS2 mapping, read once at start: a wrong file stops the service with the reason
    rather than exporting identifiers DHIS2 does not know."""
    path = settings.dhis2_mapping
    if path is None:
        app.state.dhis2_mapping = exports.Dhis2Mapping()
        return
    try:
        app.state.dhis2_mapping = exports.parse_mapping(path.read_text("utf-8"), str(path))
    except OSError as exc:
        raise exports.Dhis2MappingError(f"{path}: {exc}") from exc
