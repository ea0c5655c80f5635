"""Republishing growth's outputs on ``mch.growth.v1`` (``POST /v1/admin/resync``): the assessment
last published for every visit, as it was published, a chunk of visits per transaction.

Records republishing its visits does not bring these back: growth publishes an assessment only
when it changes for consumers, and the same visit again changes nothing.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mch_events import outbox, topics
from mch_events.contracts import growth as g
from mch_events.envelope import new_event
from mch_servicekit.resync import Progress, content_id

from .processing import SOURCE
from .storage import SERVICE, GrowthVisit

CHUNK = 1000
"""Visits per transaction."""


def republish(engine: Engine, progress: Progress, *, chunk: int = CHUNK) -> None:
    after = ""
    while True:
        with Session(engine) as session:
            rows = session.exec(
                select(GrowthVisit.visit_id, GrowthVisit.assessment)
                .where(col(GrowthVisit.visit_id) > after, col(GrowthVisit.assessment) != "")
                .order_by(col(GrowthVisit.visit_id))
                .limit(chunk)
            ).all()
            if not rows:
                return
            after = rows[-1][0]
            for _, assessment in rows:
                contract = g.GrowthAssessed.model_validate_json(assessment)
                event_id = content_id("resync", "GrowthAssessed", contract)
                outbox.add(
                    session,
                    new_event(
                        contract, source=SOURCE, revision=contract.revision, event_id=event_id
                    ),
                    topic=topics.GROWTH,
                    key=str(contract.child_id),
                    service=SERVICE,
                )
            session.commit()
        progress(len(rows))
