"""Throughput of the growth engine: in memory, and through the CSV scorer.

Generates 1,000,000 synthetic child visits (fixed seed) that look like handbook data: ages 0-6
years, weights, lengths and head circumferences drawn around the WHO medians with a
Vietnam-like shift towards stunting, a lying/standing position that mostly suits the age, gaps,
and a sprinkling of bad fields. Prints rows per second.

Run: ``.venv/bin/python services/growth/bench/bench_zscores.py [rows]``
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mch_growth.domain.reference import TABLE_NAMES, FloatArray, TableName, load_table
from mch_growth.domain.zscores import compute_zscores

SEED = 20260601
ROWS = 1_000_000
LAST_AGE_DAYS = 6 * 365


def synthetic_visits(rows: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    sex = rng.integers(1, 3, rows)
    age = rng.integers(0, LAST_AGE_DAYS + 1, rows)
    table_day = np.minimum(age, 1856)  # the 2006 curves are good enough to draw values from

    def around_median(table: TableName, mean_z: float, sd_z: float) -> FloatArray:
        t = load_table(table)
        col = table_day - t.first
        lam, mu, sigma = t.L[sex - 1, col], t.M[sex - 1, col], t.S[sex - 1, col]
        values: FloatArray = mu * (1 + lam * sigma * rng.normal(mean_z, sd_z, rows)) ** (1 / lam)
        return values

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
    for name in TABLE_NAMES:  # time the engine, not the one-off loading of its tables
        load_table(name)
    columns = synthetic_visits(rows)
    seconds = bench_engine(columns)
    print(f"engine, in memory: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    spoil(columns, np.random.default_rng(SEED + 1))
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "visits.csv", Path(tmp) / "scored.csv"
        write_csv(source, columns)
        size_mb = source.stat().st_size / 1e6
        # A process of its own, so that its peak memory is the scorer's alone.
        child = subprocess.run(
            [sys.executable, "-c", _SCORE_IN_CHILD, str(source), str(target)],
            check=True,
            capture_output=True,
            text=True,
        )
    elapsed, scored, with_reason, peak_kb = child.stdout.split()
    peak_mb = int(peak_kb) / 1024
    rate = int(scored) / float(elapsed)
    print(
        f"CSV scorer: {int(scored):,} rows ({size_mb:.0f} MB) in {float(elapsed):.2f} s = "
        f"{rate:,.0f} rows/s, peak memory {peak_mb:.0f} MB; {int(with_reason):,} rows with a reason"
    )


_SCORE_IN_CHILD = """
import sys, time
from mch_growth.batch import score_csv
start = time.perf_counter()
with open(sys.argv[1], newline="") as src, open(sys.argv[2], "w", newline="") as dst:
    summary = score_csv(src, dst)
seconds = time.perf_counter() - start
with open("/proc/self/status") as status:  # VmHWM: this program's own peak resident memory
    peak_kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print(seconds, summary.rows, summary.rows_with_reason, peak_kb)
"""

if __name__ == "__main__":
    main()
