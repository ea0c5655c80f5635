"""HTTP edges over the service's stored state: a person's forecast, defaulter lists, schedule
uploads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree, OrgTreeError
from mch_events.orgtree_cache import OrgTreeCache
from mch_servicekit.access import (
    Action,
    Decision,
    ManagesReference,
    Principal,
    ReadsNamed,
    decide,
    refuse,
)
from mch_servicekit.access.audit import log_access
from mch_servicekit.erasure import not_erased, refuse_erased
from mch_servicekit.guards import SafeJSONRoute

from . import defaulters_page
from .api import ForecastOut, ScheduleSummary, schedule_summary
from .catalog import ScheduleBook, ScheduleConflict
from .domain.defaulters import OverdueRow, group_by_commune
from .domain.person import population_of
from .domain.schedule import Population, ScheduleError
from .storage import SERVICE, ImmunizationMerge, ImmunizationOverdue, ImmunizationPerson

_IN_CHUNK = 500
"""Residence codes per ``IN (...)`` list: a province has a few hundred communes, the country
thousands."""


class PersonForecastOut(ForecastOut):
    person_id: str
    population: Population
    as_of: dt.date
    """The date the forecast was made for (today's, once the periodic job has run)."""
    residence: str


class OverdueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    vaccine: str
    dose: int
    since: dt.date
    days: int


class DefaulterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: str
    population: Population
    birth_date: dt.date
    overdue: list[OverdueOut]


class CommuneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    people: list[DefaulterOut]


class DefaultersOut(BaseModel):
    orgunit: str
    name: str
    as_of: dt.date
    communes: list[CommuneOut]


def create_service_router(
    engine: Engine,
    schedules: ScheduleBook,
    orgunits: OrgTreeCache[Session],
    today: Callable[[], dt.date],
    schedules_changed: Callable[[], None],
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["immunization"], route_class=SafeJSONRoute)

    @router.get("/people/{person_id}/immunizations", response_model=PersonForecastOut)
    def person_immunizations(person_id: str, who: ReadsNamed) -> PersonForecastOut:
        """The person's stored forecast and the schedule version that produced it."""
        found = _stored_forecast(engine, person_id)
        with Session(engine) as session:
            tree = orgunits.tree(session)
        decision = decide(who, Action.READ_NAMED, orgunit=found.residence, tree=tree, on=today())
        outcome = "allowed" if decision.allowed else "refused"
        log_access(engine, SERVICE, who, "read_immunizations", [person_id], outcome=outcome)
        if not decision.allowed:
            raise refuse(decision)
        with Session(engine) as session:
            refuse_erased(session, SERVICE, person_id)
        return found

    @router.get(
        "/defaulters",
        response_model=DefaultersOut,
        responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
    )
    def defaulters(
        who: ReadsNamed,
        orgunit: Annotated[str, Query(description="Org-unit code: commune, district, province")],
        as_of: Annotated[dt.date | None, Query(description="Default: today")] = None,
        output: Annotated[Literal["json", "csv", "html"], Query(alias="format")] = "json",
    ) -> Any:
        """Children and women with overdue doses living in the org unit's subtree (the tree in
        force on ``as_of``), grouped by commune, with what is overdue and since when."""
        now = today()
        day = as_of or now
        if day > now:
            raise HTTPException(
                422, f"as_of {day} is after today ({now}): forecasts are made as of today"
            )
        tree, unit, decision, rows = _overdue_in_subtree(engine, orgunits, who, orgunit, day)
        # Logged in a transaction of its own, once the reading one is closed.
        if not decision.allowed:
            log_access(engine, SERVICE, who, "list_defaulters", [orgunit], outcome="refused")
            raise refuse(decision)
        # A list names people: each one listed is logged as read.
        listed = sorted({row.person_id for row in rows})
        log_access(engine, SERVICE, who, "list_defaulters", listed, detail=orgunit)
        communes = group_by_commune(rows, day, lambda code: _name(tree, code, day))
        if output == "csv":
            return PlainTextResponse(
                defaulters_page.to_csv(communes),
                media_type="text/csv; charset=utf-8",
                headers={
                    "Content-Disposition": f'attachment; filename="defaulters-{orgunit}-{day}.csv"'
                },
            )
        if output == "html":
            return HTMLResponse(defaulters_page.to_html(orgunit, unit.name, day, communes))
        return DefaultersOut(
            orgunit=orgunit,
            name=unit.name,
            as_of=day,
            communes=[CommuneOut.model_validate(c) for c in communes],
        )

    @router.post(
        "/schedules",
        response_model=ScheduleSummary,
        status_code=201,
        responses={200: {"description": "This version was already loaded, unchanged"}},
    )
    def upload_schedule(
        who: ManagesReference,
        document: Annotated[dict[str, Any], Body(description="A schedule document, as a file")],
        response: Response,
    ) -> ScheduleSummary:
        """Validate and keep a schedule (a new version of a loaded one, or a new schedule); everyone
        it concerns is forecast again and only the changes are published."""
        try:
            schedule, created = schedules.upload(document)
        except ScheduleError as error:
            raise HTTPException(
                422,
                [
                    {"loc": ["body"], "msg": problem, "type": "inconsistent_schedule"}
                    for problem in error.problems
                ],
            ) from None
        except ScheduleConflict as error:
            raise HTTPException(409, str(error)) from None
        if created:
            schedules_changed()
        else:
            response.status_code = 200
        return schedule_summary(schedule)

    return router


def _stored_forecast(engine: Engine, person_id: str) -> PersonForecastOut:
    with Session(engine) as session:
        row = session.get(ImmunizationPerson, person_id)
        merge = session.get(ImmunizationMerge, person_id)
    if merge is not None:
        raise HTTPException(404, f"person {person_id} was merged into {merge.surviving_id}")
    if row is None:
        raise HTTPException(404, f"unknown person {person_id}")
    if row.voided:
        raise HTTPException(404, f"person {person_id} was voided")
    if row.forecast is None or row.forecast_on is None or row.residence is None:
        raise HTTPException(404, f"person {person_id} has no forecast yet")
    forecast = ForecastOut.model_validate_json(row.forecast)
    return PersonForecastOut(
        person_id=row.person_id,
        population=population_of(row.role),
        as_of=row.forecast_on,
        residence=row.residence,
        schedule_version=forecast.schedule_version,
        doses=forecast.doses,
    )


def _overdue_in_subtree(
    engine: Engine, orgunits: OrgTreeCache[Session], who: Principal, orgunit: str, day: dt.date
) -> tuple[OrgTree, OrgUnit, Decision, list[OverdueRow]]:
    """The tree in force, the org unit, whether ``who`` may read its names, and (only then) the
    doses overdue on ``day`` in its subtree."""
    with Session(engine) as session:
        try:
            tree = orgunits.tree(session)
        except OrgTreeError as error:
            raise HTTPException(
                503, f"the org-unit tree is being updated; retry: {error}"
            ) from None
        unit = tree.get(orgunit, day)
        if unit is None:
            raise HTTPException(404, f"org unit {orgunit!r} is not in force on {day}")
        decision = decide(who, Action.READ_NAMED, orgunit=orgunit, tree=tree, on=day)
        if not decision.allowed:
            return tree, unit, decision, []
        codes = [orgunit, *(u.code for u in tree.subtree(orgunit, day))]
        # People still recorded at a unit that has ended (a commune merged in 2025) live, from
        # its end on, in the successor it names: they are listed there, under that unit.
        here = set(codes)
        stands_for = {
            v.code: successor
            for v in tree.versions()
            if v.code not in here
            and (successor := tree.in_force_for(v.code, day)) is not None
            and successor in here
        }
        rows = _overdue_on(session, [*codes, *sorted(stands_for)], day)
        moved = [r._replace(residence=stands_for.get(r.residence, r.residence)) for r in rows]
        return tree, unit, decision, moved


def _overdue_on(session: Session, codes: list[str], day: dt.date) -> list[OverdueRow]:
    """The doses overdue on ``day`` of the people living in ``codes``."""
    overdue, person = ImmunizationOverdue, ImmunizationPerson
    rows: list[OverdueRow] = []
    for start in range(0, len(codes), _IN_CHUNK):
        query = (
            select(overdue, col(person.role), col(person.birth_date))
            .join(person, col(person.person_id) == overdue.person_id)
            .where(
                col(overdue.residence).in_(codes[start : start + _IN_CHUNK]),
                col(overdue.since) <= day,
                or_(col(overdue.until).is_(None), col(overdue.until) > day),
                # Nobody can reach an erased person: a list names no one it cannot serve.
                not_erased(SERVICE, col(overdue.person_id)),
            )
        )
        for dose, role, birth_date in session.exec(query).all():
            rows.append(
                OverdueRow(
                    person_id=dose.person_id,
                    population=population_of(role),
                    birth_date=birth_date,
                    residence=dose.residence,
                    vaccine=dose.vaccine,
                    dose=dose.dose,
                    since=dose.since,
                )
            )
    return rows


def _name(tree: OrgTree, code: str, day: dt.date) -> str:
    unit = tree.get(code, day)
    return unit.name if unit is not None else ""
