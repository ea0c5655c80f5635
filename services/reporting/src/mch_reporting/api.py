"""HTTP edges of the reporting service."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from mch_events.orgtree import OrgTree, OrgTreeError
from mch_servicekit.access import Action, Principal, ReadsAggregates, decide, refuse
from mch_servicekit.guards import SafeJSONRoute

from .domain import catalog
from .domain.indicators import Indicator, IndicatorValue, View
from .domain.periods import FORMS, Period, parse_period
from .domain.scope import refusal, units_below
from .processing import Facts

router = APIRouter(route_class=SafeJSONRoute)

MAX_SERIES_MONTHS = 240
PERIOD_HELP = f"reporting period: {FORMS} (e.g. 2026-11, 2026Q4, 2026, 2026S1, 2026-9M)"


def facts_of(request: Request) -> Facts:
    facts: Facts = request.app.state.facts
    return facts


class IndicatorView(BaseModel):
    indicator: str
    sex: Literal["M", "F"] | None = Field(
        default=None, description="absent on the total row; M or F on the rows by sex"
    )
    numerator: int | None = Field(description="null only on a suppressed cell")
    denominator: int | None = Field(
        description="null for a count, for population denominators in the facility view, and on "
        "a suppressed cell"
    )
    value: float | None
    suppressed: bool = Field(
        default=False,
        description="too few people (more than none, fewer than the configured minimum, in the "
        "numerator or denominator) to show a reader without named access to the org unit: "
        "numerator, denominator and value are null",
    )
    as_of: dt.datetime | None = Field(
        description="when the newest event counted in this value was applied (null: none)"
    )
    rules: dict[str, list[str]] = Field(
        description="versions of the rules behind the value, e.g. growth_reference"
    )

    @model_serializer(mode="wrap")
    def _total_has_no_sex(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("sex") is None:
            data.pop("sex", None)
        return data

    @classmethod
    def of(cls, v: IndicatorValue) -> IndicatorView:
        return cls(
            indicator=v.indicator,
            sex=v.sex,
            numerator=v.numerator,
            denominator=v.denominator,
            value=v.value,
            as_of=v.as_of,
            rules=v.rules,
            suppressed=v.suppressed,
        )


class IndicatorsResponse(BaseModel):
    orgunit: str
    period: str
    view: View
    as_of: dt.datetime | None = Field(description="the newest as_of among the values")
    values: list[IndicatorView]


class ChildrenResponse(BaseModel):
    orgunit: str
    period: str
    view: str
    children: list[IndicatorsResponse]


class SeriesPoint(IndicatorView):
    period: str


class SeriesResponse(BaseModel):
    orgunit: str
    indicator: str
    view: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    values: list[SeriesPoint]


def _period(code: str, name: str = "period") -> Period:
    try:
        return parse_period(code)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from exc


def _indicators(codes: list[str]) -> tuple[Indicator, ...]:
    try:
        return catalog.select(codes)
    except KeyError as exc:
        raise HTTPException(404, exc.args[0]) from exc


def _tree(facts: Facts) -> OrgTree:
    try:
        return facts.tree()
    except OrgTreeError as exc:
        raise HTTPException(503, f"the org-unit tree is being updated; retry: {exc}") from exc


def _check(tree: OrgTree, orgunit: str, period: Period, view: View) -> None:
    reason = refusal(tree, orgunit, period, view)
    if reason is not None:
        raise HTTPException(404, reason)


def _answer(
    orgunit: str, period: Period, view: View, values: list[IndicatorValue]
) -> IndicatorsResponse:
    stamps = [v.as_of for v in values if v.as_of is not None]
    return IndicatorsResponse(
        orgunit=orgunit,
        period=period.code,
        view=view,
        as_of=max(stamps, default=None),
        values=[IndicatorView.of(v) for v in values],
    )


OrgUnitQ = Annotated[
    str, Query(description="org-unit code (facility, commune, district, province, VN)")
]
PeriodQ = Annotated[str, Query(description=PERIOD_HELP)]
ViewQ = Annotated[
    View,
    Query(description="residence: where people live (coverage); facility: where care was given"),
]
IndicatorQ = Annotated[
    list[str], Query(description="indicator codes to answer (repeat the parameter); all if none")
]


@router.get("/v1/indicators", response_model=IndicatorsResponse, tags=["indicators"])
def get_indicators(
    facts: Annotated[Facts, Depends(facts_of)],
    who: ReadsAggregates,
    orgunit: OrgUnitQ,
    period: PeriodQ,
    view: ViewQ = "residence",
    indicator: IndicatorQ = [],  # noqa: B006 - FastAPI copies defaults
) -> IndicatorsResponse:
    """Indicator values for an org unit and period: numerators and denominators summed up the
    org-unit tree in force on each contact's date, the ratio computed last."""
    return unit_answer(facts, who, orgunit, _period(period), view, indicator)


@router.get("/v1/indicators/children", response_model=ChildrenResponse, tags=["indicators"])
def get_children_indicators(
    facts: Annotated[Facts, Depends(facts_of)],
    who: ReadsAggregates,
    orgunit: OrgUnitQ,
    period: PeriodQ,
    view: ViewQ = "residence",
    indicator: IndicatorQ = [],  # noqa: B006 - FastAPI copies defaults
) -> ChildrenResponse:
    """The same answer for each org unit directly under ``orgunit`` during the period (for
    drill-down in one call); facilities are listed in the facility view only."""
    return children_answer(facts, who, orgunit, _period(period), view, indicator)


def unit_answer(
    facts: Facts, who: Principal, orgunit: str, p: Period, view: View, indicator: list[str]
) -> IndicatorsResponse:
    """The answer of ``/v1/indicators``, which the exports carry too: refusals, access and
    the rows are decided here once."""
    wanted = _indicators(indicator)
    tree = _tree(facts)
    _check(tree, orgunit, p, view)
    _may_read(who, tree, orgunit, p)
    shown = facts.disclosure(who, tree, p)
    values = facts.values([orgunit], p, view, wanted, tree, disclosure=shown)[orgunit]
    return _answer(orgunit, p, view, values)


def children_answer(
    facts: Facts, who: Principal, orgunit: str, p: Period, view: View, indicator: list[str]
) -> ChildrenResponse:
    """The answer of ``/v1/indicators/children``, which the exports carry too."""
    wanted = _indicators(indicator)
    tree = _tree(facts)
    _check(tree, orgunit, p, view)
    _may_read(who, tree, orgunit, p)
    below = units_below(tree, orgunit, p, view)
    values = facts.values(below, p, view, wanted, tree, disclosure=facts.disclosure(who, tree, p))
    return ChildrenResponse(
        orgunit=orgunit,
        period=p.code,
        view=view,
        children=[_answer(code, p, view, values[code]) for code in below],
    )


@router.get(
    "/v1/indicators/series",
    response_model=SeriesResponse,
    response_model_by_alias=True,
    tags=["indicators"],
)
def get_series(
    facts: Annotated[Facts, Depends(facts_of)],
    who: ReadsAggregates,
    orgunit: OrgUnitQ,
    indicator: Annotated[str, Query(description="one indicator code")],
    from_: Annotated[str, Query(alias="from", description=f"first period ({FORMS})")],
    to: Annotated[str, Query(description=f"last period ({FORMS})")],
    view: ViewQ = "residence",
) -> SeriesResponse:
    """One value per month from the first month of ``from`` to the last month of ``to``, for the
    months the org unit is in force."""
    first, last = _period(from_, "from"), _period(to, "to")
    if last.end < first.start:
        raise HTTPException(422, f"to ({to}) ends before from ({from_}) starts")
    span = Period(f"{from_}..{to}", "month", first.start, last.end)
    months = span.months()
    if len(months) > MAX_SERIES_MONTHS:
        raise HTTPException(422, f"at most {MAX_SERIES_MONTHS} months per series")
    wanted = _indicators([indicator])
    tree = _tree(facts)
    _check(tree, orgunit, span, view)
    _may_read(who, tree, orgunit, span)
    in_force = [m for m in months if refusal(tree, orgunit, m, view) is None]
    shown = facts.disclosure(who, tree, span)
    answers = facts.values_over([orgunit], in_force, view, wanted, tree, disclosure=shown)
    points = [
        SeriesPoint(period=month.code, **IndicatorView.of(v).model_dump())
        for month in in_force
        for v in answers[month.code][orgunit]
    ]
    return SeriesResponse.model_validate(
        {
            "orgunit": orgunit,
            "indicator": indicator,
            "view": view,
            "from": from_,
            "to": to,
            "values": points,
        }
    )


def _may_read(who: Principal, tree: OrgTree, orgunit: str, period: Period) -> None:
    """The tree of the period decides: a district token sees its communes' numbers of its years
    (the tree of the period's first or last day)."""
    decisions = [
        decide(who, Action.READ_AGGREGATES, orgunit=orgunit, tree=tree, on=day)
        for day in (period.start, period.end)
    ]
    if not any(d.allowed for d in decisions):
        raise refuse(decisions[0])
