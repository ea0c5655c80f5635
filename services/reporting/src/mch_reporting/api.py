"""HTTP edges of the reporting service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel

from mch_events.orgtree import OrgTreeError

from .domain.growth_indicators import growth_indicators
from .domain.periods import parse_period
from .processing import Facts

router = APIRouter()


def facts_of(request: Request) -> Facts:
    facts: Facts = request.app.state.facts
    return facts


class IndicatorView(BaseModel):
    indicator: str
    numerator: int
    denominator: int | None
    value: float | None


class IndicatorsResponse(BaseModel):
    orgunit: str
    period: str
    view: str
    as_of: dt.datetime
    values: list[IndicatorView]


@router.get("/v1/indicators", response_model=IndicatorsResponse, tags=["indicators"])
def get_indicators(
    facts: Annotated[Facts, Depends(facts_of)],
    orgunit: Annotated[str, Query(description="org-unit code (commune, district, province, VN)")],
    period: Annotated[str, Query(description="2026-11, 2026Q4, 2026, 2026S1, 2026S2 or 2026-9M")],
    view: Literal["residence", "facility"] = "residence",
) -> IndicatorsResponse:
    """Indicator values for an org unit and period: numerators and denominators summed up the
    org-unit tree in force on each contact's date, the ratio computed last."""
    try:
        p = parse_period(period)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    try:
        tree = facts.tree()
    except OrgTreeError as exc:
        raise HTTPException(503, f"the org-unit tree is being updated; retry: {exc}") from exc
    if not (tree.exists(orgunit, p.start) or tree.exists(orgunit, p.end)):
        raise HTTPException(
            404, f"org unit {orgunit!r} is not in force during {period} ({p.start} to {p.end})"
        )
    if view == "residence" and (
        tree.is_facility(orgunit, p.start) or tree.is_facility(orgunit, p.end)
    ):
        raise HTTPException(
            404,
            f"{orgunit!r} is a facility, not a residence: the residence view counts people where "
            "they live; ask view=facility for the care this facility gave",
        )
    as_of = dt.datetime.now(dt.UTC)
    values = growth_indicators(
        orgunit=orgunit,
        period=p,
        tree=tree,
        measurements=facts.measurements(p),
        children=facts.children(p.end),
        view=view,
    )
    return IndicatorsResponse(
        orgunit=orgunit,
        period=p.code,
        view=view,
        as_of=as_of,
        values=[
            IndicatorView(
                indicator=v.indicator,
                numerator=v.numerator,
                denominator=v.denominator,
                value=v.value,
            )
            for v in values
        ],
    )
