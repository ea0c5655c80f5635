"""The benchmarks' percentiles: what their p50 and p99 mean."""

from __future__ import annotations

import math

from mch_platform.benchkit import percentile


def test_percentiles_interpolate_between_the_values() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert math.isclose(percentile(values, 99), 99.01)


def test_percentiles_of_one_value_or_none() -> None:
    assert percentile([0.25], 99) == 0.25
    assert math.isnan(percentile([], 50))
