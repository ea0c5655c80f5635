"""Growth republishes the assessment last published for every visit (``POST /v1/admin/resync``):
records republishing a visit brings none back, since the same visit changes nothing for growth."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_events.outbox import outbox_table
from mch_growth import resync

Send = Callable[..., list[str]]
Published = Callable[[], list[g.GrowthAssessed]]
VisitOf = Callable[..., r.ChildVisitRecorded]


def event_ids(engine: Engine) -> list[str]:
    table = outbox_table("growth")
    with Session(engine) as session:
        return list(session.exec(select(table.event_id).order_by(col(table.id))))


def test_every_visit_is_published_again_as_last_assessed(
    send: Send, published: Published, new_visit: VisitOf, growth_engine: Engine
) -> None:
    children = [uuid.uuid4() for _ in range(3)]
    visits = [new_visit(child, day, 8.0 + day / 100) for child in children for day in (300, 330)]
    send(*visits)
    amended = visits[1].model_copy(update={"weight_kg": 7.0, "revision": 2})
    send(amended)
    assert send(visits[0]) == ["accepted"]  # the same visit again: nothing new to publish
    latest: dict[uuid.UUID, g.GrowthAssessed] = {a.visit_id: a for a in published()}
    assert len(latest) == len(visits)
    before = len(event_ids(growth_engine))

    steps: list[int] = []
    resync.republish(growth_engine, steps.append, chunk=4)
    assert steps == [4, 2], "in chunks"
    again = published()
    assert sorted(again, key=lambda a: str(a.visit_id)) == sorted(
        latest.values(), key=lambda a: str(a.visit_id)
    )
    first_ids = event_ids(growth_engine)[before:]
    assert all(i.startswith("resync-") for i in first_ids)

    resync.republish(growth_engine, steps.append)
    assert event_ids(growth_engine)[before + len(first_ids) :] == first_ids, "the same ids again"
