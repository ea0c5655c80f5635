"""The records rules without a database (``domain/rules.py``): each gives the same answer whatever
order the revisions, deaths, residence changes and voids arrive in."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Sequence

import pytest

from mch_events.contracts.results import ReasonCode
from mch_records.domain import rules
from mch_records.domain.checks import Reference

D1, D2, D3 = dt.date(2026, 1, 5), dt.date(2026, 1, 9), dt.date(2026, 2, 1)


# -- highest revision wins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incoming", "stored", "verdict"),
    [(1, None, "newer"), (2, 1, "newer"), (2, 2, "duplicate"), (1, 2, "stale")],
)
def test_the_highest_revision_wins(incoming: int, stored: int | None, verdict: str) -> None:
    assert rules.revision_verdict(incoming, stored) == verdict


def _stored_after(arrivals: Sequence[tuple[int, dt.date]]) -> tuple[int, dt.date]:
    revision: int | None = None
    registered_on: dt.date | None = None
    for incoming_revision, incoming_date in arrivals:
        decided = rules.registration(incoming_revision, incoming_date, revision, registered_on)
        if decided.verdict == "newer":
            revision = incoming_revision
        registered_on = decided.registered_on
    assert revision is not None
    assert registered_on is not None
    return revision, registered_on


def test_a_registration_keeps_its_highest_revision_and_earliest_date_in_any_order() -> None:
    revisions = [(1, D2), (2, D3), (3, D1), (2, D3)]
    outcomes = {_stored_after(order) for order in itertools.permutations(revisions)}
    assert outcomes == {(3, D1)}


def test_a_correction_sent_later_does_not_move_the_registration_date() -> None:
    decided = rules.registration(2, D3, 1, D1)
    assert decided == rules.Registration("newer", D1)


def test_an_older_revision_with_an_earlier_date_is_stale_but_moves_the_date() -> None:
    decided = rules.registration(1, D1, 2, D2)
    assert decided == rules.Registration("stale", D1)


def test_of_two_deaths_the_higher_revision_then_the_earlier_date_wins() -> None:
    assert rules.death_verdict(1, D2, None, None) == "newer"
    assert rules.death_verdict(2, D3, 1, D1) == "newer"
    assert rules.death_verdict(1, D3, 2, D1) == "stale"
    assert rules.death_verdict(1, D1, 1, D2) == "newer"
    assert rules.death_verdict(1, D2, 1, D1) == "stale"
    assert rules.death_verdict(1, D1, 1, D1) == "duplicate"


def test_of_two_residence_changes_for_a_date_the_higher_revision_then_the_lower_code_wins() -> None:
    assert rules.residence_change_verdict(1, "38002", None, None) == "newer"
    assert rules.residence_change_verdict(2, "38009", 1, "38001") == "newer"
    assert rules.residence_change_verdict(1, "38001", 2, "38009") == "stale"
    assert rules.residence_change_verdict(1, "38001", 1, "38002") == "newer"
    assert rules.residence_change_verdict(1, "38002", 1, "38001") == "stale"
    assert rules.residence_change_verdict(1, "38001", 1, "38001") == "duplicate"


def test_the_residence_on_a_date_is_the_latest_change_on_or_before_it() -> None:
    periods = [(None, "38001"), (D2, "38002"), (D3, "38003")]
    assert rules.residence_on(periods, D1) == "38001"
    assert rules.residence_on(periods, D2) == "38002"
    assert rules.residence_on(list(reversed(periods)), D3 + dt.timedelta(days=1)) == "38003"
    assert rules.residence_on([(D2, "38002")], D1) is None


# -- voids -----------------------------------------------------------------------------------------


def test_of_two_voids_the_earliest_is_kept_whichever_arrives_first() -> None:
    assert rules.void_replaces(D1, "b", D2, "a")
    assert not rules.void_replaces(D2, "a", D1, "b")
    assert rules.void_replaces(D1, "a", D1, "b")
    assert not rules.void_replaces(D1, "b", D1, "a")


def test_a_void_of_a_delivery_reaches_its_children() -> None:
    delivery = rules.Delivery(voided=True, live_born={"child"})
    assert rules.person_voided("child", voided_itself=False, delivery=delivery)


def test_a_child_the_delivery_no_longer_lists_as_born_alive_is_voided_and_comes_back() -> None:
    stillborn = rules.Delivery(voided=False, live_born=set())
    corrected = rules.Delivery(voided=False, live_born={"child"})
    assert rules.person_voided("child", voided_itself=False, delivery=stillborn)
    assert not rules.person_voided("child", voided_itself=False, delivery=corrected)


def test_a_person_voided_itself_stays_voided_and_one_without_delivery_is_not() -> None:
    live = rules.Delivery(voided=False, live_born={"child"})
    assert rules.person_voided("child", voided_itself=True, delivery=live)
    assert not rules.person_voided("mother", voided_itself=False, delivery=None)


def test_a_record_is_voided_by_its_own_void_or_by_its_persons() -> None:
    assert not rules.record_voided(voided_itself=False, person_voided=False)
    assert rules.record_voided(voided_itself=True, person_voided=False)
    assert rules.record_voided(voided_itself=False, person_voided=True)


# -- holding ---------------------------------------------------------------------------------------

MOTHER, PREGNANCY = uuid.uuid4(), uuid.uuid4()


def test_an_event_is_held_for_the_first_record_it_names_that_has_not_arrived() -> None:
    refs = [
        Reference("mother_id", "person", MOTHER),
        Reference("pregnancy_id", "pregnancy", PREGNANCY),
    ]
    assert rules.first_missing(refs, set(), {}) == refs[0]
    assert rules.first_missing(refs, {str(MOTHER)}, {}) == refs[1]
    assert rules.first_missing(refs, {str(MOTHER)}, {str(PREGNANCY): "pregnancy"}) is None


def test_a_pregnancy_reference_wants_a_pregnancy() -> None:
    refs = [Reference("pregnancy_id", "pregnancy", PREGNANCY)]
    assert rules.first_missing(refs, set(), {str(PREGNANCY): "birth"}) == refs[0]


def test_a_void_may_name_a_record_or_a_person() -> None:
    refs = [Reference("record_id", "record", MOTHER)]
    assert rules.first_missing(refs, {str(MOTHER)}, {}) is None
    assert rules.first_missing(refs, set(), {str(MOTHER): "birth"}) is None
    assert rules.first_missing(refs, set(), {}) == refs[0]


def test_held_and_expired_events_name_the_reference_and_the_rule() -> None:
    ref = Reference("pregnancy_id", "pregnancy", PREGNANCY)
    held = rules.held_problem(ref, dt.timedelta(days=7))
    assert (held.code, held.field, held.rule) == (
        ReasonCode.UNKNOWN_REFERENCE,
        "pregnancy_id",
        "held_until_reference_arrives",
    )
    assert "7 days" in held.message
    expired = rules.expired_problem("pregnancy_id", str(PREGNANCY), dt.datetime(2026, 1, 5, 8, 30))
    assert expired.rule == "reference_arrives_within_hold_time"
    assert "2026-01-05 08:30" in expired.message
