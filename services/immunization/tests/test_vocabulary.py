"""The shipped schedules speak the contract's vaccine codes, so a dose recorded at a station, the
series it fills and the status published for it carry one spelling."""

from __future__ import annotations

from typing import get_args

from mch_events.contracts.facility import Vaccine
from mch_immunization.domain.schedule import load_catalog


def test_every_shipped_series_is_a_contract_vaccine_code() -> None:
    codes = {
        series.code
        for schedule in load_catalog().schedules.values()
        for series in schedule.spec.series
    }
    assert codes
    assert codes <= set(get_args(Vaccine)), codes - set(get_args(Vaccine))


def test_every_contract_vaccine_code_is_in_a_shipped_schedule() -> None:
    names = {
        name.upper()
        for schedule in load_catalog().schedules.values()
        for series in schedule.spec.series
        for name in (series.code, *series.aliases)
    }
    assert set(get_args(Vaccine)) <= names, set(get_args(Vaccine)) - names
