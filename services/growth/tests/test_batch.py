from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mch_growth.batch import OUTPUT_COLUMNS, BatchInputError, BatchSummary, score_csv
from mch_growth.cli import app

HEADER = (
    "case_id,sex,birth_date,visit_date,weight_kg,length_height_cm,measured,"
    "head_circumference_cm,village"
)
ROWS = [
    # A boy of 400 days, 9.0 kg, 75.0 cm standing (read as 75.7 cm lying), head 46.0 cm.
    "c1,1,2023-01-01,2024-02-05,9.0,75.0,H,46.0,Tế Nông",
    # The same child written with letters and words.
    "c2,M,2023-01-01,2024-02-05,9.0,75.0,standing,46.0,Tế Nông",
    "c3,X,2023-01-01,2024-02-05,9.0,75.0,H,46.0,Tế Nông",
    "c4,2,2023-01-01,2023-02-30,9.0,75.0,H,46.0,Tế Nông",
    "c5,2,2024-03-01,2024-01-01,9.0,75.0,L,46.0,Tế Nông",
    "c6,2,2023-01-01,2024-02-05,nine,75.0,L,,Tế Nông",
    # No dates: only weight-for-length (by position), with a girl of 12.0 kg lying at 90.0 cm.
    "c7,F,,,12.0,90.0,lying,,Tế Nông",
    # Standing at 100 days is implausible; weight 30 kg is flagged on every weight index.
    "c8,1,2024-01-01,2024-04-10,30.0,60.0,H,40.0,Tế Nông",
    "c9,1,2024-01-01",
]


def run(lines: list[str], **kwargs: object) -> tuple[list[dict[str, str]], BatchSummary]:
    target = io.StringIO()
    summary = score_csv(io.StringIO("\n".join(lines) + "\n"), target, **kwargs)  # type: ignore[arg-type]
    return list(csv.DictReader(io.StringIO(target.getvalue()))), summary


def test_output_has_the_input_columns_then_the_scores() -> None:
    out = io.StringIO()
    score_csv(io.StringIO(HEADER + "\n" + ROWS[0] + "\n"), out)
    header = out.getvalue().splitlines()[0].split(",")
    assert header == [*HEADER.split(","), *OUTPUT_COLUMNS]
    assert list(OUTPUT_COLUMNS) == [
        "age_days",
        "waz",
        "lhaz",
        "whz",
        "baz",
        "hcaz",
        "waz_flag",
        "lhaz_flag",
        "whz_flag",
        "baz_flag",
        "hcaz_flag",
        "reason",
    ]


def test_a_clean_row_gets_2_decimal_z_scores_and_no_reason() -> None:
    rows, summary = run([HEADER, ROWS[0], ROWS[1]])
    first = rows[0]
    assert first["village"] == "Tế Nông"
    assert first["age_days"] == "400"
    # lhfa boys 400: L 1, M 77.0812, S 0.03157 at 75.7 cm -> -0.5676... -> "-0.57"
    assert first["lhaz"] == f"{(75.7 / 77.0812 - 1) / 0.03157:.2f}" == "-0.57"
    # wfl boys 75.7: L -0.3521, M 9.644, S 0.08303 at 9.0 kg
    whz = ((9.0 / 9.644) ** -0.3521 - 1) / (-0.3521 * 0.08303)
    assert first["whz"] == f"{whz:.2f}"
    assert all(first[z] != "" for z in ("waz", "baz", "hcaz"))
    assert all(first[f"{z}_flag"] == "0" for z in ("waz", "lhaz", "whz", "baz", "hcaz"))
    assert first["reason"] == ""
    assert {k: v for k, v in rows[1].items() if k not in ("case_id", "sex", "measured")} == {
        k: v for k, v in first.items() if k not in ("case_id", "sex", "measured")
    }
    assert summary == BatchSummary(rows=2, rows_with_reason=0)


def test_bad_rows_get_reasons_and_never_stop_the_run() -> None:
    rows, summary = run([HEADER, *ROWS])
    by_id = {row["case_id"]: row for row in rows}
    assert by_id["c3"]["reason"] == "invalid_sex"
    assert by_id["c3"]["age_days"] == "400"
    assert by_id["c3"]["waz"] == by_id["c3"]["waz_flag"] == ""
    assert by_id["c4"]["reason"] == "invalid_date"
    assert by_id["c4"]["age_days"] == by_id["c4"]["waz"] == ""
    assert by_id["c5"]["reason"] == "visit_before_birth"
    assert by_id["c6"]["reason"] == "non_numeric_weight"
    assert by_id["c6"]["waz"] == by_id["c6"]["whz"] == ""
    assert by_id["c6"]["lhaz"] != ""
    assert by_id["c9"]["reason"] == "wrong_field_count"
    assert summary == BatchSummary(rows=9, rows_with_reason=6)


def test_without_dates_only_weight_for_length_is_given() -> None:
    rows, _ = run([HEADER, ROWS[6]])
    # wfl girls 90.0: L -0.3833, M 12.4723, S 0.08906
    whz = ((12.0 / 12.4723) ** -0.3833 - 1) / (-0.3833 * 0.08906)
    assert rows[0]["whz"] == f"{whz:.2f}"
    assert [rows[0][z] for z in ("age_days", "waz", "lhaz", "baz", "hcaz")] == [""] * 5


def test_flags_and_implausible_position() -> None:
    rows, _ = run([HEADER, ROWS[7]])
    row = rows[0]
    assert row["reason"] == "implausible_position"
    assert row["waz_flag"] == "1"
    assert float(row["waz"]) > 5
    assert row["lhaz_flag"] == "0"


def test_oedema_column_is_used_when_present() -> None:
    header = HEADER + ",oedema"
    rows, _ = run([header, ROWS[0] + ",y", ROWS[0] + ",", ROWS[0] + ",perhaps"])
    assert rows[0]["waz"] == rows[0]["whz"] == rows[0]["baz"] == ""
    assert rows[0]["lhaz"] == "-0.57"
    assert rows[1]["waz"] != ""
    assert rows[2]["reason"] == "invalid_oedema"


def test_chunks_give_the_same_output_and_report_progress() -> None:
    seen: list[int] = []
    chunked, _ = run([HEADER, *ROWS], chunk_rows=4, on_progress=seen.append)
    whole, _ = run([HEADER, *ROWS])
    assert chunked == whole
    assert seen == [4, 8, 9]


def test_input_columns_named_like_outputs_are_recomputed() -> None:
    rows, _ = run([HEADER + ",waz", ROWS[0] + ",99"])
    assert rows[0]["waz"] != "99"
    assert list(rows[0]).count("waz") == 1


def test_a_file_without_the_columns_is_refused() -> None:
    with pytest.raises(BatchInputError, match="weight_kg, length_height_cm"):
        score_csv(io.StringIO("case_id,sex,birth_date,visit_date,measured\n"), io.StringIO())
    with pytest.raises(BatchInputError, match="empty"):
        score_csv(io.StringIO(""), io.StringIO())


def test_cli_scores_a_file(tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("\ufeff" + "\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(source), str(target)])
    assert result.exit_code == 0, result.output
    assert "9 rows scored" in result.output
    assert "6 with a reason" in result.output
    with target.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["case_id"] == "c1"  # the byte-order mark is not part of the first name
    assert rows[0]["lhaz"] == "-0.57"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_cli_explains_a_file_it_cannot_score(tmp_path: Path) -> None:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("case_id,sex\nc1,1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", str(source), str(target)])
    assert result.exit_code == 2
    assert "lacks the column(s): birth_date" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    same = CliRunner().invoke(app, ["score", str(source), str(source)])
    assert same.exit_code != 0
    assert "must differ" in same.output
