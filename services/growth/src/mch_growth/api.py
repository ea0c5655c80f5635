"""HTTP edges of the growth service: ``router`` scores a list of measurements and keeps nothing;
``children`` serves a child's growth series and chart from the visits the service has assessed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final
from uuid import UUID

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.contracts.common import Position, PositionCode, Sex, SexCode
from mch_events.envelope import VN_TZ
from mch_growth import processing
from mch_growth.domain.chart import ChartIndicator, Lang, chart_points, render_chart, stature_chart
from mch_growth.domain.intake import ParsedVisit, Reason, parse_visit
from mch_growth.domain.nutrition import Assessment, Severity, assess_many
from mch_growth.domain.zscores import (
    ENGINE_VERSION,
    REFERENCE,
    Indicator,
    WhzTable,
    age_in_days,
    shown,
)
from mch_growth.domain.zscores import Sex as EngineSex
from mch_growth.storage import SERVICE
from mch_servicekit.access import (
    Action,
    Decision,
    Principal,
    ReadsNamed,
    ReadsReference,
    decide,
    refuse,
)
from mch_servicekit.access.audit import log_access
from mch_servicekit.app import ServiceContext, context_of
from mch_servicekit.erasure import refuse_erased
from mch_servicekit.guards import SafeJSONRoute

MAX_ITEMS: Final = 10_000

router = APIRouter(tags=["growth"], route_class=SafeJSONRoute)
children = APIRouter(tags=["children"], route_class=SafeJSONRoute)
Context = Annotated[ServiceContext, Depends(context_of)]


class MeasurementIn(BaseModel):
    """One child visit, as the CSV scorer reads it. Items are read one by one, so a bad item
    gets its own ``reason`` in the answer instead of failing the request."""

    model_config = ConfigDict(extra="allow")

    case_id: str | int | None = None
    sex: Sex = Field(description="M or F (male and female, in any case, are read as M and F).")
    birth_date: date | None = None
    visit_date: date | None = None
    weight_kg: float | None = None
    length_height_cm: float | None = None
    measured: Position | None = Field(
        default=None, description="lying or standing (L and H, in any case, are read as them)."
    )
    head_circumference_cm: float | None = None
    muac_cm: float | None = None
    oedema: bool = False


class Classification(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    underweight: Severity | None
    stunting: Severity | None
    wasting: Severity | None
    overweight: Severity | None
    vn_grade: int | None


class ZScoreResult(BaseModel):
    case_id: str | int | None
    sex: SexCode | None
    """The sex read from the item (``M`` or ``F``); None when missing or not readable."""
    age_days: int | None
    waz: float | None
    lhaz: float | None
    whz: float | None
    baz: float | None
    hcaz: float | None
    acaz: float | None
    whz_table: WhzTable | None
    flags: list[Indicator]
    classification: Classification
    reason: str | None
    reference: str
    engine_version: str


_REPORTED: Final[tuple[Indicator, ...]] = ("waz", "lhaz", "whz", "baz", "hcaz", "acaz")
_NOT_ASSESSED: Final = Classification(
    underweight=None, stunting=None, wasting=None, overweight=None, vn_grade=None
)
_REQUEST_SCHEMA: Final = {
    "type": "array",
    "maxItems": MAX_ITEMS,
    "items": MeasurementIn.model_json_schema(),
}


@router.post(
    "/v1/zscores",
    response_model=list[ZScoreResult],
    summary="Z-scores, flags and nutrition status for a list of child measurements",
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _REQUEST_SCHEMA}}}},
)
def score_measurements(
    items: Annotated[list[Any], Body()], who: ReadsReference
) -> list[ZScoreResult]:
    if len(items) > MAX_ITEMS:
        raise HTTPException(
            status_code=413,  # Content Too Large
            detail=f"{len(items)} measurements in one request; the limit is {MAX_ITEMS}: "
            "send them in several requests",
        )
    parsed = [
        parse_visit(item)
        if isinstance(item, dict)
        else ParsedVisit(None, None, (Reason.INVALID_ITEM,))
        for item in items
    ]
    assessments = iter(assess_many([p.measurement for p in parsed if p.measurement is not None]))
    return [
        _result(item, visit, None if visit.measurement is None else next(assessments))
        for item, visit in zip(items, parsed, strict=True)
    ]


def _result(item: object, visit: ParsedVisit, assessment: Assessment | None) -> ZScoreResult:
    case_id = item.get("case_id") if isinstance(item, dict) else None
    if not isinstance(case_id, str | int) or isinstance(case_id, bool):
        case_id = None
    reasons = list(visit.reasons)
    z: dict[Indicator, float | None] = dict.fromkeys(_REPORTED)
    flags: list[Indicator] = []
    whz_table: WhzTable | None = None
    classification = _NOT_ASSESSED
    if assessment is not None:
        scores = assessment.scores
        z = {ind: shown(scores.z[ind]) for ind in _REPORTED}
        flags = [ind for ind in _REPORTED if ind in scores.flagged]
        whz_table = scores.whz_table
        if scores.position_implausible:
            reasons.append(Reason.IMPLAUSIBLE_POSITION)
        classification = Classification.model_validate(assessment.status)
    return ZScoreResult(
        case_id=case_id,
        sex=None if visit.measurement is None else visit.measurement.sex.code,
        age_days=visit.age_days,
        waz=z["waz"],
        lhaz=z["lhaz"],
        whz=z["whz"],
        baz=z["baz"],
        hcaz=z["hcaz"],
        acaz=z["acaz"],
        whz_table=whz_table,
        flags=flags,
        classification=classification,
        reason=";".join(reasons) or None,
        reference=REFERENCE,
        engine_version=ENGINE_VERSION,
    )


class VisitGrowth(BaseModel):
    """One visit of a child's series: what was measured and the assessment published for it."""

    visit_id: UUID
    visit_date: date
    age_days: int
    facility: str
    weight_kg: float | None
    length_height_cm: float | None
    measured: PositionCode | None
    head_cm: float | None
    muac_cm: float | None
    oedema: bool
    waz: float | None
    lhaz: float | None
    whz: float | None
    baz: float | None
    hcaz: float | None
    flags: list[Indicator]
    classification: list[str]
    faltering: bool
    revision: int
    reference: str
    engine_version: str


class GrowthSeries(BaseModel):
    child_id: UUID
    sex: SexCode
    birth_date: date
    visits: list[VisitGrowth]
    """In date order; voided visits are left out."""


@children.get(
    "/v1/children/{child_id}/growth",
    response_model=GrowthSeries,
    summary="A child's visits with their z-scores, nutrition status and faltering",
    responses={404: {"description": "No such child (or it was voided or merged)"}},
)
def child_growth(child_id: UUID, ctx: Context, who: ReadsNamed) -> GrowthSeries:
    series = _known_child(ctx, child_id, who)
    return GrowthSeries(
        child_id=child_id,
        sex=series.sex,
        birth_date=series.birth_date,
        visits=[_visit_growth(visit, assessed) for visit, assessed in series.visits],
    )


@children.get(
    "/v1/children/{child_id}/chart.svg",
    response_class=Response,
    summary="A child's growth chart (SVG)",
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "The chart"},
        404: {"description": "No such child (or it was voided or merged)"},
    },
)
def child_chart(
    child_id: UUID,
    indicator: Annotated[
        ChartIndicator,
        Query(
            description="``wfh`` draws weight-for-length before 2 years and weight-for-height "
            "from then (by the age at the latest visit); ``wfl`` asks for weight-for-length"
        ),
    ],
    ctx: Context,
    who: ReadsNamed,
    lang: Lang = "vi",
) -> Response:
    series = _known_child(ctx, child_id, who)
    if indicator == "wfh":
        last = series.visits[-1][0].visit_date if series.visits else datetime.now(VN_TZ).date()
        indicator = stature_chart(age_in_days(series.birth_date, last))
    visits = [processing.measurement_of(visit) for visit, _ in series.visits]
    svg = render_chart(indicator, EngineSex.of(series.sex), chart_points(indicator, visits), lang)
    return Response(svg, media_type="image/svg+xml")


def _known_child(ctx: ServiceContext, child_id: UUID, who: Principal) -> processing.ChildSeries:
    with Session(ctx.engine) as session:
        series = processing.child_series(session, str(child_id))
        tree = processing.orgunit_tree(session)
    if series is None:
        raise HTTPException(status_code=404, detail=f"no growth record of child {child_id}")
    decision = (
        decide(
            who,
            Action.READ_NAMED,
            orgunit=series.residence,
            tree=tree,
            on=datetime.now(VN_TZ).date(),
        )
        if series.residence
        else Decision(False, "the child's residence is not known here")
    )
    outcome = "allowed" if decision.allowed else "refused"
    log_access(ctx.engine, SERVICE, who, "read_growth", [str(child_id)], outcome=outcome)
    if not decision.allowed:
        raise refuse(decision)
    with Session(ctx.engine) as session:
        refuse_erased(session, SERVICE, str(child_id))
    return series


def _visit_growth(visit: r.ChildVisitRecorded, assessed: g.GrowthAssessed) -> VisitGrowth:
    z: dict[Indicator, g.ZScore | None] = {
        "waz": assessed.waz,
        "lhaz": assessed.lhaz,
        "whz": assessed.whz,
        "baz": assessed.baz,
        "hcaz": assessed.hcaz,
    }
    value = {ind: None if score is None else shown(score.value) for ind, score in z.items()}
    return VisitGrowth(
        visit_id=visit.visit_id,
        visit_date=visit.visit_date,
        age_days=assessed.age_days,
        facility=visit.facility,
        weight_kg=visit.weight_kg,
        length_height_cm=visit.length_height_cm,
        measured=visit.measured,
        head_cm=visit.head_cm,
        muac_cm=visit.muac_cm,
        oedema=assessed.oedema,
        waz=value["waz"],
        lhaz=value["lhaz"],
        whz=value["whz"],
        baz=value["baz"],
        hcaz=value["hcaz"],
        flags=[ind for ind, score in z.items() if score is not None and score.flagged],
        classification=assessed.classification,
        faltering=assessed.faltering,
        revision=assessed.revision,
        reference=assessed.reference,
        engine_version=assessed.engine_version,
    )
