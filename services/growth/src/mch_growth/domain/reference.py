"""The WHO LMS tables shipped inside this package: checked, parsed once per process, read-only.

Each table becomes three arrays (L, M, S) of shape ``(2, n)``: row ``sex - 1``, column
``index - first``, where the index is the age in days, the age in whole months or the length or
height in tenths of a centimetre. Working in integer tenths is what lets a length such as 65.3 cm
find row 65.3 exactly instead of falling between 65.2 and 65.3 by a floating-point hair.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

TableName = Literal[
    "who2006_wfa",
    "who2006_lhfa",
    "who2006_bfa",
    "who2006_hcfa",
    "who2006_wfl",
    "who2006_wfh",
    "who2006_acfa",
    "who2006_ssfa",
    "who2006_tsfa",
    "who2007_wfa",
    "who2007_hfa",
    "who2007_bfa",
]
TABLE_NAMES: Final[tuple[TableName, ...]] = get_args(TableName)

# The published digests of the canonical table set. A table that differs would silently shift
# every z-score computed from it, so loading refuses it.
SHA256: Final[dict[TableName, str]] = {
    "who2006_wfa": "69316afe857e0c5c6eb9d3b697eb342e719e87a8fac08cc224b5c1024916e86a",
    "who2006_lhfa": "6901a766f581a17affbef8627fbfde621831228faad33b34ca2701ee0cbe0fc0",
    "who2006_bfa": "148a30b81666dcd9a4c25ae977f5f62cd47e4b73bab9f8df157c886f465cf12d",
    "who2006_hcfa": "7e0ef118210b5f32c096970b19dc71aaa4bc9a871d10391677f6d8d466d9ee53",
    "who2006_wfl": "15af23707b663f665237f69068dbd6bffebb4e5d07518c91fea7d99dc04a5932",
    "who2006_wfh": "94a3f96494c76a09f9129db0eb4512d750eeb597c2571fa945db472151e506a4",
    "who2006_acfa": "8c1413824984bcde05f03d2673caa750cc8c93fa9aec78133d25fdf75c3c1e42",
    "who2006_ssfa": "124fc2e2c53b58ef8ca881422f21ffa16aea1e6b5488126757eae11b8cb7b7f4",
    "who2006_tsfa": "efa3954ce5828bafac128fe5f98e3e0bc60639648cb7dcb0cf6b82517f5d693f",
    "who2007_wfa": "e67683142d78b83d68eaaa351d9f884bba25ced7ac6dbb2e0c63e62c7e1e2a6b",
    "who2007_hfa": "1b6a9882443caaf61e5b154f6ad4c8cca5e9276c908bf32a99592d9abbb99790",
    "who2007_bfa": "dfd58148c86a8bc394fde28202488dbde17158cd2ee9d913045292ad915c75ed",
}

IndexKind = Literal["age_days", "age_months", "length_cm", "height_cm"]
_INDEX_KINDS: Final[dict[str, IndexKind]] = {kind: kind for kind in get_args(IndexKind)}

FloatArray = npt.NDArray[np.float64]


class TableError(RuntimeError):
    """A packaged LMS table is not the published one or is not shaped as expected."""


@dataclass(frozen=True, slots=True)
class LmsTable:
    """One LMS table. ``first`` is in days, whole months or tenths of a centimetre."""

    name: TableName
    index: IndexKind
    first: int
    L: FloatArray
    M: FloatArray
    S: FloatArray

    @property
    def last(self) -> int:
        return self.first + int(self.L.shape[1]) - 1


def parse_table(name: TableName, raw: bytes) -> LmsTable:
    """Check ``raw`` against the published digest of ``name`` and parse it."""
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise TableError(
            f"WHO table {name}.csv has sha256 {digest}, expected {SHA256[name]}: "
            "the packaged growth tables are damaged or were edited"
        )
    reader = csv.reader(io.StringIO(raw.decode("utf-8")))
    header = next(reader)
    index = _INDEX_KINDS.get(header[1])
    if header[0] != "sex" or header[2:] != ["L", "M", "S"] or index is None:
        raise TableError(f"WHO table {name}.csv has an unexpected header {header}")
    tenths = index in ("length_cm", "height_cm")
    by_sex: dict[int, list[tuple[int, float, float, float]]] = {1: [], 2: []}
    for sex, key, lam, mu, sigma in reader:
        position = round(float(key) * 10) if tenths else int(key)
        by_sex[int(sex)].append((position, float(lam), float(mu), float(sigma)))
    boys, girls = by_sex[1], by_sex[2]
    first = boys[0][0]
    expected = list(range(first, first + len(boys)))
    if [r[0] for r in boys] != expected or [r[0] for r in girls] != expected:
        raise TableError(f"WHO table {name}.csv does not have one row per step for each sex")
    lms = np.array([[r[1:] for r in boys], [r[1:] for r in girls]], dtype=np.float64)
    lms.setflags(write=False)
    return LmsTable(
        name=name,
        index=index,
        first=first,
        L=lms[:, :, 0],
        M=lms[:, :, 1],
        S=lms[:, :, 2],
    )


@cache
def load_table(name: TableName) -> LmsTable:
    """The packaged table ``name``, read and checked on first use, then kept for the process."""
    raw = resources.files("mch_growth.domain").joinpath("tables", f"{name}.csv").read_bytes()
    return parse_table(name, raw)
