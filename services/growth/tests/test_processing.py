"""How the growth service follows ``mch.records.v1``: each child visit is scored and published, its
faltering judged against the child's weighing before it, and kept right when visits arrive late,
are amended, move to another child or are voided."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest

from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_growth import processing
from mch_growth.domain.nutrition import NutritionStatus, Severity
from mch_growth.domain.zscores import ENGINE_VERSION, REFERENCE

Send = Callable[..., list[str]]
Published = Callable[[], list[g.GrowthAssessed]]
VisitOf = Callable[..., r.ChildVisitRecorded]

NORMAL, MODERATE, SEVERE = Severity.NORMAL, Severity.MODERATE, Severity.SEVERE


def waz(assessed: g.GrowthAssessed) -> float:
    assert assessed.waz is not None
    assert assessed.waz.value is not None
    return assessed.waz.value


@pytest.mark.parametrize(
    ("status", "codes"),
    [
        (NutritionStatus(NORMAL, NORMAL, NORMAL, NORMAL, 0), []),
        (
            NutritionStatus(MODERATE, NORMAL, MODERATE, NORMAL, 1),
            ["underweight_moderate", "wasting_moderate", "vn_grade_1"],
        ),
        (
            NutritionStatus(SEVERE, SEVERE, None, None, 2),
            ["underweight_severe", "stunting_severe", "vn_grade_2"],
        ),
        (NutritionStatus(SEVERE, None, None, None, 3), ["underweight_severe", "vn_grade_3"]),
        (NutritionStatus(NORMAL, NORMAL, NORMAL, SEVERE, 0), ["overweight_severe"]),
        # Oedema: severe without a weight-based z-score, so without a grade.
        (
            NutritionStatus(SEVERE, None, SEVERE, None, None),
            ["underweight_severe", "wasting_severe"],
        ),
    ],
)
def test_classification_codes_name_the_condition_its_severity_and_the_vietnamese_grade(
    status: NutritionStatus, codes: list[str]
) -> None:
    assert processing.classification(status) == codes


def test_a_visit_is_published_with_its_scores_status_and_provenance(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    visit = new_visit(child, 300, 7.0, head_cm=None)
    assert send(visit) == ["accepted"]
    (assessed,) = published()
    assert (assessed.visit_id, assessed.child_id, assessed.age_days) == (visit.visit_id, child, 300)
    assert (assessed.facility, assessed.residence) == ("TYT-38004", "38004")
    assert assessed.waz is not None
    # Full precision is published.
    assert assessed.waz.value == pytest.approx(-2.411, abs=5e-4)
    assert assessed.waz.flagged is False
    assert assessed.hcaz is None  # not measured
    assert assessed.classification == ["underweight_moderate", "wasting_moderate", "vn_grade_1"]
    assert not assessed.faltering
    assert (assessed.reference, assessed.engine_version) == (REFERENCE, ENGINE_VERSION)
    assert (assessed.revision, assessed.voided) == (1, False)

    # The same visit sent again (records re-publishes after a change elsewhere): nothing new.
    assert send(visit) == ["accepted"]
    assert published() == []


def test_no_weight_gain_between_monthly_visits_is_faltering(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    send(new_visit(child, 300, 8.5), new_visit(child, 330, 8.5))
    assert [a.faltering for a in published()] == [False, True]


def test_a_late_visit_changes_the_faltering_of_the_visit_after_it(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    first, third = new_visit(child, 300, 8.5), new_visit(child, 360, 8.5)
    send(first, third)
    assert [a.faltering for a in published()] == [False, False]  # 60 days apart: not monthly
    second = new_visit(child, 330, 8.5)
    send(second)
    assert [(a.visit_id, a.faltering) for a in published()] == [
        (second.visit_id, True),
        (third.visit_id, True),
    ]


def test_an_amended_visit_is_scored_again_and_an_older_revision_ignored(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    first, second = new_visit(child, 300, 8.5), new_visit(child, 330, 8.5)
    send(first, second)
    before = published()[1]
    assert before.faltering

    assert send(second.model_copy(update={"weight_kg": 9.0, "revision": 2})) == ["accepted"]
    (after,) = published()
    assert (after.visit_id, after.revision, after.faltering) == (second.visit_id, 2, False)
    assert waz(after) > waz(before)

    assert send(second) == ["stale"]  # revision 1 again, late
    assert published() == []


def test_a_visit_moved_to_another_day_leaves_its_old_place(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    first, second, third = (
        new_visit(child, 300, 8.0),
        new_visit(child, 330, 8.5),
        new_visit(child, 360, 8.5),
    )
    send(first, second, third)
    assert [a.faltering for a in published()] == [False, False, True]
    # The second visit was on day 390 at 9 kg: the third now follows the first, and gained on it.
    day_390 = second.birth_date + dt.timedelta(days=390)
    send(second.model_copy(update={"visit_date": day_390, "weight_kg": 9.0, "revision": 2}))
    assert [(a.visit_id, a.faltering, a.age_days) for a in published()] == [
        (third.visit_id, False, 360),
        (second.visit_id, False, 390),
    ]


def test_a_voided_visit_is_published_voided_and_is_no_reference(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    first, second, third = (
        new_visit(child, 300, 8.0),
        new_visit(child, 330, 8.5),
        new_visit(child, 360, 8.5),
    )
    send(first, second, third)
    assert [a.faltering for a in published()] == [False, False, True]
    # Records voids a visit by publishing it again, voided, at the same revision.
    send(second.model_copy(update={"voided": True}))
    voided, followed = published()
    assert (voided.visit_id, voided.voided, voided.revision) == (second.visit_id, True, 1)
    assert voided.waz is not None  # what is withdrawn is still named
    assert (followed.visit_id, followed.voided, followed.faltering) == (
        third.visit_id,
        False,
        False,
    )


def test_a_weight_taken_with_oedema_is_no_reference(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    send(
        new_visit(child, 300, 8.0),
        new_visit(child, 330, 9.0, oedema=True),
        new_visit(child, 360, 8.5),  # lighter than with oedema, heavier than before it
    )
    oedema, after = published()[1:]
    assert (oedema.oedema, oedema.waz, oedema.faltering) == (True, None, False)
    assert oedema.classification == ["underweight_severe", "wasting_severe"]
    assert not after.faltering


def test_a_visit_before_its_child_is_known_is_scored_from_its_own_sex_and_birth_date(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    child = uuid.uuid4()
    boy, girl = uuid.uuid4(), new_visit(child, 300, 8.0, sex="F")
    assert send(girl, new_visit(boy, 300, 8.0)) == ["accepted", "accepted"]
    as_girl, as_boy = published()
    assert (as_girl.sex, as_boy.sex) == ("F", "M")
    assert waz(as_girl) > waz(as_boy)  # 8 kg is more for a girl of that age


def test_a_merged_childs_visit_moves_to_the_surviving_child(
    send: Send, published: Published, new_visit: VisitOf
) -> None:
    duplicate, survivor = uuid.uuid4(), uuid.uuid4()
    first, second, third = (
        new_visit(duplicate, 300, 8.0),
        new_visit(duplicate, 330, 8.5),
        new_visit(duplicate, 360, 8.5),
    )
    send(first, second, third)
    published()
    # Records publishes the visit again under the surviving child, at the same revision.
    send(second.model_copy(update={"child_id": survivor}))
    assert {(a.visit_id, a.child_id, a.faltering) for a in published()} == {
        (second.visit_id, survivor, False),  # alone in the survivor's series
        (third.visit_id, duplicate, False),  # now follows the first visit, and gained on it
    }
