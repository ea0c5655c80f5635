"""Republishing immunization's outputs on ``mch.immunization.v1`` (``POST /v1/admin/resync``): for
every person with a forecast, each fact that holds at it (since the day it started) and each overdue
period that ended, a chunk of people per transaction.

A fact that stopped holding and left no trace (anything but an overdue dose) is not republished: a
consumer that missed both its start and its end is right without it.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mch_servicekit.resync import Progress

from .domain.person import population_of
from .domain.status import Change, FactKey, from_json
from .forecasting import publish_change
from .storage import ImmunizationOverdue, ImmunizationPerson

CHUNK = 500
"""People per transaction."""


def republish(engine: Engine, progress: Progress, *, chunk: int = CHUNK) -> None:
    after = ""
    while True:
        with Session(engine) as session:
            people = list(
                session.exec(
                    select(ImmunizationPerson)
                    .where(
                        col(ImmunizationPerson.person_id) > after,
                        col(ImmunizationPerson.forecast_on).is_not(None),
                    )
                    .order_by(col(ImmunizationPerson.person_id))
                    .limit(chunk)
                )
            )
            if not people:
                return
            after = people[-1].person_id
            staged = _stage(session, people)
            session.commit()
        progress(staged)


def _stage(session: Session, people: list[ImmunizationPerson]) -> int:
    ended: defaultdict[str, list[ImmunizationOverdue]] = defaultdict(list)
    for overdue in session.exec(
        select(ImmunizationOverdue).where(
            col(ImmunizationOverdue.person_id).in_([p.person_id for p in people]),
            col(ImmunizationOverdue.until).is_not(None),
        )
    ):
        ended[overdue.person_id].append(overdue)
    staged = 0
    for row in people:
        assert row.forecast_on is not None
        found = [
            Change(key, holds=True, since=since) for key, since in from_json(row.status).items()
        ]
        found += [
            Change(
                FactKey("dose_overdue", o.vaccine, o.dose),
                holds=False,
                since=o.since,
                until=o.until,
            )
            for o in sorted(ended[row.person_id], key=lambda o: (o.vaccine, o.dose, o.since))
        ]
        for change in found:
            publish_change(
                session, row, change, population_of(row.role), row.forecast_on, again=True
            )
        staged += len(found)
    return staged
