"""What reporting keeps from ``mch.records.v1`` and ``mch.growth.v1`` (highest revision wins, a voided
record counts nowhere), and the queries indicators are computed from."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Engine, inspect
from sqlmodel import Session, SQLModel, select

from mch_events.consume import BatchSummary
from mch_events.contracts import growth as g
from mch_events.contracts import immunization as i
from mch_events.contracts import records as r
from mch_events.contracts.common import Revisioned
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent, EventError, parse_data
from mch_events.orgtree import OrgTree
from mch_servicekit.access import DEFAULT_MINIMUM, Principal
from mch_servicekit.db import reads_only

from .domain.disclosure import Disclosure, disclose, for_reader
from .domain.growth_indicators import GROWTH_INDICATORS, growth_counts
from .domain.immunization_indicators import CODES as IMMUNIZATION_CODES
from .domain.immunization_indicators import immunization_counts, oldest_counted
from .domain.indicators import Count, Indicator, IndicatorValue, View, aggregate
from .domain.maternal import CODES as MATERNAL_CODES
from .domain.maternal import maternal_counts
from .domain.periods import Period
from .storage import (
    FactsReader,
    ReportingAntenatal,
    ReportingBirth,
    ReportingCare,
    ReportingChild,
    ReportingGrowth,
    ReportingImmunizationFact,
    ReportingMother,
    ReportingOrgUnit,
    ReportingPostnatal,
    ReportingPregnancy,
    ReportingVitaminA,
)


class Facts:
    """Applies events to the reporting tables and answers the questions indicators ask."""

    def __init__(self, engine: Engine, *, small_cell_minimum: int = DEFAULT_MINIMUM) -> None:
        self._engine = engine
        self.small_cell_minimum = small_cell_minimum
        self.read = FactsReader(engine)
        self._tree: OrgTree | None = None
        self._tree_changed = False
        self._lock = threading.Lock()

    # -- writing (consume.BatchApply) ------------------------------------------------------------
    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        return self.apply(session, event, data)

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None:
        """Load, in a few queries, the rows the batch's events will change: ``apply`` then finds
        them (and the ones it adds) without a query, and the batch is written at its end."""
        wanted: dict[type[SQLModel], set[tuple[Any, ...]]] = {}
        for event in events:
            try:
                data = parse_data(event)
            except EventError:
                continue  # rejected when applied
            for model, key in _touched(data):
                wanted.setdefault(model, set()).add(key)
        rows: dict[tuple[type[SQLModel], tuple[Any, ...]], SQLModel | None] = {}
        for model, keys in wanted.items():
            rows.update(dict.fromkeys(((model, k) for k in keys), None))
            first = next(iter(model.__table__.primary_key.columns))  # type: ignore[attr-defined]
            leading = sorted({k[0] for k in keys})
            for start in range(0, len(leading), _IN_CHUNK):
                chunk = leading[start : start + _IN_CHUNK]
                for row in session.exec(select(model).where(first.in_(chunk))):
                    key = tuple(inspect(row).identity or ())
                    if key in keys:
                        rows[(model, key)] = row
        session.info[_ROWS] = rows

    def apply(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        try:
            return self._apply(session, event, data)
        except Exception:
            # Its savepoint is rolled back: what was kept for the batch may be stale.
            session.info.pop(_ROWS, None)
            raise

    def _apply(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        match data:
            case r.OrgUnit():
                self._orgunit(session, data)
            case r.PersonState() if data.role == "child":
                self._child(session, data)
            case r.PersonState():
                self._mother(session, data)
            case g.GrowthAssessed():
                self._growth(session, data)
            case r.ChildVisitRecorded():
                self._child_visit(session, data)
            case r.ImmunizationRecorded():
                self._care(
                    session,
                    data.immunization_id,
                    data.person_id,
                    "dose",
                    data.date,
                    data,
                    data.facility,
                )
            case r.PostnatalVisitRecorded():
                self._postnatal(session, data)
            case r.BirthRecorded():
                self._birth(session, data)
            case r.PregnancyState():
                self._pregnancy(session, data)
            case i.ImmunizationStatusChanged():
                self._status(session, data)
            case r.AntenatalVisitRecorded():
                self._antenatal(session, data)
        return EventResult(id=event.id, status="accepted")

    def _child_visit(self, session: Session, data: r.ChildVisitRecorded) -> None:
        self._care(
            session,
            data.visit_id,
            data.child_id,
            "child_visit",
            data.visit_date,
            data,
            data.facility,
        )
        self._vitamin_a(session, data)

    def _postnatal(self, session: Session, data: r.PostnatalVisitRecorded) -> None:
        if data.child_id is not None:
            self._care(session, data.visit_id, data.child_id, "postnatal", data.visit_date, data)
        _upsert(
            session,
            ReportingPostnatal,
            str(data.visit_id),
            data,
            mother_id=str(data.mother_id),
            visit_date=data.visit_date,
        )

    def _pregnancy(self, session: Session, data: r.PregnancyState) -> None:
        _upsert(
            session,
            ReportingPregnancy,
            str(data.pregnancy_id),
            data,
            mother_id=str(data.mother_id),
            edd=data.edd,
            lmp_date=data.lmp_date,
            registered_on=data.registered_on,
            residence=data.residence,
        )

    def _antenatal(self, session: Session, data: r.AntenatalVisitRecorded) -> None:
        tests = data.tests
        _upsert(
            session,
            ReportingAntenatal,
            str(data.visit_id),
            data,
            pregnancy_id=str(data.pregnancy_id),
            facility=data.facility,
            visit_date=data.visit_date,
            residence=data.residence,
            gestational_weeks=data.gestational_weeks,
            hiv=tests is not None and tests.hiv is not None,
            syphilis=tests is not None and tests.syphilis is not None,
            hepb=tests is not None and tests.hepb is not None,
        )

    def _status(self, session: Session, data: i.ImmunizationStatusChanged) -> None:
        key = _status_key(data)
        row = _get(session, ReportingImmunizationFact, key) or ReportingImmunizationFact(
            person_id=key[0],
            status=key[1],
            vaccine=key[2],
            dose=key[3],
            birth_id=key[4],
            holds=data.holds,
            since=data.since,
            population=data.population,
            schedule_version=data.schedule_version,
        )
        row.holds, row.since, row.until = data.holds, data.since, data.until
        row.population, row.schedule_version = data.population, data.schedule_version
        row.applied_at = _now()
        _keep(session, row, key)

    def _mother(self, session: Session, data: r.PersonState) -> None:
        _upsert(
            session,
            ReportingMother,
            str(data.person_id),
            data,
            residences=_residences(data),
            died_on=data.died_on,
            voided=data.voided or data.merged_into is not None,
        )

    def _birth(self, session: Session, data: r.BirthRecorded) -> None:
        for baby in data.babies:
            self._care(session, data.birth_id, baby.child_id, "birth", data.birth_date, data)
        babies = [
            {
                "child_id": str(b.child_id),
                "sex": b.sex,
                "live": b.outcome == "live",
                "weight_g": b.weight_g,
            }
            for b in data.babies
        ]
        _upsert(
            session,
            ReportingBirth,
            str(data.birth_id),
            data,
            pregnancy_id=str(data.pregnancy_id),
            mother_id=str(data.mother_id),
            facility=data.facility,
            birth_date=data.birth_date,
            residence=data.residence,
            place=data.place,
            attendant=data.attendant,
            babies=json.dumps(babies),
        )

    def _vitamin_a(self, session: Session, data: r.ChildVisitRecorded) -> None:
        _upsert(
            session,
            ReportingVitaminA,
            str(data.visit_id),
            data,
            child_id=str(data.child_id),
            facility=data.facility,
            visit_date=data.visit_date,
            residence=data.residence,
            birth_date=data.birth_date,
            sex=data.sex,
            given=bool(data.vitamin_a),
        )

    def _orgunit(self, session: Session, data: r.OrgUnit) -> None:
        row = _get(session, ReportingOrgUnit, (data.code, data.valid_from))
        row = row or ReportingOrgUnit(code=data.code, valid_from=data.valid_from, version="")
        row.version = data.model_dump_json()
        _keep(session, row, (data.code, data.valid_from))
        self._tree_changed = True

    async def after_batch(self, _summary: BatchSummary) -> None:
        """Forget the cached tree once a batch that changed it is committed (not before: a reader
        in between would cache the old tree again)."""
        if self._tree_changed:
            self._tree_changed = False
            with self._lock:
                self._tree = None

    def forget_tree(self) -> None:
        """The tables were replaced (a rebuild): read the tree again."""
        with self._lock:
            self._tree = None

    def _child(self, session: Session, data: r.PersonState) -> None:
        row = _get(session, ReportingChild, str(data.person_id))
        if row is not None and data.revision < row.revision:
            return
        values: dict[str, Any] = {  # columns of several types, set by name on a new or stored row
            "birth_date": data.birth_date,
            "registered_on": data.registered_on,
            "residences": _residences(data),
            "died_on": data.died_on,
            "sex": data.sex,
            "revision": data.revision,
            "voided": data.voided or data.merged_into is not None,
            "applied_at": _now(),
        }
        row = row or ReportingChild(child_id=str(data.person_id), **values)
        for name, value in values.items():
            setattr(row, name, value)
        _keep(session, row, str(data.person_id))

    def _care(
        self,
        session: Session,
        record_id: UUID,
        person_id: UUID,
        kind: str,
        day: dt.date,
        data: Revisioned,
        facility: str | None = None,
    ) -> None:
        key = (str(record_id), str(person_id))
        row = _get(session, ReportingCare, key)
        if row is not None and data.revision < row.revision:
            return
        row = row or ReportingCare(record_id=key[0], person_id=key[1], kind=kind, care_date=day)
        row.kind, row.care_date, row.facility = kind, day, facility
        row.revision, row.voided, row.applied_at = data.revision, data.voided, _now()
        _keep(session, row, key)

    def _growth(self, session: Session, data: g.GrowthAssessed) -> None:
        row = _get(session, ReportingGrowth, str(data.visit_id))
        if row is not None and data.revision < row.revision:
            return

        def valid(z: g.ZScore | None) -> float | None:
            return z.value if z is not None and not z.flagged else None

        values: dict[str, Any] = {  # columns of several types, set by name on a new or stored row
            "child_id": str(data.child_id),
            "visit_date": data.visit_date,
            "birth_date": data.birth_date,
            "residence": data.residence,
            "facility": data.facility,
            "waz": valid(data.waz),
            "lhaz": valid(data.lhaz),
            "whz": valid(data.whz),
            "oedema": data.oedema,
            "sex": data.sex,
            "reference": data.reference,
            "engine_version": data.engine_version,
            "revision": data.revision,
            "voided": data.voided,
            "applied_at": _now(),
        }
        row = row or ReportingGrowth(visit_id=str(data.visit_id), **values)
        for name, value in values.items():
            setattr(row, name, value)
        _keep(session, row, str(data.visit_id))

    # -- reading ---------------------------------------------------------------------------------
    def tree(self) -> OrgTree:
        with self._lock:
            if self._tree is None:
                with Session(reads_only(self._engine)) as session:
                    rows = session.exec(select(ReportingOrgUnit.version)).all()
                self._tree = OrgTree(r.OrgUnit.model_validate_json(v) for v in rows)
            return self._tree

    def disclosure(self, reader: Principal, tree: OrgTree, period: Period) -> Disclosure:
        """What ``reader`` may see of answers about ``period`` (pass it to ``values``)."""
        return for_reader(reader, tree, period, minimum=self.small_cell_minimum)

    def values(
        self,
        orgunits: Sequence[str],
        period: Period,
        view: View,
        indicators: Sequence[Indicator],
        tree: OrgTree,
        *,
        disclosure: Disclosure,
    ) -> dict[str, list[IndicatorValue]]:
        """The values of ``indicators`` for each of ``orgunits``, from one read of the facts, as
        the reader may see them."""
        return self.values_over(orgunits, [period], view, indicators, tree, disclosure=disclosure)[
            period.code
        ]

    def values_over(
        self,
        orgunits: Sequence[str],
        periods: Sequence[Period],
        view: View,
        indicators: Sequence[Indicator],
        tree: OrgTree,
        *,
        disclosure: Disclosure,
    ) -> dict[str, dict[str, list[IndicatorValue]]]:
        """The values of each period (by code), from one read of the facts of all of them: every
        rule keeps to the period it is given, so facts of a wider span change nothing.

        Every answer to a request is made here, so small cells are suppressed here (after the
        sums, see ``domain.disclosure``), whichever route or export asks."""
        if not periods:
            return {}
        span = Period("span", "month", min(p.start for p in periods), max(p.end for p in periods))
        codes = {i.code for i in indicators}
        # One read of the children for every rule and period: the widest window any of them needs.
        oldest = oldest_counted(periods)
        children = self.read.children_born_after(oldest)
        growth = codes & set(GROWTH_INDICATORS)
        measurements = self.read.measurements(span) if growth else []
        maternal = (
            self.read.maternal_facts(span, codes, children) if codes & MATERNAL_CODES else None
        )
        immunization = (
            self.read.immunization_facts(span, codes, view, children, born_after=oldest)
            if codes & IMMUNIZATION_CODES
            else None
        )
        answers: dict[str, dict[str, list[IndicatorValue]]] = {}
        for period in periods:
            counts: list[Count] = []
            if growth:
                counts += growth_counts(
                    period=period, measurements=measurements, children=children, view=view
                )
            if maternal is not None:
                counts += maternal_counts(period=period, facts=maternal, view=view, wanted=codes)
            if immunization is not None:
                counts += immunization_counts(
                    period=period, facts=immunization, view=view, wanted=codes
                )
            answers[period.code] = disclose(
                aggregate(counts, orgunits=orgunits, tree=tree, catalog=indicators, view=view),
                disclosure,
            )
        return answers


_ROWS = "mch_reporting.rows"
"""``session.info`` key of the rows a batch changes (see ``Facts.prepare``)."""
_IN_CHUNK = 500


def _get(session: Session, model: type[Row], key: Any) -> Row | None:
    """``session.get`` through the rows kept for the batch, if any."""
    rows = session.info.get(_ROWS)
    if rows is None:
        return session.get(model, key)
    found = (model, key if isinstance(key, tuple) else (key,))
    if found not in rows:
        rows[found] = session.get(model, key)
    row: Row | None = rows[found]
    return row


def _keep(session: Session, row: SQLModel, key: Any) -> None:
    session.add(row)
    rows = session.info.get(_ROWS)
    if rows is not None:
        rows[(type(row), key if isinstance(key, tuple) else (key,))] = row


def _touched(data: BaseModel) -> list[tuple[type[SQLModel], tuple[Any, ...]]]:
    """The rows ``Facts.apply`` reads and writes for ``data``, by primary key."""
    match data:
        case r.OrgUnit():
            return [(ReportingOrgUnit, (data.code, data.valid_from))]
        case r.PersonState() if data.role == "child":
            return [(ReportingChild, (str(data.person_id),))]
        case r.PersonState():
            return [(ReportingMother, (str(data.person_id),))]
        case g.GrowthAssessed():
            return [(ReportingGrowth, (str(data.visit_id),))]
        case r.ChildVisitRecorded():
            return [
                (ReportingCare, (str(data.visit_id), str(data.child_id))),
                (ReportingVitaminA, (str(data.visit_id),)),
            ]
        case r.ImmunizationRecorded():
            return [(ReportingCare, (str(data.immunization_id), str(data.person_id)))]
        case r.PostnatalVisitRecorded():
            care = [(ReportingCare, (str(data.visit_id), str(data.child_id)))]
            return [*(care if data.child_id else []), (ReportingPostnatal, (str(data.visit_id),))]
        case r.BirthRecorded():
            return [
                *((ReportingCare, (str(data.birth_id), str(b.child_id))) for b in data.babies),
                (ReportingBirth, (str(data.birth_id),)),
            ]
        case r.PregnancyState():
            return [(ReportingPregnancy, (str(data.pregnancy_id),))]
        case i.ImmunizationStatusChanged():
            return [(ReportingImmunizationFact, _status_key(data))]
        case r.AntenatalVisitRecorded():
            return [(ReportingAntenatal, (str(data.visit_id),))]
    return []


def _status_key(data: i.ImmunizationStatusChanged) -> tuple[str, str, str, int, str]:
    return (
        str(data.person_id),
        data.status,
        data.vaccine or "",
        data.dose or 0,
        str(data.birth_id) if data.birth_id else "",
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _residences(data: r.PersonState) -> str:
    return json.dumps(
        [
            [p.effective_date.isoformat() if p.effective_date else None, p.residence]
            for p in data.residences
        ]
    )


Row = TypeVar("Row", bound=SQLModel)


def _upsert(
    session: Session, model: type[Row], key: str, data: Revisioned, **values: object
) -> None:
    """Keep the highest revision of one record (an equal one is the same record again)."""
    row = _get(session, model, key)
    if row is not None and data.revision < row.revision:  # type: ignore[attr-defined]
        return
    values = {"revision": data.revision, "voided": data.voided, "applied_at": _now()} | values
    if row is None:
        pk = model.__table__.primary_key.columns.keys()[0]  # type: ignore[attr-defined]
        row = model(**{pk: key}, **values)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    _keep(session, row, key)
