"""Stateless HTTP edge of the growth engine: score a list of measurements, keep nothing."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict

from mch_growth.domain.intake import ParsedVisit, Reason, parse_visit
from mch_growth.domain.nutrition import Assessment, Severity, assess_many
from mch_growth.domain.zscores import (
    ENGINE_VERSION,
    REFERENCE,
    Indicator,
    WhzTable,
    shown,
)

MAX_ITEMS: Final = 10_000

router = APIRouter(tags=["growth"])


class MeasurementIn(BaseModel):
    """One child visit, as the CSV scorer reads it. Items are read one by one, so a bad item
    gets its own ``reason`` in the answer instead of failing the request."""

    model_config = ConfigDict(extra="allow")

    case_id: str | int | None = None
    sex: Literal[1, 2, "M", "F"]
    birth_date: date | None = None
    visit_date: date | None = None
    weight_kg: float | None = None
    length_height_cm: float | None = None
    measured: Literal["L", "H", "lying", "standing"] | None = None
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
def score_measurements(items: Annotated[list[Any], Body()]) -> list[ZScoreResult]:
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
