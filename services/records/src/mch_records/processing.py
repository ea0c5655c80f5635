"""The gate every facility event passes through, whichever way it came (Kafka or HTTP): org units,
references (held until they arrive), plausibility; then ``recording`` stores the change and stages
the events announcing it in the caller's transaction (outbox)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import or_
from sqlmodel import Session, col, select

from mch_events import idempotency
from mch_events.claims import FacilityKeys, claim_problems
from mch_events.contracts import facility as f
from mch_events.contracts.results import EventResult, Problem, ReasonCode
from mch_events.envelope import CloudEvent, EventError, parse_data
from mch_events.orgtree import OrgTree
from mch_events.orgtree_cache import OrgTreeCache
from mch_events.telemetry import current_traceparent

from . import recording
from .domain import checks, rules
from .lookups import Lookups, ids_in, lookups
from .rejections import record_rejection
from .storage import SERVICE, HeldEvent, Person, Record

CONSUMER = "mch-records"
"""The consumer name events are deduplicated under, on both ways in (the Kafka group's name)."""


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


@dataclass
class Gate:
    """Applies facility events (``mch_events.consume.BatchApply``)."""

    orgunits: OrgTreeCache[Session]
    hold_for: dt.timedelta = dt.timedelta(days=7)
    today: Callable[[], dt.date] = utc_today

    # -- entry points (consume.BatchApply) -------------------------------------------------------
    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        return self.apply(session, event, data)

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None:
        """Load what a batch refers to in a few queries rather than a few per event."""
        ids: set[str] = set()
        for event in events:
            ids |= ids_in(event.data)
        lookups(session).preload(ids, [e.id for e in events])

    def apply(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        known = lookups(session)
        when = checks.care_date(data, event.time)
        problems = checks.nul_characters(data) or self._org_problems(
            self.orgunits.tree(session), event, data, when
        )
        if problems:
            raise EventError(problems)
        missing = self._missing_reference(known, data)
        if missing is not None:
            return self._hold(known, event, missing)
        problems = checks.plausibility(data, when, self._facts(known, data))
        if problems:
            raise EventError(problems)
        with known.storing_changes():
            outcome = recording.store(known, event, data, when)
        for created in outcome.created:
            self._release_held(known, created)
        return EventResult(id=event.id, status=outcome.status)

    # -- checks ----------------------------------------------------------------------------------
    def _org_problems(
        self, tree: OrgTree, event: CloudEvent, data: BaseModel, when: dt.date
    ) -> list[Problem]:
        problems = []
        for field, code in [("source", event.source), *checks.org_codes(data)]:
            if not tree.exists(code, when):
                problems.append(
                    Problem(
                        code=ReasonCode.UNKNOWN_ORG_UNIT,
                        field=field,
                        rule="org_unit_in_force",
                        message=f"{field}: no org unit {code!r} in force on {when}",
                    )
                )
        return problems

    def _missing_reference(self, known: Lookups, data: BaseModel) -> checks.Reference | None:
        refs = checks.references(data)
        ids = {str(ref.id) for ref in refs}
        people = {i for i in ids if known.person(i) is not None}
        kinds = {i: rec.kind for i in ids if (rec := known.record(i)) is not None}
        return rules.first_missing(refs, people, kinds)

    def _facts(self, known: Lookups, data: BaseModel) -> checks.Facts:
        today = self.today()
        match data:
            case f.MotherRegistered() | f.ChildRegistered():
                return checks.Facts(subject_birth_date=data.birth_date, today=today)
            case f.AntenatalVisit() | f.Birth():
                preg = known.record(str(data.pregnancy_id))
                p = f.PregnancyRegistered.model_validate_json(preg.data) if preg else None
                return checks.Facts(
                    lmp_date=p.lmp_date if p else None, edd=p.edd if p else None, today=today
                )
            case f.ChildVisit():
                child = known.person(known.resolve(str(data.child_id)))
                return checks.Facts(
                    subject_birth_date=child.birth_date if child else None, today=today
                )
            case f.Immunization() | f.Death() | f.ResidenceChanged():
                person = known.person(known.resolve(str(data.person_id)))
                return checks.Facts(
                    subject_birth_date=person.birth_date if person else None, today=today
                )
        return checks.Facts(today=today)

    # -- holding ---------------------------------------------------------------------------------
    def _hold(self, known: Lookups, event: CloudEvent, ref: checks.Reference) -> EventResult:
        if not known.is_held(event.id):
            known.add_held(
                HeldEvent(
                    event_id=event.id,
                    waiting_for=str(ref.id),
                    waiting_field=ref.field,
                    source=event.source,
                    event_type=event.type,
                    envelope=event.model_dump_json(),
                    traceparent=current_traceparent(),
                    expires_at=dt.datetime.now(dt.UTC) + self.hold_for,
                )
            )
        return EventResult(
            id=event.id, status="held", problems=[rules.held_problem(ref, self.hold_for)]
        )

    def _release_held(self, known: Lookups, record_id: str) -> None:
        for row in known.waiting_for(record_id):
            self._apply_held(known.session, row)

    def _apply_held(self, session: Session, row: HeldEvent) -> None:
        """Apply a held event whose reference may have arrived: stored (and claimed, so a copy
        arriving later is a duplicate), held again for its next missing reference, or rejected.

        In a batch run with a savepoint per event (after something failed) it gets a savepoint
        of its own too, so that a failure in it spares the event that released it; without
        (the fast path), a failure rolls the batch back to be run that way."""
        lookups(session).delete_held(row)
        event = CloudEvent.model_validate_json(row.envelope)
        guard = session.begin_nested() if session.in_nested_transaction() else None
        try:
            result = self.apply(session, event, parse_data(event))
        except EventError as exc:
            if guard is not None:
                guard.rollback()
            record_rejection(session, event.model_dump(mode="json"), exc.problems, "held")
            return
        except Exception as exc:
            if guard is None:
                raise
            guard.rollback()
            problem = Problem(
                code=ReasonCode.PROCESSING_ERROR, message=f"{type(exc).__name__}: {exc}"[:500]
            )
            record_rejection(session, event.model_dump(mode="json"), [problem], "held")
            return
        if guard is not None:
            guard.commit()
        if result.status != "held":
            with session.no_autoflush:  # the batch's rows are written together at the end
                idempotency.claim_all(session, CONSUMER, [event.id], service=SERVICE)

    def retry_held(self, session: Session) -> int:
        """Apply the held events whose reference exists now. The reference and the event may have
        arrived in two transactions at once (an HTTP batch and a Kafka batch), each unable to see
        the other; this catches that. Returns how many were retried."""
        rows = session.exec(
            select(HeldEvent)
            .where(
                or_(
                    col(HeldEvent.waiting_for).in_(select(Person.person_id)),
                    col(HeldEvent.waiting_for).in_(select(Record.record_id)),
                )
            )
            .order_by(col(HeldEvent.received_at))
        ).all()
        known = lookups(session)
        for row in rows:
            if known.is_held(row.event_id):  # not released by an earlier one
                with session.begin_nested():  # one failing event spares the others
                    self._apply_held(session, row)
        return len(rows)

    def expire_held(self, session: Session, now: dt.datetime) -> list[tuple[CloudEvent, Problem]]:
        """Held events whose reference never came: removed, recorded as rejections, returned so the
        caller can dead-letter them."""
        expired = session.exec(select(HeldEvent).where(col(HeldEvent.expires_at) <= now)).all()
        out = []
        for row in expired:
            event = CloudEvent.model_validate_json(row.envelope)
            problem = rules.expired_problem(row.waiting_field, row.waiting_for, row.received_at)
            record_rejection(session, event.model_dump(mode="json"), [problem], "held")
            session.delete(row)
            out.append((event, problem))
        return out


@dataclass
class ClaimedGate:
    """The gate for facility events from Kafka when signed facility claims are required: an event
    whose claim is missing, not signed by its facility's credential, or for another facility
    than its ``source`` or ``data.facility`` is rejected with ``not_authorized`` (and
    dead-lettered and kept with the rejections, like every rejection) before it changes anything."""

    gate: Gate
    keys: FacilityKeys

    def __call__(self, session: Session, event: CloudEvent, data: BaseModel) -> EventResult:
        problems = claim_problems(event, self.keys)
        if problems:
            raise EventError(problems)
        return self.gate(session, event, data)

    def prepare(self, session: Session, events: Sequence[CloudEvent]) -> None:
        self.gate.prepare(session, events)
