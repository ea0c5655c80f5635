"""What an answer costs: a province's indicators, its drill-down and a 12-month series, computed
from the facts of a synthetic province on SQLite.

Builds (fixed seed) 100 communes with N registered children under 6 (default 20,000), a growth
visit in November 2026 for most of them with a record of the visit, a valid PENTA 1 for a fifth
of them, and one delivery with four antenatal visits for every tenth child; then times the
questions the API answers. Prints each answer's time when counted from the facts (cold) and
when asked again with the facts unchanged (warm: from the roll-up kept).

Run: ``.venv/bin/python services/reporting/bench/bench_indicators.py [children]``
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlmodel import Session

from mch_events.contracts.records import OrgUnit
from mch_reporting.domain import catalog
from mch_reporting.domain.periods import parse_period
from mch_reporting.processing import Facts
from mch_reporting.storage import (
    ReportingAntenatal,
    ReportingBirth,
    ReportingCare,
    ReportingChild,
    ReportingGrowth,
    ReportingImmunizationFact,
    ReportingOrgUnit,
)
from mch_servicekit.access import Principal, Role
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import upgrade

SEED = 20261130
COMMUNES = [f"38{i:03d}" for i in range(100)]
START = dt.date(2020, 1, 1)


def build(url: str, children: int) -> None:
    rng = random.Random(SEED)
    engine = make_engine(url)
    units = [
        OrgUnit(code="VN", name="VN", level="national", valid_from=START),
        OrgUnit(code="38", name="Thanh Hóa", level="province", parent="VN", valid_from=START),
        *(
            OrgUnit(code=c, name=c, level="commune", parent="38", valid_from=START)
            for c in COMMUNES
        ),
    ]
    with Session(engine) as s:
        for u in units:
            s.add(
                ReportingOrgUnit(code=u.code, valid_from=u.valid_from, version=u.model_dump_json())
            )
        for k in range(children):
            child = str(uuid.uuid4())
            born = dt.date(2021, 1, 1) + dt.timedelta(days=rng.randint(0, 2150))
            commune, sex = rng.choice(COMMUNES), rng.choice("MF")
            s.add(
                ReportingChild(
                    child_id=child,
                    birth_date=born,
                    registered_on=born,
                    residences=json.dumps([[None, commune]]),
                    sex=sex,
                )
            )
            visit = dt.date(2026, 11, 1) + dt.timedelta(days=rng.randint(0, 29))
            if born < visit and rng.random() < 0.8:
                s.add(
                    ReportingGrowth(
                        visit_id=str(uuid.uuid4()),
                        child_id=child,
                        visit_date=visit,
                        birth_date=born,
                        residence=commune,
                        facility=commune,
                        waz=rng.gauss(-0.5, 1),
                        lhaz=rng.gauss(-1, 1),
                        whz=rng.gauss(0, 1),
                        sex=sex,
                    )
                )
                s.add(
                    ReportingCare(
                        record_id=str(uuid.uuid4()),
                        person_id=child,
                        kind="child_visit",
                        care_date=visit,
                        facility=commune,
                    )
                )
            if rng.random() < 0.2:
                s.add(
                    ReportingImmunizationFact(
                        person_id=child,
                        status="dose_valid",
                        vaccine="PENTA",
                        dose=1,
                        birth_id="",
                        holds=True,
                        since=min(born + dt.timedelta(days=61), dt.date(2026, 11, 30)),
                        population="child",
                        schedule_version="vn-epi-child-2024@1.0",
                    )
                )
            if k % 10 == 0:
                pregnancy, mother = str(uuid.uuid4()), str(uuid.uuid4())
                delivered = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(0, 333))
                for v in range(4):
                    s.add(
                        ReportingAntenatal(
                            visit_id=str(uuid.uuid4()),
                            pregnancy_id=pregnancy,
                            facility=commune,
                            visit_date=delivered - dt.timedelta(days=200 - 45 * v),
                            residence=commune,
                        )
                    )
                s.add(
                    ReportingBirth(
                        birth_id=str(uuid.uuid4()),
                        pregnancy_id=pregnancy,
                        mother_id=mother,
                        facility=commune,
                        birth_date=delivered,
                        residence=commune,
                        place="facility",
                        attendant="midwife",
                        babies=json.dumps(
                            [
                                {
                                    "child_id": str(uuid.uuid4()),
                                    "sex": sex,
                                    "live": True,
                                    "weight_g": 3000,
                                }
                            ]
                        ),
                    )
                )
        s.commit()
    engine.dispose()


def timed(label: str, answer: Callable[[], object]) -> None:
    """The first answer (counted from the facts) and the next one (from the roll-up kept)."""
    took = []
    for _ in range(2):
        started = time.perf_counter()
        answer()
        took.append(time.perf_counter() - started)
    print(f"  {label:<52} cold {took[0] * 1000:8.1f} ms   warm {took[1] * 1000:8.1f} ms")


def main() -> None:
    children = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite:///{folder}/reporting.db"
    upgrade("mch_reporting", url)
    started = time.perf_counter()
    build(url, children)
    print(f"{children:,} children in 100 communes built in {time.perf_counter() - started:.1f} s")
    engine = make_engine(url)
    facts = Facts(engine)
    tree = facts.tree()
    everything = catalog.CATALOG
    growth = catalog.select(["U5_MEASURED", "UNDERWEIGHT", "STUNTING", "WASTING"])
    november, year = parse_period("2026-11"), parse_period("2026")
    # A province manager: every answer goes through small-cell suppression, as it does for them.
    manager = Principal(subject="bench", roles=frozenset({Role.MANAGER}), orgunits=("38",))
    in_november, in_year = (
        facts.disclosure(manager, tree, november),
        facts.disclosure(manager, tree, year),
    )
    timed(
        "province, 2026-11, every indicator",
        lambda: facts.values(
            ["38"], november, "residence", everything, tree, disclosure=in_november
        ),
    )
    timed(
        "province's 100 communes, 2026-11, every indicator",
        lambda: facts.values(
            COMMUNES, november, "residence", everything, tree, disclosure=in_november
        ),
    )
    timed(
        "province, 2026, every indicator",
        lambda: facts.values(["38"], year, "residence", everything, tree, disclosure=in_year),
    )
    timed(
        "a commune, 2026, every indicator",
        lambda: facts.values(COMMUNES[:1], year, "residence", everything, tree, disclosure=in_year),
    )
    timed(
        "province, 2026-11, growth indicators only",
        lambda: facts.values(["38"], november, "residence", growth, tree, disclosure=in_november),
    )
    timed(
        "province, 12-month series of U5_MEASURED",
        lambda: facts.values_over(
            ["38"],
            year.months(),
            "residence",
            catalog.select(["U5_MEASURED"]),
            tree,
            disclosure=in_year,
        ),
    )
    engine.dispose()


if __name__ == "__main__":
    main()
