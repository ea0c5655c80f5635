from __future__ import annotations

from importlib import resources

import pytest

from mch_growth.domain.reference import TABLE_NAMES, TableError, load_table, parse_table


def raw(name: str) -> bytes:
    return resources.files("mch_growth.domain").joinpath("tables", f"{name}.csv").read_bytes()


def test_every_table_loads_once_per_process() -> None:
    for name in TABLE_NAMES:
        assert load_table(name) is load_table(name)


def test_a_table_that_differs_from_the_published_one_is_refused() -> None:
    data = raw("who2006_wfl").replace(b"1,45.0,-0.3521,2.441,", b"1,45.0,-0.3521,2.442,")
    with pytest.raises(TableError, match=r"who2006_wfl\.csv has sha256 .* expected 15af2370"):
        parse_table("who2006_wfl", data)


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("who2006_wfa", 0, 1856),
        ("who2006_lhfa", 0, 1856),
        ("who2006_acfa", 91, 1856),
        ("who2006_wfl", 450, 1100),  # tenths of a centimetre
        ("who2006_wfh", 650, 1200),
        ("who2007_wfa", 60, 120),  # months
        ("who2007_hfa", 60, 228),
    ],
)
def test_tables_are_indexed_by_whole_steps(name: str, first: int, last: int) -> None:
    table = load_table(name)
    assert (table.first, table.last) == (first, last)
    assert table.L.shape == table.M.shape == table.S.shape == (2, last - first + 1)


def test_rows_are_read_exactly() -> None:
    wfl = load_table("who2006_wfl")
    # girls, 65.0 cm: 2,65.0,-0.3833,7.0812,0.09119
    col = 650 - wfl.first
    assert (wfl.L[1, col], wfl.M[1, col], wfl.S[1, col]) == (-0.3833, 7.0812, 0.09119)
    assert not wfl.M.flags.writeable
