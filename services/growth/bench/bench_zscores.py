"""Throughput of the growth engine: in memory, and through the CSV scorer.

Generates 1,000,000 synthetic child visits (fixed seed) that look like handbook data: ages 0-6
years, weights, lengths and head circumferences drawn around the WHO medians with a
Vietnam-like shift towards stunting, a lying/standing position that mostly suits the age, gaps,
and a sprinkling of bad fields. Prints rows per second.

Run: ``.venv/bin/python services/growth/bench/bench_zscores.py [rows]``
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mch_growth.batch import score_csv
from mch_growth.domain.reference import FloatArray, load_table
from mch_growth.domain.zscores import compute_zscores

SEED = 20260601
ROWS = 1_000_000
LAST_AGE_DAYS = 6 * 365


def synthetic_visits(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    sex = rng.integers(1, 3, rows)
    age = rng.integers(0, LAST_AGE_DAYS + 1, rows)
    table_day = np.minimum(age, 1856)  # the 2006 curves are good enough to draw values from

    def around_median(table: str, mean_z: float, sd_z: float) -> FloatArray:
        t = load_table(table)  # type: ignore[arg-type]
        col = table_day - t.first
        lam, mu, sigma = t.L[sex - 1, col], t.M[sex - 1, col], t.S[sex - 1, col]
        z = rng.normal(mean_z, sd_z, rows)
        return mu * (1 + lam * sigma * z) ** (1 / lam)

    weight = np.round(around_median("who2006_wfa", -0.5, 1.1), 1)
    length = np.round(around_median("who2006_lhfa", -0.9, 1.1), 1)
    head = np.round(around_median("who2006_hcfa", -0.2, 1.0), 1)
    suits_age = np.where(age < 731, "L", "H")
    other = np.where(age < 731, "H", "L")
    draw = rng.random(rows)
    measured = np.where(draw < 0.05, other, np.where(draw < 0.15, "", suits_age))
    birth = np.datetime64("2019-01-01") + rng.integers(0, 5 * 365, rows).astype("timedelta64[D]")
    visit = birth + age.astype("timedelta64[D]")
    return {
        "case_id": np.char.add("C", np.arange(rows).astype(str)),
        "sex": sex.astype(str),
        "birth_date": birth.astype(str),
        "visit_date": visit.astype(str),
        "weight_kg": weight.astype(str),
        "length_height_cm": length.astype(str),
        "measured": measured,
        "head_circumference_cm": np.where(rng.random(rows) < 0.3, "", head.astype(str)),
        "age_days": age,
    }


def spoil(columns: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """About 0.5 % of the rows get one bad field, as real exports do."""
    rows = len(columns["sex"])
    for name, bad in (("sex", "x"), ("visit_date", "2024-13-01"), ("weight_kg", "n/a")):
        hit = rng.random(rows) < 0.0017
        columns[name] = np.where(hit, bad, columns[name])


def bench_engine(columns: dict[str, np.ndarray]) -> float:
    sex = columns["sex"].astype(np.int64)
    age = columns["age_days"].astype(np.float64)
    weight = columns["weight_kg"].astype(np.float64)
    length = columns["length_height_cm"].astype(np.float64)
    position = np.select([columns["measured"] == "L", columns["measured"] == "H"], [1, 2], 0)
    head = np.where(columns["head_circumference_cm"] == "", "nan", columns["head_circumference_cm"])
    head_cm = head.astype(np.float64)
    start = time.perf_counter()
    compute_zscores(
        sex, age, weight_kg=weight, length_height_cm=length, position=position, head_cm=head_cm
    )
    return time.perf_counter() - start


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = [name for name in columns if name != "age_days"]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(zip(*(columns[name].tolist() for name in names), strict=True))


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    load_table("who2006_wfa")
    columns = synthetic_visits(rows)
    seconds = bench_engine(columns)
    print(f"engine, in memory: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    spoil(columns, np.random.default_rng(SEED + 1))
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "visits.csv", Path(tmp) / "scored.csv"
        write_csv(source, columns)
        size_mb = source.stat().st_size / 1e6
        start = time.perf_counter()
        with (
            source.open(newline="", encoding="utf-8") as src,
            target.open("w", newline="", encoding="utf-8") as dst,
        ):
            summary = score_csv(src, dst)
        seconds = time.perf_counter() - start
    print(
        f"CSV scorer: {summary.rows:,} rows ({size_mb:.0f} MB) in {seconds:.2f} s = "
        f"{summary.rows / seconds:,.0f} rows/s; {summary.rows_with_reason:,} rows with a reason"
    )


if __name__ == "__main__":
    main()
