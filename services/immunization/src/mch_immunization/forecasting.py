"""Forecasting people again: load what was recorded about them, forecast as of today with the
schedule in force, keep the forecast and the overdue doses, and publish the status facts that
changed (outbox), all in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence

from sqlalchemy import and_, delete, exists, or_, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from mch_events import outbox, topics
from mch_events.contracts.common import Role
from mch_events.contracts.immunization import ImmunizationStatusChanged
from mch_events.envelope import VN_TZ, new_event
from mch_events.orgtree_cache import OrgTreeCache
from mch_servicekit.resync import content_id

from . import orgunits
from .catalog import ScheduleBook
from .domain.engine import GivenDose
from .domain.person import (
    Delivery,
    Pregnancy,
    Recorded,
    Residence,
    forecast_date,
    forecast_recorded,
    population_of,
    residence_on,
)
from .domain.schedule import Population
from .domain.status import Change, changes, from_json, status_of, to_json
from .storage import SERVICE as _SERVICE
from .storage import (
    ImmunizationBirth,
    ImmunizationDose,
    ImmunizationMerge,
    ImmunizationOverdue,
    ImmunizationPerson,
    ImmunizationPregnancy,
)

SOURCE = "mch-immunization"
_ROLES: tuple[Role, ...] = ("child", "mother")


def today_in_vietnam() -> dt.date:
    return dt.datetime.now(VN_TZ).date()


class Forecaster:
    def __init__(
        self,
        schedules: ScheduleBook,
        trees: OrgTreeCache[Session],
        today: Callable[[], dt.date] = today_in_vietnam,
    ) -> None:
        self._schedules = schedules
        self._trees = trees
        self.today = today

    # -- choosing whom -----------------------------------------------------------------------------
    def lock_person(self, session: Session, person_id: str) -> ImmunizationPerson | None:
        return session.get(ImmunizationPerson, person_id, with_for_update=True)

    def lock_stale(self, session: Session, limit: int, after: str) -> list[ImmunizationPerson]:
        """The next ``limit`` people after ``after`` (by id) to forecast again, locked: those whose
        records changed, and those who count and whose forecast is not of today or not of the
        schedule now in force. Rows another transaction holds are skipped, not waited for: it is
        changing their records, so they will be pending again."""
        today = self.today()
        person = ImmunizationPerson
        outdated: list[ColumnElement[bool]] = [
            col(person.forecast_on).is_(None),
            col(person.forecast_on) < today,
        ]
        for role in _ROLES:
            schedule = self._schedules.catalog.default_for(population_of(role), today)
            if schedule is not None:
                outdated.append(
                    and_(
                        col(person.role) == role,
                        or_(
                            col(person.schedule_version).is_(None),
                            col(person.schedule_version) != schedule.label,
                        ),
                    )
                )
        counts = and_(col(person.voided) == False, ~_is_duplicate())  # noqa: E712
        query = (
            select(person)
            .where(
                col(person.person_id) > after,
                or_(col(person.pending), and_(counts, or_(*outdated))),
            )
            .order_by(col(person.person_id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(session.exec(query).all())

    # -- forecasting ---------------------------------------------------------------------------
    def refresh(self, session: Session, people: Sequence[ImmunizationPerson]) -> None:
        """Forecast each (locked) person again; one who no longer counts loses every fact."""
        ids = [p.person_id for p in people]
        duplicates = set(
            session.exec(
                select(ImmunizationMerge.duplicate_id).where(
                    col(ImmunizationMerge.duplicate_id).in_(ids)
                )
            )
        )
        recorded = _load_recorded(session, [p for p in people if p.person_id not in duplicates])
        for row in people:
            found = recorded.get(row.person_id)
            if row.voided or found is None:
                self._retract(session, row)
            else:
                self._forecast(session, row, found)

    def _forecast(self, session: Session, row: ImmunizationPerson, recorded: Recorded) -> None:
        today = self.today()
        population = recorded.population
        schedule = self._schedules.catalog.default_for(population, today)
        if schedule is None:
            raise LookupError(f"no {population} schedule is loaded")
        as_of = forecast_date(recorded, today)
        residence = residence_on(recorded.residences, as_of)
        ancestors = orgunits.ancestors(self._trees, session, residence, as_of)
        result = forecast_recorded(schedule, recorded, ancestors, as_of)
        status = status_of(result, recorded.birth_date, recorded.deliveries, recorded.died_on)
        stopped_on = min(recorded.died_on, as_of) if recorded.died_on else as_of
        found = changes(from_json(row.status), status, result, stopped_on)
        if row.residence is not None and row.residence != residence:
            # Defaulter lists follow a person who moves.
            session.execute(
                update(ImmunizationOverdue)
                .where(
                    col(ImmunizationOverdue.person_id) == row.person_id,
                    col(ImmunizationOverdue.until).is_(None),
                )
                .values(residence=residence)
            )
        row.forecast = json.dumps(result.to_dict(), separators=(",", ":"))
        row.forecast_on, row.residence, row.schedule_version = as_of, residence, schedule.label
        row.status, row.pending = to_json(status), False
        session.add(row)
        for change in found:
            if change.key.fact == "dose_overdue":
                _keep_overdue(session, row.person_id, residence, change)
            publish_change(session, row, change, population, as_of)

    def _retract(self, session: Session, row: ImmunizationPerson) -> None:
        """Voided, or merged into another person: nothing of theirs counts any more."""
        today = self.today()
        found = changes(from_json(row.status), {}, None, today)
        session.execute(
            delete(ImmunizationOverdue).where(col(ImmunizationOverdue.person_id) == row.person_id)
        )
        row.forecast, row.forecast_on, row.status, row.pending = None, today, to_json({}), False
        row.residence = residence_on(_residences(row), today)
        session.add(row)
        for change in found:
            publish_change(session, row, change, population_of(row.role), today)


def _keep_overdue(session: Session, person_id: str, residence: str, change: Change) -> None:
    vaccine, dose = change.key.vaccine or "", change.key.dose or 0
    row = session.get(ImmunizationOverdue, (person_id, vaccine, dose))
    if row is None:
        if not change.holds:
            return
        row = ImmunizationOverdue(
            person_id=person_id, vaccine=vaccine, dose=dose, since=change.since, residence=residence
        )
    row.since, row.until, row.residence = change.since, change.until, residence
    session.add(row)


def publish_change(
    session: Session,
    row: ImmunizationPerson,
    change: Change,
    population: Population,
    as_of: dt.date,
    *,
    again: bool = False,
) -> None:
    """Stage one change of ``row``'s facts; ``again`` (a republish) gives the event an id derived
    from its content, so consumers that applied the same fact already skip it."""
    key = change.key
    event = ImmunizationStatusChanged.model_validate(
        {
            "person_id": row.person_id,
            "status": key.fact,
            "holds": change.holds,
            "since": change.since,
            "until": change.until,
            "vaccine": key.vaccine,
            "dose": key.dose,
            "birth_id": key.birth_id,
            "population": population,
            "sex": row.sex,
            "birth_date": row.birth_date,
            "residence": row.residence,
            "as_of": as_of,
            "schedule_version": row.schedule_version,
        }
    )
    event_id = content_id("resync", "ImmunizationStatusChanged", event) if again else None
    outbox.add(
        session,
        new_event(event, source=SOURCE, event_id=event_id),
        topic=topics.IMMUNIZATION,
        key=row.person_id,
        service=_SERVICE,
    )


def _role(row: ImmunizationPerson) -> Role:
    return "mother" if row.role == "mother" else "child"


def _is_duplicate() -> ColumnElement[bool]:
    return exists().where(col(ImmunizationMerge.duplicate_id) == col(ImmunizationPerson.person_id))


def _residences(row: ImmunizationPerson) -> tuple[Residence, ...]:
    return tuple(
        Residence(dt.date.fromisoformat(since) if since else None, code)
        for since, code in json.loads(row.residences)
    )


def _load_recorded(session: Session, people: Sequence[ImmunizationPerson]) -> dict[str, Recorded]:
    """What was recorded about each person (voided records left out), in three queries."""
    ids = [p.person_id for p in people]
    doses: dict[str, list[GivenDose]] = {}
    for dose in session.exec(
        select(ImmunizationDose).where(
            col(ImmunizationDose.person_id).in_(ids),
            col(ImmunizationDose.voided) == False,  # noqa: E712
        )
    ).all():
        doses.setdefault(dose.person_id, []).append(GivenDose(dose.vaccine, dose.date))
    mothers = [p.person_id for p in people if p.role == "mother"]
    pregnancies: dict[str, list[Pregnancy]] = {}
    deliveries: dict[str, list[Delivery]] = {}
    if mothers:
        for pregnancy in session.exec(
            select(ImmunizationPregnancy).where(
                col(ImmunizationPregnancy.mother_id).in_(mothers),
                col(ImmunizationPregnancy.voided) == False,  # noqa: E712
            )
        ).all():
            pregnancies.setdefault(pregnancy.mother_id, []).append(
                Pregnancy(pregnancy.pregnancy_id, pregnancy.edd)
            )
        for birth in session.exec(
            select(ImmunizationBirth).where(
                col(ImmunizationBirth.mother_id).in_(mothers),
                col(ImmunizationBirth.voided) == False,  # noqa: E712
            )
        ).all():
            deliveries.setdefault(birth.mother_id, []).append(
                Delivery(birth.birth_id, birth.pregnancy_id, birth.birth_date)
            )
    recorded = {}
    for p in people:
        recorded[p.person_id] = Recorded(
            role=_role(p),
            sex="F" if p.sex == "F" else "M",
            birth_date=p.birth_date,
            residences=_residences(p),
            doses=tuple(doses.get(p.person_id, ())),
            died_on=p.died_on,
            pregnancies=tuple(pregnancies.get(p.person_id, ())),
            deliveries=tuple(deliveries.get(p.person_id, ())),
        )
    return recorded
