"""HTTP edges of the immunization engine: stateless forecasts and the shipped schedules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from mch_events.contracts.common import Sex
from mch_immunization.domain.engine import (
    GivenDose,
    InputError,
    Person,
    Reason,
    Status,
    forecast,
)
from mch_immunization.domain.schedule import (
    Population,
    Schedule,
    ScheduleCatalog,
    ScheduleSpec,
    load_catalog,
)
from mch_servicekit.access import ReadsReference
from mch_servicekit.guards import SafeJSONRoute


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    birth_date: dt.date
    sex: Sex = Field(description="M or F (male and female, in any case, are read as M and F).")
    residence: str = Field(default="", description="Org-unit code of the residence.")
    residence_ancestors: list[str] = Field(
        default_factory=list,
        description="Codes of the org units that contain the residence (province, ...).",
    )


class DoseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vaccine: str = Field(min_length=1, description="Series code or alias, e.g. PENTA, bOPV, TT.")
    date: dt.date


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(
        default=None,
        description="Schedule id; by default the schedule in force on as_of for the person "
        "(the women's schedule when edd is given, else the children's).",
    )
    as_of: dt.date
    person: PersonIn
    doses: list[DoseIn] = Field(default_factory=list)
    edd: dt.date | None = Field(default=None, description="Expected delivery date (women).")


class DoseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    vaccine: str
    dose: int | None
    status: Status
    date_given: dt.date | None
    valid: bool | None
    reason: Reason | None
    earliest: dt.date | None
    due: dt.date | None
    overdue: dt.date | None


class ForecastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    schedule_version: str
    doses: list[DoseOut]


class ScheduleSummary(BaseModel):
    id: str
    version: str
    schedule_version: str
    title: str
    population: Population
    effective_from: dt.date
    grace_days: int


def _unprocessable(problems: Sequence[tuple[Sequence[str | int], str]], kind: str) -> HTTPException:
    # Same shape as FastAPI's own validation errors, so clients handle one format.
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["body", *loc], "msg": message, "type": kind} for loc, message in problems],
    )


def schedule_summary(schedule: Schedule) -> ScheduleSummary:
    return ScheduleSummary(
        id=schedule.id,
        version=schedule.version,
        schedule_version=schedule.label,
        title=schedule.spec.title,
        population=schedule.population,
        effective_from=schedule.effective_from,
        grace_days=schedule.grace_days,
    )


def create_router(
    catalog: ScheduleCatalog | Callable[[], ScheduleCatalog] | None = None,
) -> APIRouter:
    """Routes over ``catalog`` (by default the shipped schedules, see ``load_catalog``), or over
    the catalog a callable returns on each request (a service whose schedules change)."""
    if callable(catalog):
        current = catalog
    else:
        fixed = catalog if catalog is not None else load_catalog()

        def current() -> ScheduleCatalog:
            return fixed

    router = APIRouter(prefix="/v1", tags=["immunization"], route_class=SafeJSONRoute)

    @router.get("/schedules", response_model=list[ScheduleSummary])
    def list_schedules(who: ReadsReference) -> list[ScheduleSummary]:
        return [schedule_summary(schedule) for schedule in current().schedules.values()]

    @router.get("/schedules/{schedule_id}", response_model=ScheduleSpec)
    def show_schedule(schedule_id: str, who: ReadsReference) -> ScheduleSpec:
        schedule = current().get(schedule_id)
        if schedule is None:
            raise HTTPException(status_code=404, detail=f"unknown schedule {schedule_id!r}")
        return schedule.spec

    @router.post("/forecast", response_model=ForecastOut)
    def post_forecast(body: ForecastRequest, who: ReadsReference) -> ForecastOut:
        schedules = current()
        if body.schedule is not None:
            schedule = schedules.get(body.schedule)
            if schedule is None:
                known = ", ".join(schedules.schedules)
                raise _unprocessable(
                    [(["schedule"], f"unknown schedule {body.schedule!r} (known: {known})")],
                    "unknown_schedule",
                )
        else:
            population: Population = "women" if body.edd is not None else "child"
            schedule = schedules.default_for(population, body.as_of)
            if schedule is None:
                raise _unprocessable(
                    [(["schedule"], f"no {population} schedule is loaded; name one")],
                    "no_schedule",
                )
        person = Person(
            birth_date=body.person.birth_date,
            sex=body.person.sex,
            residence=body.person.residence,
            residence_ancestors=tuple(body.person.residence_ancestors),
        )
        doses = [GivenDose(dose.vaccine, dose.date) for dose in body.doses]
        try:
            result = forecast(schedule, person, doses, body.as_of, body.edd)
        except InputError as error:
            raise _unprocessable(error.problems, "value_error") from None
        return ForecastOut.model_validate(result)

    return router
