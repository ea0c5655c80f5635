"""What reporting keeps from ``mch.records.v1`` and ``mch.growth.v1`` (highest revision wins, a voided
record counts nowhere), and the queries indicators are computed from."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

from mch_events import staging
from mch_events.consume import BatchSummary
from mch_events.contracts import growth as g
from mch_events.contracts import immunization as i
from mch_events.contracts import records as r
from mch_events.contracts.common import Revisioned
from mch_events.contracts.results import EventResult
from mch_events.envelope import CloudEvent
from mch_events.orgtree import OrgTree
from mch_events.orgtree_cache import OrgTreeCache
from mch_servicekit.access import DEFAULT_MINIMUM, Principal
from mch_servicekit.db import reads_only
from mch_servicekit.upserts import upsert_newest

from .answers import RollUpCache
from .domain.disclosure import Disclosure, disclose, for_reader
from .domain.growth_indicators import GROWTH_INDICATORS, growth_counts
from .domain.immunization_indicators import CODES as IMMUNIZATION_CODES
from .domain.immunization_indicators import immunization_counts, oldest_counted
from .domain.indicators import Count, Indicator, IndicatorValue, View, roll_up, values_of
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
        self.small_cell_minimum = small_cell_minimum
        self.read = FactsReader(engine)
        self._orgtrees = OrgTreeCache(
            _orgunit_versions, connect=lambda: Session(reads_only(engine))
        )
        self._tree_changed = False
        self._rollups = RollUpCache()
        self._generation = 0
        """Moved on by every event applied, and again once its batch is committed: a roll-up made
        in between is not used after the commit."""

    # -- writing (consume.BatchApply) ------------------------------------------------------------
    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        return self.apply(session, event, data)

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None:
        """Nothing to load: rows are staged and upserted on commit, the database keeping the
        higher revision (``mch_servicekit.upserts``)."""

    def apply(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        self._generation += 1
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
        # No revision: the immunization service publishes a person's facts in order.
        person_id, status, vaccine, dose, birth_id = _status_key(data)
        _put(
            session,
            ReportingImmunizationFact,
            person_id=person_id,
            status=status,
            vaccine=vaccine,
            dose=dose,
            birth_id=birth_id,
            holds=data.holds,
            since=data.since,
            until=data.until,
            population=data.population,
            schedule_version=data.schedule_version,
            applied_at=_now(),
        )

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
        _put(
            session,
            ReportingOrgUnit,
            code=data.code,
            valid_from=data.valid_from,
            version=data.model_dump_json(),
        )
        self._tree_changed = True

    async def after_batch(self, _summary: BatchSummary) -> None:
        """Forget the cached tree once a batch that changed it is committed (not before: a reader
        in between would cache the old tree again), and the roll-ups made before."""
        self._generation += 1
        if self._tree_changed:
            self._tree_changed = False
            self._orgtrees.forget()

    def forget_tree(self) -> None:
        """The tables were replaced (a rebuild): read the tree again, count again."""
        self._orgtrees.forget()
        self._generation += 1

    def _child(self, session: Session, data: r.PersonState) -> None:
        _upsert(
            session,
            ReportingChild,
            str(data.person_id),
            data,
            birth_date=data.birth_date,
            registered_on=data.registered_on,
            residences=_residences(data),
            died_on=data.died_on,
            sex=data.sex,
            voided=data.voided or data.merged_into is not None,
        )

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
        _upsert(
            session,
            ReportingCare,
            str(record_id),
            data,
            person_id=str(person_id),
            kind=kind,
            care_date=day,
            facility=facility,
        )

    def _growth(self, session: Session, data: g.GrowthAssessed) -> None:
        def valid(z: g.ZScore | None) -> float | None:
            return z.value if z is not None and not z.flagged else None

        _upsert(
            session,
            ReportingGrowth,
            str(data.visit_id),
            data,
            child_id=str(data.child_id),
            visit_date=data.visit_date,
            birth_date=data.birth_date,
            residence=data.residence,
            facility=data.facility,
            waz=valid(data.waz),
            lhaz=valid(data.lhaz),
            whz=valid(data.whz),
            oedema=data.oedema,
            sex=data.sex,
            reference=data.reference,
            engine_version=data.engine_version,
        )

    # -- reading ---------------------------------------------------------------------------------
    def tree(self) -> OrgTree:
        """The tree of the stored versions; raises ``OrgTreeError`` while they do not form one."""
        return self._orgtrees.tree()

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
        """The values of each period (by code), from the roll-ups kept of the same facts, or from
        one read of the facts of the periods without one.

        Every answer to a request is made here, so small cells are suppressed here (after the
        sums, see ``domain.disclosure``), whichever route or export asks."""
        if not periods:
            return {}
        codes = frozenset(i.code for i in indicators)
        # Taken before the facts are read: facts committed meanwhile make the roll-up's token
        # older than theirs, never the other way round.
        token = (self._generation, self.read.log_total(), tree)
        rolled = {p: self._rollups.get((p, view, codes), token) for p in periods}
        missing = [p for p, found in rolled.items() if found is None]
        if missing:
            for period, counts in self._counts(missing, view, codes).items():
                made = rolled[period] = roll_up(counts, tree=tree, catalog=indicators)
                self._rollups.put((period, view, codes), token, made)
        return {
            p.code: disclose(
                values_of(found, orgunits=orgunits, catalog=indicators, view=view), disclosure
            )
            for p, found in rolled.items()
            if found is not None
        }

    def _counts(
        self, periods: Sequence[Period], view: View, codes: frozenset[str]
    ) -> dict[Period, list[Count]]:
        """Each period's counts, from one read of the facts of all of them: every rule keeps to
        the period it is given, so facts of a wider span change nothing."""
        span = Period("span", "month", min(p.start for p in periods), max(p.end for p in periods))
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
        counted: dict[Period, list[Count]] = {}
        for period in periods:
            counts = counted[period] = []
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
        return counted


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


def _orgunit_versions(session: Session) -> list[r.OrgUnit]:
    return [
        r.OrgUnit.model_validate_json(v) for v in session.exec(select(ReportingOrgUnit.version))
    ]


def _residences(data: r.PersonState) -> str:
    return json.dumps(
        [
            [p.effective_date.isoformat() if p.effective_date else None, p.residence]
            for p in data.residences
        ]
    )


@functools.cache
def _target(model: type[SQLModel]) -> staging.Target:
    table = model.__table__  # type: ignore[attr-defined]
    return upsert_newest(table, revision="revision" if "revision" in table.c else None)


def _put(session: Session, model: type[SQLModel], **row: Any) -> None:
    """Stage one row (every column of ``model``'s table), written on commit."""
    staging.stage(session, _target(model), row)


def _upsert(
    session: Session, model: type[SQLModel], key: str, data: Revisioned, **values: Any
) -> None:
    """Keep the highest revision of one record (an equal one is the same record again)."""
    pk = model.__table__.primary_key.columns.keys()[0]  # type: ignore[attr-defined]
    revisioned = {pk: key, "revision": data.revision, "voided": data.voided, "applied_at": _now()}
    _put(session, model, **(revisioned | values))
