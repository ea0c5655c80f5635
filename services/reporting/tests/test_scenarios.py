"""Every indicator of the catalog on hand-computed scenarios, through the consumer's code: events as
records, growth and immunization publish them, applied to a SQLite database by ``apply_events`` and
``Facts`` (what the Kafka subscriber runs), then answered by ``Facts.values`` (what every route and
export reads). At commune, district and province; before (2025S1), across (2025) and after (2026Q1)
the reform of 01/07/2025; by residence and by facility; the total row and the rows by sex.

The tree is Thanh Hóa's shape: until 30/06/2025 communes 40401 and 40402 are in district 404 (with
the station TYT-40401 and the district hospital BV-404); from 01/07/2025 40401's successor is
38004 and 40402's is 38005, both directly under the province, TYT-40401's successor is TYT-38004.
BV-38 (the provincial hospital) spans both. Events still naming an ended unit after the reform count
for its successor; an explicit residence change wins over the successor.

Each family (growth, maternal, immunization) has its own database, so a family's denominators hold
only its own people and every expected number below is counted by hand in its comment. Last, the
same history in order, interleaved as partitions may deliver it, and with every event sent twice
gives the same full answer.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine

from mch_events.consume import apply_events
from mch_events.contracts import facility as f
from mch_events.contracts import growth as g
from mch_events.contracts import immunization as im
from mch_events.contracts import records as r
from mch_events.envelope import CloudEvent, new_event, subject_key
from mch_events.registry import EVENT_TYPES, event_type_for
from mch_reporting.domain.catalog import CATALOG
from mch_reporting.domain.disclosure import Disclosure
from mch_reporting.domain.indicators import IndicatorValue, View
from mch_reporting.domain.periods import parse_period
from mch_reporting.domain.scope import refusal, units_below
from mch_reporting.processing import Facts
from mch_servicekit.db import make_engine
from mch_servicekit.migrations import upgrade

D = dt.date
START, REFORM = D(2020, 1, 1), D(2025, 7, 1)
SCHEDULE = "vn-epi-child-2024@1.0"
SEES_ALL = Disclosure(0, lambda _unit: True)
IMMUNIZATION_TOPIC = event_type_for(im.ImmunizationStatusChanged).topic

TREE: list[BaseModel] = [
    r.OrgUnit(code="VN", name="VN", level="national", valid_from=START),
    r.OrgUnit(code="38", name="38", level="province", parent="VN", valid_from=START),
    r.OrgUnit(code="404", name="404", level="district", parent="38", valid_from=START,
              valid_to=REFORM),
    r.OrgUnit(code="40401", name="40401", level="commune", parent="404", valid_from=START,
              valid_to=REFORM, successor="38004"),
    r.OrgUnit(code="40402", name="40402", level="commune", parent="404", valid_from=START,
              valid_to=REFORM, successor="38005"),
    r.OrgUnit(code="38004", name="38004", level="commune", parent="38", valid_from=REFORM),
    r.OrgUnit(code="38005", name="38005", level="commune", parent="38", valid_from=REFORM),
    r.OrgUnit(code="TYT-40401", name="TYT-40401", level="facility", parent="40401",
              valid_from=START, valid_to=REFORM, successor="TYT-38004"),
    r.OrgUnit(code="BV-404", name="BV-404", level="facility", parent="404", valid_from=START,
              valid_to=REFORM),
    r.OrgUnit(code="TYT-38004", name="TYT-38004", level="facility", parent="38004",
              valid_from=REFORM),
    r.OrgUnit(code="BV-38", name="BV-38", level="facility", parent="38", valid_from=START),
]  # fmt: skip


def uid(name: str) -> uuid.UUID:
    """A stable id per name, so the expected values can name people and records."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"mch-scenario:{name}")


# -- the harness: events through the consumer's code into SQLite --------------------------------


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database, copied for each history (migrations run once per module)."""
    path = tmp_path_factory.mktemp("scenarios") / "migrated.db"
    upgrade("mch_reporting", f"sqlite:///{path}")
    return path


def applied(
    template: Path, folder: Path, name: str, events: Sequence[CloudEvent], batch: int = 200
) -> tuple[Engine, Facts]:
    """``events`` applied in batches as the subscriber applies them, to a fresh database."""
    path = folder / f"{name}.db"
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    facts = Facts(engine)
    for start in range(0, len(events), batch):
        chunk: list[tuple[CloudEvent, dict[str, str]]] = [
            (e, {}) for e in events[start : start + batch]
        ]
        results = apply_events(engine, "reporting", chunk, facts, service="reporting")
        assert {x.status for x in results} <= {"accepted", "duplicate"}, results
    return engine, facts


def as_events(models: Sequence[BaseModel]) -> list[CloudEvent]:
    return [new_event(m, source="mch-tests") for m in models]


Key = tuple[str, str, str, str | None]
"""(indicator, org unit, period, sex); the view is the table's."""


def answer(
    facts: Facts, units: Sequence[str], periods: Sequence[str], view: View
) -> dict[Key, tuple[int | None, int | None]]:
    tree = facts.tree()
    found: dict[Key, tuple[int | None, int | None]] = {}
    for code in periods:
        values = facts.values(units, parse_period(code), view, CATALOG, tree, disclosure=SEES_ALL)
        for unit, rows in values.items():
            for v in rows:
                found[(v.indicator, unit, code, v.sex)] = (v.numerator, v.denominator)
    return found


Expected = list[tuple[str, str, str, str | None, tuple[int, int | None]]]
"""(indicator, org unit, period, sex, (numerator, denominator)); sex None is the total row."""


def check(facts: Facts, view: View, expected: Expected) -> None:
    units = sorted({u for _, u, _, _, _ in expected})
    periods = sorted({p for _, _, p, _, _ in expected})
    got = answer(facts, units, periods, view)
    wrong = [
        f"{code} {unit} {period} {sex or 'total'} ({view}): expected {want}, got {got[key]}"
        for code, unit, period, sex, want in expected
        if got[key := (code, unit, period, sex)] != want
    ]
    assert not wrong, "\n".join(wrong)


def total_and_sexes(
    code: str, unit: str, period: str, total: tuple[int, int | None], m: tuple[int, int | None],
    fem: tuple[int, int | None],
) -> Expected:  # fmt: skip
    return [
        (code, unit, period, None, total),
        (code, unit, period, "M", m),
        (code, unit, period, "F", fem),
    ]


# -- growth -------------------------------------------------------------------------------------


def child(
    name: str, sex: str, born: D, residence: str, *, moved: tuple[D, str] | None = None,
    registered: D | None = None, died: D | None = None, revision: int = 1,
    merged_into: str | None = None,
) -> r.PersonState:  # fmt: skip
    residences = [r.ResidencePeriod(residence=residence)]
    if moved:
        residences.append(r.ResidencePeriod(residence=moved[1], effective_date=moved[0]))
    return r.PersonState(
        person_id=uid(name), role="child", sex=sex, birth_date=born,
        registered_on=registered or born, residences=residences, died_on=died,
        revision=revision, merged_into=uid(merged_into) if merged_into else None,
    )  # fmt: skip


def z(value: float | None, flagged: bool = False) -> g.ZScore | None:
    return None if value is None else g.ZScore(value=value, flagged=flagged)


def weighed(
    name: str, visit: str, day: D, born: D, sex: str, residence: str, facility: str,
    waz: float | None, lhaz: float | None, whz: float | None, *, revision: int = 1,
    voided: bool = False, flagged: bool = False,
) -> list[BaseModel]:  # fmt: skip
    """A child visit as records publishes it and its assessment as growth publishes it."""
    recorded = r.ChildVisitRecorded(
        visit_id=uid(visit), child_id=uid(name), facility=facility, visit_date=day, sex=sex,
        birth_date=born, residence=residence, weight_kg=8.0, revision=revision, voided=voided,
    )  # fmt: skip
    assessed = g.GrowthAssessed(
        visit_id=uid(visit), child_id=uid(name), facility=facility, residence=residence,
        visit_date=day, sex=sex, birth_date=born, age_days=(day - born).days,
        waz=z(waz, flagged), lhaz=z(lhaz), whz=z(whz), reference="WHO 2006",
        engine_version="test", revision=revision, voided=voided,
    )  # fmt: skip
    return [recorded, assessed]


G1, G2, G3, G4 = D(2024, 6, 1), D(2024, 3, 1), D(2025, 8, 1), D(2020, 5, 10)


def growth_history() -> tuple[list[BaseModel], list[BaseModel]]:
    """Four children; what comes on time, and what comes late (amendments, voids, merges, a
    registration dated after the care)."""
    first: list[BaseModel] = [
        child("g1", "F", G1, "40401"),  # never moves: 38004 (successor) from the reform
        child("g2", "M", G2, "40402", moved=(D(2025, 9, 1), "38004")),  # not the successor 38005
        child("g4", "F", G4, "40401"),  # turns 5 on 10/05/2025
        child("g3-twin", "M", G3, "38005"),  # registered twice, merged into g3 later
        # g1 before the reform: stunted at the station in April, wasted at the hospital in June
        # (no length taken then, so its stunting stays the April one).
        *weighed("g1", "g1-apr", D(2025, 4, 10), G1, "F", "40401", "TYT-40401", -2.5, -3.2, -1.0),
        *weighed("g1", "g1-jun", D(2025, 6, 5), G1, "F", "40401", "BV-404", -1.5, None, -2.1),
        # g2's May weighing, amended below to WAZ −3.5; a June visit whose weight is flagged
        # measures nothing and leaves g2 at its May measurement.
        *weighed("g2", "g2-may", D(2025, 5, 20), G2, "M", "40402", "TYT-40401", -1.0, 0.0, 2.5),
        *weighed("g2", "g2-jun", D(2025, 6, 25), G2, "M", "40402", "TYT-40401", -6.5, None, None,
                 flagged=True),
        *weighed("g4", "g4-may", D(2025, 5, 5), G4, "F", "40401", "TYT-40401", -2.2, -2.5, 0.0),
        # After the reform: g2 in its new commune, g3 born in 38005.
        *weighed("g2", "g2-nov", D(2025, 11, 15), G2, "M", "38004", "TYT-38004", -1.0, -2.6, 0.0),
        *weighed("g3", "g3-oct", D(2025, 10, 1), G3, "M", "38005", "TYT-38004", -2.1, -0.5, -0.5),
        *weighed("g3", "g3-dec", D(2025, 12, 10), G3, "M", "38005", "TYT-38004", -3.9, -3.9, -3.9),
        # 2026: g1's device still says 40401 and TYT-40401 (both ended): successors count it.
        *weighed("g1", "g1-feb", D(2026, 2, 10), G1, "F", "40401", "TYT-40401", -2.4, -1.0, -3.1),
        *weighed("g2", "g2-mar", D(2026, 3, 1), G2, "M", "38004", "BV-38", 0.5, -2.1, 0.0),
    ]  # fmt: skip
    late: list[BaseModel] = [
        # g3's registration arrives dated after its care: it counts from its first visit.
        child("g3", "M", G3, "38005", registered=D(2026, 4, 1)),
        child("g3-twin", "M", G3, "38005", revision=2, merged_into="g3"),
        *weighed("g2", "g2-may", D(2025, 5, 20), G2, "M", "40402", "TYT-40401", -3.5, 0.0, 2.5,
                 revision=2),
        *weighed("g3", "g3-dec", D(2025, 12, 10), G3, "M", "38005", "TYT-38004", -3.9, -3.9, -3.9,
                 revision=2, voided=True),
    ]  # fmt: skip
    return first, late


# Before the reform (2025S1): latest valid measurements g1 06-05 (40401, BV-404; its stunting from
# 04-10 at TYT-40401), g2 05-20 (40402, TYT-40401; amended WAZ −3.5, WHZ +2.5), g4 05-05 (40401,
# TYT-40401; counted at 4 years 11 months although 5 at the period's end). g3 not yet born.
# Across (2025): g2's latest is 11-15 in 38004 and g3's 10-01 in 38005 (its December visit was
# voided), so district 404 answers for g1 and g4 only (dated before the reform) and 40402 for
# nobody. After (2026Q1): g1 (02-10, 40401 → 38004, TYT-40401 → TYT-38004), g2 (03-01, 38004,
# BV-38); g3 unmeasured, in 38005's denominator from its first visit; g4 is over 5.
GROWTH_RESIDENCE: Expected = [
    # U5_MEASURED: S1 all three measured; sexes: g2 M, g1 and g4 F.
    *total_and_sexes("U5_MEASURED", "38", "2025S1", (3, 3), (1, 1), (2, 2)),
    *total_and_sexes("U5_MEASURED", "404", "2025S1", (3, 3), (1, 1), (2, 2)),
    ("U5_MEASURED", "40401", "2025S1", None, (2, 2)),  # g1, g4
    ("U5_MEASURED", "40402", "2025S1", None, (1, 1)),  # g2
    *total_and_sexes("U5_MEASURED", "38", "2025", (4, 4), (2, 2), (2, 2)),  # g1..g4 once each
    *total_and_sexes("U5_MEASURED", "404", "2025", (2, 2), (0, 0), (2, 2)),  # g1, g4
    ("U5_MEASURED", "40402", "2025", None, (0, 0)),  # g2's latest is in 38004
    ("U5_MEASURED", "38004", "2025", None, (1, 1)),  # g2
    ("U5_MEASURED", "38005", "2025", None, (1, 1)),  # g3 (the twin merged: not counted)
    *total_and_sexes("U5_MEASURED", "38", "2026Q1", (2, 3), (1, 2), (1, 1)),  # g3 unmeasured
    ("U5_MEASURED", "38004", "2026Q1", None, (2, 2)),  # g1 by successor, g2 by its move
    ("U5_MEASURED", "38005", "2026Q1", None, (0, 1)),  # g3
    # UNDERWEIGHT (latest valid WAZ < −2): S1 g2 −3.5, g4 −2.2 (g1 −1.5 no).
    *total_and_sexes("UNDERWEIGHT", "38", "2025S1", (2, 3), (1, 1), (1, 2)),
    ("UNDERWEIGHT", "40401", "2025S1", None, (1, 2)),
    *total_and_sexes("UNDERWEIGHT_SEVERE", "404", "2025S1", (1, 3), (1, 1), (0, 2)),  # g2
    # 2025: g1 −1.5, g2 −1.0 (November), g3 −2.1, g4 −2.2; none below −3.
    *total_and_sexes("UNDERWEIGHT", "38", "2025", (2, 4), (1, 2), (1, 2)),
    ("UNDERWEIGHT", "404", "2025", None, (1, 2)),  # g4
    ("UNDERWEIGHT_SEVERE", "38", "2025", None, (0, 4)),
    # 2026Q1: g1 −2.4, g2 +0.5.
    *total_and_sexes("UNDERWEIGHT", "38", "2026Q1", (1, 2), (0, 1), (1, 1)),
    ("UNDERWEIGHT", "38004", "2026Q1", None, (1, 2)),
    ("UNDERWEIGHT_SEVERE", "38", "2026Q1", None, (0, 2)),
    # STUNTING (latest valid HAZ < −2): S1 g1 −3.2 (April), g2 0.0, g4 −2.5.
    *total_and_sexes("STUNTING", "404", "2025S1", (2, 3), (0, 1), (2, 2)),
    ("STUNTING_SEVERE", "404", "2025S1", None, (1, 3)),  # g1
    ("STUNTING", "40402", "2025S1", None, (0, 1)),
    # 2025: g1 −3.2, g2 −2.6, g3 −0.5, g4 −2.5.
    *total_and_sexes("STUNTING", "38", "2025", (3, 4), (1, 2), (2, 2)),
    ("STUNTING_SEVERE", "38", "2025", None, (1, 4)),
    ("STUNTING", "404", "2025", None, (2, 2)),
    # 2026Q1: g1 −1.0, g2 −2.1.
    *total_and_sexes("STUNTING", "38", "2026Q1", (1, 2), (1, 1), (0, 1)),
    ("STUNTING_SEVERE", "38", "2026Q1", None, (0, 2)),
    # WASTING (latest valid WHZ < −2) and OVERWEIGHT (> +2): S1 g1 −2.1, g2 +2.5, g4 0.0.
    *total_and_sexes("WASTING", "38", "2025S1", (1, 3), (0, 1), (1, 2)),
    ("WASTING_SEVERE", "38", "2025S1", None, (0, 3)),
    *total_and_sexes("OVERWEIGHT", "404", "2025S1", (1, 3), (1, 1), (0, 2)),  # g2
    ("OVERWEIGHT", "40402", "2025S1", None, (1, 1)),
    # 2025: g1 −2.1, g2 0.0 (November), g3 −0.5, g4 0.0.
    *total_and_sexes("WASTING", "38", "2025", (1, 4), (0, 2), (1, 2)),
    ("WASTING", "404", "2025", None, (1, 2)),
    ("OVERWEIGHT", "38", "2025", None, (0, 4)),
    # 2026Q1: g1 −3.1 (severe), g2 0.0.
    *total_and_sexes("WASTING", "38", "2026Q1", (1, 2), (0, 1), (1, 1)),
    *total_and_sexes("WASTING_SEVERE", "38004", "2026Q1", (1, 2), (0, 1), (1, 1)),
    *total_and_sexes("UNDERWEIGHT_SEVERE", "38", "2025", (0, 4), (0, 2), (0, 2)),
    ("UNDERWEIGHT_SEVERE", "404", "2025", None, (0, 2)),
    *total_and_sexes("UNDERWEIGHT_SEVERE", "38", "2026Q1", (0, 2), (0, 1), (0, 1)),
    *total_and_sexes("STUNTING_SEVERE", "404", "2025S1", (1, 3), (0, 1), (1, 2)),  # g1
    ("STUNTING_SEVERE", "404", "2025", None, (1, 2)),
    ("WASTING_SEVERE", "404", "2025S1", None, (0, 3)),
    ("WASTING_SEVERE", "38", "2025", None, (0, 4)),
    ("WASTING_SEVERE", "404", "2025", None, (0, 2)),
    ("OVERWEIGHT", "404", "2025", None, (0, 2)),
    *total_and_sexes("OVERWEIGHT", "38", "2026Q1", (0, 2), (0, 1), (0, 1)),
    ("OVERWEIGHT", "38", "2026Q1", None, (0, 2)),
]
# By facility: the facility of the visit counted (no population denominator for U5_MEASURED).
GROWTH_FACILITY: Expected = [
    # S1: g1 at BV-404 (June), g2 and g4 at TYT-40401; g1's stunting at TYT-40401 (April).
    *total_and_sexes("U5_MEASURED", "TYT-40401", "2025S1", (2, None), (1, None), (1, None)),
    ("U5_MEASURED", "BV-404", "2025S1", None, (1, None)),
    ("U5_MEASURED", "404", "2025S1", None, (3, None)),
    ("U5_MEASURED", "40401", "2025S1", None, (2, None)),  # its station
    ("UNDERWEIGHT", "TYT-40401", "2025S1", None, (2, 2)),  # g2, g4
    ("UNDERWEIGHT", "BV-404", "2025S1", None, (0, 1)),  # g1 −1.5
    ("STUNTING", "TYT-40401", "2025S1", None, (2, 3)),  # g1 (April), g4; g2 no
    ("STUNTING", "BV-404", "2025S1", None, (0, 0)),  # no length taken there
    ("WASTING", "BV-404", "2025S1", None, (1, 1)),  # g1
    *total_and_sexes("OVERWEIGHT", "TYT-40401", "2025S1", (1, 2), (1, 1), (0, 1)),  # g2; g4 no
    # 2025: g1 BV-404, g4 TYT-40401 (both before the reform), g2 and g3 TYT-38004.
    ("U5_MEASURED", "38", "2025", None, (4, None)),
    ("U5_MEASURED", "404", "2025", None, (2, None)),
    *total_and_sexes("U5_MEASURED", "TYT-38004", "2025", (2, None), (2, None), (0, None)),
    ("STUNTING", "TYT-38004", "2025", None, (1, 2)),  # g2 −2.6; g3 no
    # 2026Q1: g1's visit at TYT-40401 counts at its successor TYT-38004; g2 at BV-38.
    *total_and_sexes("U5_MEASURED", "TYT-38004", "2026Q1", (1, None), (0, None), (1, None)),
    ("U5_MEASURED", "38004", "2026Q1", None, (1, None)),
    ("U5_MEASURED", "BV-38", "2026Q1", None, (1, None)),
    ("U5_MEASURED", "38", "2026Q1", None, (2, None)),
    ("WASTING_SEVERE", "TYT-38004", "2026Q1", None, (1, 1)),  # g1 −3.1
    ("STUNTING", "BV-38", "2026Q1", None, (1, 1)),  # g2 −2.1
    ("UNDERWEIGHT_SEVERE", "TYT-40401", "2025S1", None, (1, 2)),  # g2 −3.5; g4 −2.2
    ("STUNTING_SEVERE", "TYT-40401", "2025S1", None, (1, 3)),  # g1 −3.2
    ("WASTING", "404", "2025S1", None, (1, 3)),
    ("OVERWEIGHT", "38", "2025", None, (0, 4)),
    ("STUNTING", "38", "2026Q1", None, (1, 2)),
]


@pytest.fixture(scope="module")
def growth_facts(migrated: Path) -> Iterator[Facts]:
    first, late = growth_history()
    engine, facts = applied(migrated, migrated.parent, "growth", as_events(TREE + first + late))
    yield facts
    engine.dispose()


@pytest.mark.parametrize(("view", "expected"), [
    ("residence", GROWTH_RESIDENCE), ("facility", GROWTH_FACILITY),
])  # fmt: skip
def test_growth_indicators(growth_facts: Facts, view: View, expected: Expected) -> None:
    check(growth_facts, view, expected)


# -- maternal care, births, deaths, vitamin A ----------------------------------------------------


def mother(name: str, residence: str, *, died: D | None = None, revision: int = 1) -> BaseModel:
    return r.PersonState(
        person_id=uid(name), role="mother", sex="F", birth_date=D(1995, 1, 1),
        registered_on=D(2024, 12, 1), residences=[r.ResidencePeriod(residence=residence)],
        died_on=died, revision=revision,
    )  # fmt: skip


def pregnancy(name: str, mother_name: str, edd: D, registered: D, residence: str,
              lmp: D | None = None) -> BaseModel:  # fmt: skip
    return r.PregnancyState(
        pregnancy_id=uid(name), mother_id=uid(mother_name), edd=edd, lmp_date=lmp,
        registered_on=registered, residence=residence,
    )  # fmt: skip


def anc(
    visit: str, preg: str, mother_name: str, day: D, residence: str, facility: str,
    weeks: float | None = None, tests: str = "", *, revision: int = 1, voided: bool = False,
) -> BaseModel:  # fmt: skip
    return r.AntenatalVisitRecorded(
        visit_id=uid(visit), pregnancy_id=uid(preg), mother_id=uid(mother_name),
        facility=facility, visit_date=day, residence=residence, gestational_weeks=weeks,
        tests=f.AntenatalTests(**dict.fromkeys(tests.split(), "negative")) if tests else None,
        revision=revision, voided=voided,
    )  # fmt: skip


def birth(
    name: str, preg: str, mother_name: str, day: D, residence: str, facility: str, place: str,
    attendant: str, babies: list[tuple[str, str, str, int | None]], revision: int = 1,
) -> BaseModel:  # fmt: skip
    return r.BirthRecorded(
        birth_id=uid(name), pregnancy_id=uid(preg), mother_id=uid(mother_name),
        facility=facility, birth_date=day, residence=residence, place=place,
        attendant=attendant, mode="vaginal", revision=revision,
        babies=[f.Baby(child_id=uid(c), sex=s, outcome=o, weight_g=w) for c, s, o, w in babies],
    )  # fmt: skip


def postnatal(visit: str, mother_name: str, day: D, residence: str, facility: str,
              baby: str | None = None) -> BaseModel:  # fmt: skip
    return r.PostnatalVisitRecorded(
        visit_id=uid(visit), mother_id=uid(mother_name), facility=facility, visit_date=day,
        residence=residence, child_id=uid(baby) if baby else None,
    )  # fmt: skip


def vitamin_a(name: str, visit: str, day: D, born: D, sex: str, residence: str,
              facility: str) -> BaseModel:  # fmt: skip
    return r.ChildVisitRecorded(
        visit_id=uid(visit), child_id=uid(name), facility=facility, visit_date=day, sex=sex,
        birth_date=born, residence=residence, vitamin_a=True,
    )  # fmt: skip


def maternal_history() -> tuple[list[BaseModel], list[BaseModel]]:
    first: list[BaseModel] = [
        # A (40401): four visits, the first at 10 weeks with all three tests; delivers a girl of
        # 3,100 g at the district hospital on 20/06/2025, checked on day 5.
        mother("A", "40401"),
        pregnancy("PA", "A", D(2025, 7, 20), D(2025, 1, 10), "40401"),
        anc("a1", "PA", "A", D(2025, 1, 10), "40401", "TYT-40401", 10.0, "hiv syphilis hepb"),
        anc("a2", "PA", "A", D(2025, 3, 15), "40401", "TYT-40401"),
        anc("a3", "PA", "A", D(2025, 5, 20), "40401", "TYT-40401"),
        anc("a4", "PA", "A", D(2025, 6, 10), "40401", "TYT-40401"),
        anc("a5", "PA", "A", D(2025, 6, 15), "40401", "TYT-40401"),  # voided below
        birth("BA", "PA", "A", D(2025, 6, 20), "40401", "BV-404", "facility", "doctor",
              [("girlA", "F", "live", 3100)]),
        postnatal("pa", "A", D(2025, 6, 25), "40401", "BV-404"),
        # B (40402): registered after her first visit (15 weeks, HIV test only), three visits;
        # twins at the provincial hospital on 03/07/2025, the record still naming 40402, so
        # they count for 38005: a boy of 2,300 g (recorded 2,600 g, amended) and a stillborn
        # girl; checked on day 38.
        mother("B", "40402"),
        pregnancy("PB", "B", D(2025, 7, 25), D(2025, 4, 1), "40402"),
        anc("b1", "PB", "B", D(2025, 3, 20), "40402", "TYT-40401", 15.0, "hiv"),
        anc("b2", "PB", "B", D(2025, 5, 1), "40402", "TYT-40401"),
        anc("b3", "PB", "B", D(2025, 6, 28), "40402", "TYT-40401"),
        birth("BB", "PB", "B", D(2025, 7, 3), "40402", "BV-38", "facility", "midwife",
              [("boyB", "M", "live", 2600), ("girlB", "F", "stillbirth", None)]),
        postnatal("pb", "B", D(2025, 8, 10), "38005", "TYT-38004"),
        # E (38004): first visit at 12 weeks (HIV and syphilis only), four visits; a home birth
        # with no trained attendant on 05/03/2026, the boy not weighed, checked on day 5 with
        # him; E dies on 20/03/2026 (within 42 days: a maternal death), the boy on 25/03.
        mother("E", "38004"),
        pregnancy("PE", "E", D(2026, 3, 10), D(2025, 9, 1), "38004"),
        anc("e1", "PE", "E", D(2025, 9, 5), "38004", "TYT-38004", 12.0, "hiv syphilis"),
        anc("e2", "PE", "E", D(2025, 11, 1), "38004", "TYT-38004"),
        anc("e3", "PE", "E", D(2026, 1, 10), "38004", "TYT-38004"),
        anc("e4", "PE", "E", D(2026, 2, 20), "38004", "BV-38"),
        birth("BE", "PE", "E", D(2026, 3, 5), "38004", "TYT-38004", "home", "untrained",
              [("boyE", "M", "live", None)]),
        postnatal("pe", "E", D(2026, 3, 10), "38004", "TYT-38004", baby="boyE"),
        # C (38005): first visit with no gestational age, 62 days after her last period (under
        # 13 weeks), all tests. D (38004): registered, no visit yet.
        mother("C", "38005"),
        pregnancy("PC", "C", D(2026, 9, 7), D(2026, 2, 1), "38005", lmp=D(2025, 12, 1)),
        anc("c1", "PC", "C", D(2026, 2, 1), "38005", "TYT-38004", None, "hiv syphilis hepb"),
        anc("c2", "PC", "C", D(2026, 3, 1), "38005", "TYT-38004"),
        mother("D", "38004"),
        pregnancy("PD", "D", D(2026, 10, 1), D(2026, 3, 1), "38004"),
        # Children: girlA dies on day 10 (40401); boyE on day 20 (38004); K, 4 years old and
        # still registered in 40402, dies in January 2026 (38005 by succession); "old" dies at
        # 6 (no under-5 death).
        child("girlA", "F", D(2025, 6, 20), "40401", died=D(2025, 6, 30)),
        child("boyE", "M", D(2026, 3, 5), "38004", died=D(2026, 3, 25)),
        child("K", "F", D(2022, 1, 1), "40402", died=D(2026, 1, 15)),
        child("old", "M", D(2019, 1, 1), "40402", moved=(REFORM, "38005"), died=D(2025, 8, 1)),
        # Vitamin A: v2 (40402, 15 months) given it in the June round at TYT-40401, not in
        # December (21 months, then in 38005 by succession); v1 (38004) 11 months in December,
        # given it; v3 three months old in December, too young.
        child("v1", "F", D(2025, 1, 1), "38004"),
        child("v2", "M", D(2024, 3, 1), "40402"),
        child("v3", "M", D(2025, 9, 1), "38005"),
        vitamin_a("v2", "v2-jun", D(2025, 6, 1), D(2024, 3, 1), "M", "40402", "TYT-40401"),
        vitamin_a("v1", "v1-dec", D(2025, 12, 1), D(2025, 1, 1), "F", "38004", "TYT-38004"),
    ]  # fmt: skip
    late: list[BaseModel] = [
        anc("a5", "PA", "A", D(2025, 6, 15), "40401", "TYT-40401", revision=2, voided=True),
        birth("BB", "PB", "B", D(2025, 7, 3), "40402", "BV-38", "facility", "midwife",
              [("boyB", "M", "live", 2300), ("girlB", "F", "stillbirth", None)], revision=2),
        mother("E", "38004", died=D(2026, 3, 20), revision=2),
    ]  # fmt: skip
    return first, late


# Pregnancies by the earlier of registration and first visit: PA 10/01/2025 (40401), PB
# 20/03/2025 (40402), PE 01/09/2025 (38004), PC 01/02/2026 (38005), PD 01/03/2026 (38004, no
# visit). First visits: a1 10 weeks, tested; b1 15 weeks, HIV only; e1 12 weeks, two tests; c1
# 8.9 weeks (from the LMP), tested. Deliveries: BA 20/06/2025 (40401, BV-404; four visits before,
# a5 voided; PNC day 5), BB 03/07/2025 (40402 → 38005, BV-38; three visits; PNC day 38; boy
# 2,300 g after the amendment, stillborn girl), BE 05/03/2026 (38004, TYT-38004, home, untrained;
# four visits; PNC day 5; boy not weighed).
MATERNAL_RESIDENCE: Expected = [
    ("ANC1", "38", "2025S1", None, (2, 2)),  # PA, PB
    ("ANC1", "404", "2025S1", None, (2, 2)),
    ("ANC1", "40402", "2025S1", None, (1, 1)),  # PB, registered from her first visit
    ("ANC1", "38", "2025", None, (3, 3)),  # + PE
    ("ANC1", "404", "2025", None, (2, 2)),
    ("ANC1", "38", "2026Q1", None, (1, 2)),  # PC; PD without a visit
    ("ANC1", "38004", "2026Q1", None, (0, 1)),
    ("ANC1_T1", "404", "2025S1", None, (1, 2)),  # a1 yes, b1 no
    ("ANC1_T1", "40402", "2025S1", None, (0, 1)),
    ("ANC1_T1", "38", "2025", None, (2, 3)),  # + e1 at 12 weeks
    ("ANC1_T1", "38005", "2026Q1", None, (1, 1)),  # c1 from the LMP
    ("ANC_TESTED", "38", "2025S1", None, (1, 2)),  # PA only
    ("ANC_TESTED", "38", "2025", None, (1, 3)),  # PE lacks hepatitis B
    ("ANC_TESTED", "38", "2026Q1", None, (1, 1)),  # PC
    ("ANC3", "404", "2025S1", None, (1, 1)),  # A
    ("ANC3", "38", "2025", None, (2, 2)),  # A, B
    ("ANC3", "404", "2025", None, (1, 1)),  # B delivered after the reform
    ("ANC3", "38005", "2025", None, (1, 1)),  # B by succession
    ("ANC4", "38", "2025", None, (1, 2)),  # B had three
    ("ANC4", "38004", "2026Q1", None, (1, 1)),  # E
    ("TT_PAB", "38", "2025", None, (0, 2)),  # no protection facts here: see immunization
    ("BIRTH_FACILITY", "40401", "2025S1", None, (1, 1)),
    ("BIRTH_FACILITY", "38", "2025", None, (3, 3)),  # once per baby: girlA, boyB, girlB
    ("BIRTH_FACILITY", "38", "2026Q1", None, (0, 1)),  # home
    ("BIRTH_SKILLED", "38", "2025", None, (3, 3)),
    ("BIRTH_SKILLED", "38004", "2026Q1", None, (0, 1)),  # untrained
    ("PNC7", "38", "2025", None, (1, 2)),  # A day 5; B day 38
    ("PNC42", "38", "2025", None, (2, 2)),
    ("PNC7", "38", "2026Q1", None, (1, 1)),
    ("PNC42", "404", "2025S1", None, (1, 1)),
    *total_and_sexes("LBW", "38", "2025", (1, 2), (1, 1), (0, 1)),  # boyB 2,300 g; girlA no
    *total_and_sexes("LBW", "404", "2025", (0, 1), (0, 0), (0, 1)),  # girlA only
    *total_and_sexes("LBW", "38", "2026Q1", (0, 0), (0, 0), (0, 0)),  # boyE not weighed
    *total_and_sexes("LIVE_BIRTHS", "38", "2025", (2, None), (1, None), (1, None)),
    *total_and_sexes("LIVE_BIRTHS", "38", "2026Q1", (1, None), (1, None), (0, None)),
    *total_and_sexes("STILLBIRTHS", "38005", "2025", (1, None), (0, None), (1, None)),
    ("STILLBIRTHS", "404", "2025", None, (0, None)),
    ("MATERNAL_DEATHS", "38", "2025", None, (0, None)),
    ("MATERNAL_DEATHS", "38004", "2026Q1", None, (1, None)),  # E, 15 days after delivering
    ("MATERNAL_DEATHS", "38", "2026Q1", None, (1, None)),
    *total_and_sexes("NEONATAL_DEATHS", "404", "2025S1", (1, None), (0, None), (1, None)),
    *total_and_sexes("NEONATAL_DEATHS", "38", "2026Q1", (1, None), (1, None), (0, None)),
    ("NEONATAL_DEATHS", "40401", "2025", None, (1, None)),
    *total_and_sexes("U5_DEATHS", "38", "2025", (1, None), (0, None), (1, None)),  # not "old"
    *total_and_sexes("U5_DEATHS", "38", "2026Q1", (2, None), (1, None), (1, None)),  # boyE, K
    ("U5_DEATHS", "38005", "2026Q1", None, (1, None)),  # K by succession
    # VITA: June round v2 (40402) given; December v1 (38004) given, v2 not (38005), v3 too young.
    *total_and_sexes("VITA", "404", "2025S1", (1, 1), (1, 1), (0, 0)),
    *total_and_sexes("VITA", "38", "2025", (2, 3), (1, 2), (1, 1)),
    ("VITA", "404", "2025", None, (1, 1)),
    ("VITA", "38005", "2025", None, (0, 1)),
    ("VITA", "38004", "2025", None, (1, 1)),
    ("ANC1", "38005", "2026Q1", None, (1, 1)),  # PC
    ("ANC1_T1", "404", "2025", None, (1, 2)),
    ("ANC1_T1", "38", "2026Q1", None, (1, 1)),
    ("ANC3", "38", "2025S1", None, (1, 1)),
    ("ANC3", "38", "2026Q1", None, (1, 1)),  # E, four visits
    ("ANC4", "404", "2025S1", None, (1, 1)),  # A
    ("ANC4", "38", "2026Q1", None, (1, 1)),
    ("ANC_TESTED", "404", "2025S1", None, (1, 2)),
    ("ANC_TESTED", "404", "2025", None, (1, 2)),
    ("ANC_TESTED", "38005", "2026Q1", None, (1, 1)),
    ("BIRTH_FACILITY", "404", "2025S1", None, (1, 1)),
    ("BIRTH_FACILITY", "404", "2025", None, (1, 1)),  # the twins were after the district
    ("BIRTH_FACILITY", "38004", "2026Q1", None, (0, 1)),
    ("BIRTH_SKILLED", "404", "2025S1", None, (1, 1)),
    ("BIRTH_SKILLED", "404", "2025", None, (1, 1)),
    ("BIRTH_SKILLED", "38", "2026Q1", None, (0, 1)),
    ("PNC7", "404", "2025S1", None, (1, 1)),
    ("PNC7", "404", "2025", None, (1, 1)),
    ("PNC7", "38004", "2026Q1", None, (1, 1)),
    ("PNC42", "404", "2025", None, (1, 1)),
    ("PNC42", "38", "2026Q1", None, (1, 1)),
    *total_and_sexes("LBW", "404", "2025S1", (0, 1), (0, 0), (0, 1)),  # girlA 3,100 g
    *total_and_sexes("LIVE_BIRTHS", "404", "2025S1", (1, None), (0, None), (1, None)),
    ("LIVE_BIRTHS", "404", "2025", None, (1, None)),
    ("STILLBIRTHS", "404", "2025S1", None, (0, None)),
    ("STILLBIRTHS", "38", "2026Q1", None, (0, None)),
    ("MATERNAL_DEATHS", "404", "2025S1", None, (0, None)),
    *total_and_sexes("NEONATAL_DEATHS", "38", "2025", (1, None), (0, None), (1, None)),
    ("NEONATAL_DEATHS", "404", "2025", None, (1, None)),
    *total_and_sexes("U5_DEATHS", "404", "2025S1", (1, None), (0, None), (1, None)),  # girlA
    ("VITA", "38", "2026Q1", None, (0, 0)),  # no round
]
MATERNAL_FACILITY: Expected = [
    ("ANC1", "TYT-40401", "2025S1", None, (2, None)),  # both first visits; no population
    ("ANC1_T1", "TYT-40401", "2025S1", None, (1, 2)),
    ("ANC1_T1", "TYT-38004", "2025", None, (1, 1)),  # e1
    ("ANC_TESTED", "TYT-38004", "2026Q1", None, (1, 1)),  # c1
    ("ANC3", "BV-404", "2025S1", None, (1, 1)),
    ("ANC3", "404", "2025", None, (1, 1)),  # BA; BB was at BV-38
    ("ANC4", "BV-38", "2025", None, (0, 1)),  # B
    ("BIRTH_FACILITY", "BV-404", "2025S1", None, (1, 1)),
    ("BIRTH_FACILITY", "BV-38", "2025", None, (2, 2)),
    ("BIRTH_FACILITY", "38", "2025", None, (3, 3)),
    ("BIRTH_FACILITY", "TYT-38004", "2026Q1", None, (0, 1)),  # the home birth's record
    ("BIRTH_SKILLED", "38004", "2026Q1", None, (0, 1)),
    ("PNC7", "BV-38", "2025", None, (0, 1)),
    ("PNC42", "TYT-38004", "2026Q1", None, (1, 1)),
    *total_and_sexes("LBW", "BV-38", "2025", (1, 1), (1, 1), (0, 0)),
    *total_and_sexes("LIVE_BIRTHS", "BV-38", "2025", (1, None), (1, None), (0, None)),
    ("STILLBIRTHS", "BV-38", "2025", None, (1, None)),
    ("LIVE_BIRTHS", "404", "2025", None, (1, None)),  # girlA at BV-404
    ("ANC1", "TYT-38004", "2026Q1", None, (1, None)),  # c1; PD has no visit
    ("NEONATAL_DEATHS", "38", "2026Q1", None, (0, None)),
    ("MATERNAL_DEATHS", "38", "2026Q1", None, (0, None)),  # deaths have no facility
    ("U5_DEATHS", "38", "2026Q1", None, (0, None)),
    *total_and_sexes("VITA", "TYT-40401", "2025S1", (1, None), (1, None), (0, None)),
    ("VITA", "TYT-38004", "2025", None, (1, None)),
    ("VITA", "38", "2025", None, (2, None)),
]


@pytest.fixture(scope="module")
def maternal_facts(migrated: Path) -> Iterator[Facts]:
    first, late = maternal_history()
    engine, facts = applied(migrated, migrated.parent, "maternal", as_events(TREE + first + late))
    yield facts
    engine.dispose()


@pytest.mark.parametrize(("view", "expected"), [
    ("residence", MATERNAL_RESIDENCE), ("facility", MATERNAL_FACILITY),
])  # fmt: skip
def test_maternal_indicators(maternal_facts: Facts, view: View, expected: Expected) -> None:
    check(maternal_facts, view, expected)


# -- immunization ---------------------------------------------------------------------------------


def status(
    name: str, what: str, since: D, vaccine: str | None = None, dose: int | None = None, *,
    holds: bool = True, until: D | None = None, birth_id: str | None = None,
    population: str = "child",
) -> BaseModel:  # fmt: skip
    return im.ImmunizationStatusChanged(
        person_id=uid(name), status=what, holds=holds, since=since, until=until,
        vaccine=vaccine, dose=dose, birth_id=uid(birth_id) if birth_id else None,
        population=population, sex="F", birth_date=D(2025, 1, 1), residence="38004",
        as_of=since, schedule_version=SCHEDULE,
    )  # fmt: skip


def dose(
    name: str, vaccine: str, number: int, day: D, facility: str, *, revision: int = 1,
    voided: bool = False,
) -> list[BaseModel]:  # fmt: skip
    """A dose as records publishes it, and as immunization finds it valid (or no longer)."""
    series = {"PENTA": "PENTA", "OPV": "OPV", "IPV": "IPV", "ROTA": "ROTA", "JE": "JE"}
    recorded = r.ImmunizationRecorded(
        immunization_id=uid(f"{name}-{vaccine}-{number}"), person_id=uid(name),
        facility=facility, date=day, vaccine=vaccine, dose=number, sex="F",
        birth_date=D(2025, 1, 1), residence="38004", revision=revision, voided=voided,
    )  # fmt: skip
    valid = status(name, "dose_valid", day, series.get(vaccine, vaccine), number, holds=not voided,
                   until=day if voided else None)  # fmt: skip
    return [recorded, valid]


I1, I2, I3, I4, I5, I6 = (
    D(2025, 2, 1),
    D(2025, 5, 10),
    D(2023, 9, 15),
    D(2024, 11, 20),
    D(2020, 3, 1),
    D(2026, 1, 5),
)


def immunization_history() -> tuple[list[BaseModel], list[BaseModel]]:
    first: list[BaseModel] = [
        # i1 (F, 40401, never moves: 38004 from the reform): born at BV-404, HepB0 within 24 h,
        # her mother protected; every under-1 dose in S1, MCV1 in November, fully immunized
        # since then (first birthday 01/02/2026).
        child("i1", "F", I1, "40401"),
        birth("D1", "P1", "m1", I1, "40401", "BV-404", "facility", "doctor",
              [("i1", "F", "live", 3000)]),
        status("i1", "dose_timely", I1, "HEPB0", 1),
        status("m1", "protected_at_birth", I1, birth_id="D1", population="women"),
        *dose("i1", "BCG", 1, I1, "TYT-40401"),
        *dose("i1", "PENTA", 1, D(2025, 4, 1), "TYT-40401"),
        *dose("i1", "ROTA", 2, D(2025, 4, 1), "TYT-40401"),
        *dose("i1", "PENTA", 3, D(2025, 6, 3), "BV-404"),
        *dose("i1", "OPV", 3, D(2025, 6, 3), "BV-404"),
        *dose("i1", "IPV", 1, D(2025, 6, 3), "BV-404"),
        *dose("i1", "MCV1", 1, D(2025, 11, 1), "TYT-38004"),
        status("i1", "fully_immunized", D(2025, 11, 1)),
        # i2 (M, 40402; moves to 38004 on 01/10/2025): born at TYT-40401, no timely HepB0, his
        # mother not protected; BCG in May, PENTA 1 on 15/07/2025 at a station still recorded
        # as TYT-40401 (TYT-38004 by succession), while he lived in 40402 (38005 by
        # succession); PENTA 3 overdue since 15/11/2025.
        child("i2", "M", I2, "40402", moved=(D(2025, 10, 1), "38004")),
        birth("D2", "P2", "m2", I2, "40402", "TYT-40401", "facility", "midwife",
              [("i2", "M", "live", 2900)]),
        *dose("i2", "BCG", 1, D(2025, 5, 12), "TYT-40401"),
        *dose("i2", "PENTA", 1, D(2025, 7, 15), "TYT-40401"),
        status("i2", "dose_overdue", D(2025, 11, 15), "PENTA", 3),
        # i3 (F, 40402 → 38005): MR at 19 months, JE 3 in February 2026.
        child("i3", "F", I3, "40402"),
        *dose("i3", "MR", 1, D(2025, 4, 20), "TYT-40401"),
        *dose("i3", "JE", 3, D(2026, 2, 10), "TYT-38004"),
        # i4 (M, 40401 → 38004): PENTA 1 overdue since 20/01/2025; a BCG recorded in January
        # and voided (not counted).
        child("i4", "M", I4, "40401"),
        status("i4", "dose_overdue", D(2025, 1, 20), "PENTA", 1),
        *dose("i4", "BCG", 1, D(2025, 1, 5), "TYT-40401"),
        # i5 (F, 40401 → 38004): 6 on 01/03/2026, never vaccinated here.
        child("i5", "F", I5, "40401"),
        # i6 (M, 38005): born at BV-38 in January 2026, HepB0 within 24 h, BCG the next day.
        child("i6", "M", I6, "38005"),
        birth("D3", "P3", "m3", I6, "38005", "BV-38", "facility", "midwife",
              [("i6", "M", "live", 3200)]),
        status("i6", "dose_timely", I6, "HEPB0", 1),
        status("m3", "protected_at_birth", I6, birth_id="D3", population="women"),
        *dose("i6", "BCG", 1, D(2026, 1, 6), "BV-38"),
    ]  # fmt: skip
    late: list[BaseModel] = dose("i4", "BCG", 1, D(2025, 1, 5), "TYT-40401", revision=2,
                                 voided=True)  # fmt: skip
    return first, late


# Ages at the period ends: 30/06/2025 i1 4 months, i2 1, i4 7 (under 1), i3 21 (MR/DPT4 cohort),
# i5 63 (JE3 cohort); 31/12/2025 i1 10, i2 7 (under 1), i4 13 (none), i3 27 and i5 69 (JE3);
# 31/03/2026 i2 10 and i6 2 (under 1), i1 13, i4 16 (none), i3 30 (JE3), i5 72 (out).
# Residences on those days: i1, i4, i5 40401 (38004 after the reform), i2 40402 (38004 from
# October), i3 40402 (38005), i6 38005. A child given the dose counts where it lived that day.
IMMUNIZATION_RESIDENCE: Expected = [
    # S1: BCG i1 (40401), i2 (40402); i4 not (his BCG voided).
    *total_and_sexes("BCG", "38", "2025S1", (2, 3), (1, 2), (1, 1)),
    *total_and_sexes("BCG", "404", "2025S1", (2, 3), (1, 2), (1, 1)),
    ("BCG", "40401", "2025S1", None, (1, 2)),  # i1; i4
    ("BCG", "40402", "2025S1", None, (1, 1)),  # i2
    ("PENTA1", "404", "2025S1", None, (1, 3)),  # i1
    ("PENTA3", "404", "2025S1", None, (1, 3)),
    ("OPV3", "38", "2025S1", None, (1, 3)),
    ("IPV1", "40401", "2025S1", None, (1, 2)),
    ("ROTA2", "38", "2025S1", None, (1, 3)),
    ("MCV1", "38", "2025S1", None, (0, 3)),
    *total_and_sexes("MR", "404", "2025S1", (1, 1), (0, 0), (1, 1)),  # i3
    ("DPT4", "40402", "2025S1", None, (0, 1)),  # i3 not given it
    ("JE3", "404", "2025S1", None, (0, 1)),  # i5
    ("PENTA_DROPOUT", "38", "2025S1", None, (0, 1)),  # i1 has PENTA 3
    ("FIC", "38", "2025S1", None, (0, 0)),  # no first birthday
    # DEFAULTERS: under 6 on 30/06/2025 i1..i5; overdue i4.
    *total_and_sexes("DEFAULTERS", "404", "2025S1", (1, 5), (1, 2), (0, 3)),
    ("DEFAULTERS", "40401", "2025S1", None, (1, 3)),  # i1, i4, i5
    ("DEFAULTERS", "40402", "2025S1", None, (0, 2)),  # i2, i3
    *total_and_sexes("HEPB0_24H", "404", "2025S1", (1, 2), (0, 1), (1, 1)),  # i1 yes, i2 no
    ("TT_PAB", "404", "2025S1", None, (1, 2)),  # m1 yes, m2 no
    # 2025, across: BCG i1, i2 (both before the reform, in 404); nobody else under 1 at the end.
    ("BCG", "38", "2025", None, (2, 2)),
    ("BCG", "404", "2025", None, (2, 2)),
    # PENTA1: i1 in April (404), i2 in July in 40402, i.e. 38005 by succession.
    *total_and_sexes("PENTA1", "38", "2025", (2, 2), (1, 1), (1, 1)),
    ("PENTA1", "404", "2025", None, (1, 1)),
    ("PENTA1", "38005", "2025", None, (1, 1)),
    ("PENTA1", "38004", "2025", None, (0, 0)),
    # PENTA3: i1 (404); i2 not, under 1 in 38004 at the end.
    *total_and_sexes("PENTA3", "38", "2025", (1, 2), (0, 1), (1, 1)),
    ("PENTA3", "404", "2025", None, (1, 1)),
    ("PENTA3", "38004", "2025", None, (0, 1)),
    ("OPV3", "38", "2025", None, (1, 2)),
    ("IPV1", "38", "2025", None, (1, 2)),
    ("ROTA2", "38", "2025", None, (1, 2)),
    ("MCV1", "38004", "2025", None, (1, 2)),  # i1 by succession; i2
    ("MCV1", "404", "2025", None, (0, 0)),
    ("MR", "38", "2025", None, (1, 1)),
    ("DPT4", "38", "2025", None, (0, 0)),
    *total_and_sexes("JE3", "38", "2025", (0, 2), (0, 0), (0, 2)),  # i3, i5
    ("JE3", "404", "2025", None, (0, 0)),  # counted at 31/12, after the district
    *total_and_sexes("PENTA_DROPOUT", "38", "2025", (1, 2), (1, 1), (0, 1)),  # i2 without PENTA 3
    ("PENTA_DROPOUT", "404", "2025", None, (0, 1)),
    ("PENTA_DROPOUT", "38005", "2025", None, (1, 1)),
    *total_and_sexes("FIC", "38", "2025", (0, 1), (0, 1), (0, 0)),  # i4 turned 1 in November
    ("FIC", "38004", "2025", None, (0, 1)),
    # DEFAULTERS on 31/12/2025: i1..i5 under 6; overdue i2 (PENTA 3), i4 (PENTA 1).
    *total_and_sexes("DEFAULTERS", "38", "2025", (2, 5), (2, 2), (0, 3)),
    ("DEFAULTERS", "38004", "2025", None, (2, 4)),  # i1, i2, i4, i5
    ("DEFAULTERS", "38005", "2025", None, (0, 1)),  # i3
    ("DEFAULTERS", "404", "2025", None, (0, 0)),
    ("HEPB0_24H", "38", "2025", None, (1, 2)),
    ("TT_PAB", "38", "2025", None, (1, 2)),
    # 2026Q1, after: under 1 at the end i2 (38004), i6 (38005).
    *total_and_sexes("BCG", "38", "2026Q1", (1, 2), (1, 2), (0, 0)),  # i6
    ("BCG", "38005", "2026Q1", None, (1, 1)),
    ("BCG", "38004", "2026Q1", None, (0, 1)),  # i2 had his in 2025
    ("PENTA1", "38", "2026Q1", None, (0, 2)),
    ("PENTA3", "38", "2026Q1", None, (0, 2)),
    ("OPV3", "38", "2026Q1", None, (0, 2)),
    ("IPV1", "38", "2026Q1", None, (0, 2)),
    ("ROTA2", "38", "2026Q1", None, (0, 2)),
    ("MCV1", "38", "2026Q1", None, (0, 2)),
    ("MR", "38", "2026Q1", None, (0, 0)),
    ("DPT4", "38", "2026Q1", None, (0, 0)),
    *total_and_sexes("JE3", "38005", "2026Q1", (1, 1), (0, 0), (1, 1)),  # i3; i5 is 6
    ("PENTA_DROPOUT", "38", "2026Q1", None, (0, 0)),
    *total_and_sexes("FIC", "38", "2026Q1", (1, 1), (0, 0), (1, 1)),  # i1, 1 on 01/02/2026
    ("FIC", "38004", "2026Q1", None, (1, 1)),
    # DEFAULTERS on 31/03/2026: i1, i2, i3, i4, i6 (i5 is 6); overdue i2, i4.
    *total_and_sexes("DEFAULTERS", "38", "2026Q1", (2, 5), (2, 3), (0, 2)),
    ("DEFAULTERS", "38004", "2026Q1", None, (2, 3)),
    ("DEFAULTERS", "38005", "2026Q1", None, (0, 2)),
    *total_and_sexes("HEPB0_24H", "38005", "2026Q1", (1, 1), (1, 1), (0, 0)),  # i6
    ("TT_PAB", "38005", "2026Q1", None, (1, 1)),
    ("HEPB0_24H", "404", "2025", None, (1, 2)),
    # OPV3, IPV1, ROTA2 (i1's, F) over the under-1s: S1 i1, i2, i4; 2025 i1, i2; 2026Q1 i2, i6.
    *total_and_sexes("OPV3", "404", "2025S1", (1, 3), (0, 2), (1, 1)),
    *total_and_sexes("OPV3", "38", "2025", (1, 2), (0, 1), (1, 1)),
    ("OPV3", "404", "2025", None, (1, 1)),
    *total_and_sexes("OPV3", "38", "2026Q1", (0, 2), (0, 2), (0, 0)),
    *total_and_sexes("IPV1", "404", "2025S1", (1, 3), (0, 2), (1, 1)),
    ("IPV1", "404", "2025", None, (1, 1)),
    *total_and_sexes("ROTA2", "404", "2025S1", (1, 3), (0, 2), (1, 1)),
    *total_and_sexes("ROTA2", "38", "2025", (1, 2), (0, 1), (1, 1)),
    ("MCV1", "404", "2025S1", None, (0, 3)),
    *total_and_sexes("MCV1", "38", "2025", (1, 2), (0, 1), (1, 1)),
    ("MR", "404", "2025", None, (1, 1)),
    *total_and_sexes("DPT4", "404", "2025S1", (0, 1), (0, 0), (0, 1)),  # i3
    ("DPT4", "404", "2025", None, (0, 0)),
    ("PENTA_DROPOUT", "404", "2025S1", None, (0, 1)),
    ("FIC", "404", "2025S1", None, (0, 0)),
    ("FIC", "404", "2025", None, (0, 0)),  # i4's birthday was after the district
    ("TT_PAB", "38", "2026Q1", None, (1, 1)),  # m3
]
IMMUNIZATION_FACILITY: Expected = [
    *total_and_sexes("BCG", "TYT-40401", "2025S1", (2, None), (1, None), (1, None)),
    ("BCG", "404", "2025S1", None, (2, None)),
    ("PENTA3", "BV-404", "2025S1", None, (1, None)),
    ("PENTA1", "TYT-40401", "2025S1", None, (1, None)),
    ("MR", "40401", "2025S1", None, (1, None)),  # i3's MR at TYT-40401, under 40401
    ("PENTA_DROPOUT", "TYT-40401", "2025S1", None, (0, 1)),
    *total_and_sexes("HEPB0_24H", "BV-404", "2025S1", (1, 1), (0, 0), (1, 1)),
    ("HEPB0_24H", "TYT-40401", "2025S1", None, (0, 1)),
    ("HEPB0_24H", "404", "2025S1", None, (1, 2)),
    ("TT_PAB", "BV-404", "2025S1", None, (1, 1)),
    ("TT_PAB", "TYT-40401", "2025S1", None, (0, 1)),
    # i2's PENTA 1 recorded at TYT-40401 after the reform counts at TYT-38004.
    ("PENTA1", "TYT-40401", "2025", None, (1, None)),
    *total_and_sexes("PENTA1", "TYT-38004", "2025", (1, None), (1, None), (0, None)),
    ("PENTA1", "38", "2025", None, (2, None)),
    ("PENTA1", "404", "2025", None, (1, None)),
    ("PENTA_DROPOUT", "TYT-38004", "2025", None, (1, 1)),
    ("MCV1", "TYT-38004", "2025", None, (1, None)),
    ("FIC", "38", "2025", None, (0, None)),  # no facility
    ("DEFAULTERS", "38", "2025", None, (0, None)),
    ("OPV3", "BV-404", "2025S1", None, (1, None)),
    ("IPV1", "BV-404", "2025S1", None, (1, None)),
    ("ROTA2", "TYT-40401", "2025S1", None, (1, None)),
    ("DPT4", "38", "2025S1", None, (0, None)),
    ("JE3", "TYT-38004", "2026Q1", None, (1, None)),
    ("BCG", "BV-38", "2026Q1", None, (1, None)),
    ("HEPB0_24H", "BV-38", "2026Q1", None, (1, 1)),
    ("TT_PAB", "BV-38", "2026Q1", None, (1, 1)),
    ("TT_PAB", "38", "2026Q1", None, (1, 1)),
]


@pytest.fixture(scope="module")
def immunization_facts(migrated: Path) -> Iterator[Facts]:
    first, late = immunization_history()
    engine, facts = applied(
        migrated, migrated.parent, "immunization", as_events(TREE + first + late)
    )
    yield facts
    engine.dispose()


@pytest.mark.parametrize(("view", "expected"), [
    ("residence", IMMUNIZATION_RESIDENCE), ("facility", IMMUNIZATION_FACILITY),
])  # fmt: skip
def test_immunization_indicators(immunization_facts: Facts, view: View, expected: Expected) -> None:
    check(immunization_facts, view, expected)


def test_every_indicator_has_a_hand_computed_value_at_each_level_and_in_each_view() -> None:
    """The tables above name every indicator of the catalog before, across and after the
    reform; at the district, the province and a commune or facility; and their sex rows."""
    tables: dict[View, Expected] = {
        "residence": GROWTH_RESIDENCE + MATERNAL_RESIDENCE + IMMUNIZATION_RESIDENCE,
        "facility": GROWTH_FACILITY + MATERNAL_FACILITY + IMMUNIZATION_FACILITY,
    }
    rows = tables["residence"]
    for indicator in CATALOG:
        periods = {p for code, _, p, _, _ in rows if code == indicator.code}
        assert {"2025S1", "2025", "2026Q1"} & periods, indicator.code
        units = {u for code, u, _, _, _ in rows if code == indicator.code}
        assert units & {"38", "404"}, indicator.code
        if indicator.child:
            assert any(code == indicator.code and s for code, _, _, s, _ in rows), indicator.code
    # Every indicator counted at a facility has a value there; the population and death counts
    # are shown to have none.
    facility = {code for code, *_ in tables["facility"]}
    assert {"U5_MEASURED", "ANC1", "BIRTH_FACILITY", "PENTA1", "HEPB0_24H", "TT_PAB", "FIC",
            "DEFAULTERS", "MATERNAL_DEATHS", "VITA"} <= facility  # fmt: skip


# -- determinism ----------------------------------------------------------------------------------

UNITS = ("VN", "38", "404", "40401", "40402", "38004", "38005")
FACILITY_UNITS = (*UNITS, "TYT-40401", "BV-404", "TYT-38004", "BV-38")
PERIODS = ("2025S1", "2025", "2026Q1", "2025-9M", "2025-06", "2025-12", "2026")


Row = tuple[object, ...]
Answer = dict[tuple[str, View], dict[str, list[Row]]]


def full_answer(facts: Facts) -> Answer:
    """Every indicator for every unit and period, in both views; ``as_of`` left out (it says when
    a value was applied)."""

    def plain(v: IndicatorValue) -> Row:
        return (v.indicator, v.sex, v.numerator, v.denominator, v.value, v.rules, v.suppressed)

    tree = facts.tree()
    found: Answer = {}
    views: tuple[tuple[View, Sequence[str]], ...] = (
        ("residence", UNITS),
        ("facility", FACILITY_UNITS),
    )
    periods = [parse_period(code) for code in PERIODS]
    for view, units in views:
        answers = facts.values_over(units, periods, view, CATALOG, tree, disclosure=SEES_ALL)
        for code, values in answers.items():
            found[(code, view)] = {u: [plain(v) for v in rows] for u, rows in values.items()}
    return found


def interleaved(events: Sequence[CloudEvent], rng: random.Random) -> list[CloudEvent]:
    """The events as partitions may deliver them: each subject's events in order (the topic is
    keyed by subject), the subjects interleaved at random."""
    queues: dict[tuple[str, bytes | None], list[CloudEvent]] = {}
    for e in events:
        queues.setdefault((EVENT_TYPES[e.type].topic, subject_key(e)), []).append(e)
    tickets = [key for key, queue in queues.items() for _ in queue]
    rng.shuffle(tickets)
    position = dict.fromkeys(queues, 0)
    found: list[CloudEvent] = []
    for key in tickets:
        found.append(queues[key][position[key]])
        position[key] += 1
    return found


def shuffled(events: Sequence[CloudEvent], rng: random.Random) -> list[CloudEvent]:
    """Records' and growth's events in any order at all (each message is a record's whole state,
    its revision decides), immunization's each person's in order (its contract: the latest event
    is the fact's state), the two merged at random."""
    ordered = [e for e in events if EVENT_TYPES[e.type].topic == IMMUNIZATION_TOPIC]
    free = [e for e in events if EVENT_TYPES[e.type].topic != IMMUNIZATION_TOPIC]
    rng.shuffle(free)
    tickets = [True] * len(ordered) + [False] * len(free)
    rng.shuffle(tickets)
    ordered.reverse()
    free.reverse()
    return [(ordered if pick else free).pop() for pick in tickets]


def history() -> list[BaseModel]:
    """The three families together, so one answer holds every indicator."""
    models: list[BaseModel] = list(TREE)
    for family in (growth_history, maternal_history, immunization_history):
        first, late = family()
        models += first + late
    return models


@pytest.fixture(scope="module")
def everything(migrated: Path) -> Iterator[Facts]:
    engine, facts = applied(migrated, migrated.parent, "everything", as_events(history()))
    yield facts
    engine.dispose()


def test_every_answer_sums_up_the_tree_and_its_sex_rows_sum_to_the_total(
    everything: Facts,
) -> None:
    """Over the whole grid, not only the cells counted by hand above: each unit's numerator and
    denominator are the sums of those of the units under it during the period (the district's
    before the reform, the new communes' after, facilities in the facility view), the ratio is
    theirs, a numerator never exceeds its denominator, and the rows by sex add up to the
    total."""
    tree = everything.tree()
    views: tuple[View, ...] = ("residence", "facility")
    for view in views:
        for code in PERIODS:
            period = parse_period(code)
            for unit in ("VN", "38", "404", "40401", "38004"):
                if refusal(tree, unit, period, view):
                    continue
                below = units_below(tree, unit, period, view)
                values = everything.values(
                    [unit, *below], period, view, CATALOG, tree, disclosure=SEES_ALL
                )
                for i, row in enumerate(values[unit]):
                    where = (row.indicator, row.sex, unit, code, view)
                    numerator, denominator = row.numerator or 0, row.denominator
                    if denominator is not None:
                        assert numerator <= denominator, where
                        ratio = numerator / denominator if denominator else None
                        assert row.value == ratio, where
                    parts = [values[b][i] for b in below]
                    assert all(p.indicator == row.indicator and p.sex == row.sex for p in parts)
                    if below:
                        assert row.numerator == sum(p.numerator or 0 for p in parts), where
                    if below and row.denominator is not None:
                        assert row.denominator == sum(p.denominator or 0 for p in parts), where
                rows = {(v.indicator, v.sex): v for v in values[unit]}
                for indicator in CATALOG:
                    if not indicator.child:
                        continue
                    total, m, fem = (rows[(indicator.code, s)] for s in (None, "M", "F"))
                    assert total.numerator == (m.numerator or 0) + (fem.numerator or 0)
                    if total.denominator is not None:
                        assert total.denominator == (m.denominator or 0) + (fem.denominator or 0)
    # The grid is not empty: the province's 2025 has people in it.
    province = everything.values(
        ["38"], parse_period("2025"), "residence", CATALOG, tree, disclosure=SEES_ALL
    )["38"]
    assert sum(v.numerator or 0 for v in province if v.sex is None) > 50


def test_a_series_answers_each_period_as_that_period_alone(everything: Facts) -> None:
    """Periods answered together (a series, read once for their whole span) give what each gives
    asked alone: the children under 6 at the end of an early month are counted though they are 6
    by the end of the span (i5 is 6 on 01/03/2026; g4 on 10/05/2026)."""
    tree = everything.tree()
    codes = [*PERIODS, "2024", "2025-07", "2025-11", "2026-02", "2026-03", "2026-12"]
    periods = [parse_period(code) for code in codes]
    views: tuple[tuple[View, Sequence[str]], ...] = (
        ("residence", UNITS),
        ("facility", FACILITY_UNITS),
    )
    for view, units in views:
        together = everything.values_over(units, periods, view, CATALOG, tree, disclosure=SEES_ALL)
        for period in periods:
            alone = everything.values(units, period, view, CATALOG, tree, disclosure=SEES_ALL)
            assert together[period.code] == alone, (period.code, view)
    # 2025-11: i5 and g4 (5 years old) are among the defaulters' denominator in 38004.
    series = everything.values_over(
        ["38004"], [parse_period("2025-11"), parse_period("2026-12")], "residence",
        CATALOG, tree, disclosure=SEES_ALL,
    )  # fmt: skip
    defaulters = next(
        v for v in series["2025-11"]["38004"] if v.indicator == "DEFAULTERS" and v.sex is None
    )
    assert (defaulters.numerator, defaulters.denominator) == (2, 8)


def test_the_same_history_in_order_shuffled_and_sent_twice_gives_the_same_answer(
    migrated: Path, tmp_path: Path, everything: Facts
) -> None:
    events = as_events(history())
    runs: dict[str, list[CloudEvent]] = {}
    for seed in (1, 2, 3):
        runs[f"interleaved {seed}"] = interleaved(events, random.Random(seed))
    for seed in (5, 6):
        runs[f"shuffled {seed}"] = shuffled(events, random.Random(seed))
    # Redelivered: each event twice in a row (the same id: a duplicate), then the whole history
    # published again (new ids: a producer that sent it twice).
    runs["twice"] = [e for e in events for _ in (0, 1)] + as_events(history())
    runs["twice, interleaved"] = interleaved(events + as_events(history()), random.Random(4))
    answers: dict[str, Answer] = {"in order": full_answer(everything)}
    for name, run in runs.items():
        engine, facts = applied(migrated, tmp_path, name.replace(" ", "_").replace(",", ""), run)
        answers[name] = full_answer(facts)
        engine.dispose()
    reference = answers.pop("in order")
    for name, got in answers.items():
        assert got == reference, name
    # And the answer is not empty: the scenario's numbers are in it.
    assert any(row[2] for rows in reference[("2025", "residence")].values() for row in rows)


def test_an_event_type_is_known_for_every_model() -> None:
    for model in history():
        assert event_type_for(type(model)).topic
