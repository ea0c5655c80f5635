from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mch_growth.batch import (
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    BatchInputError,
    BatchSummary,
    score_csv,
)
from mch_growth.cli import app
from mch_growth.domain.intake import Reason

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
    assert "lacks the column(s): birth_date" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


# -- files as WHO Anthro users have them ------------------------------------------------------

TWIN_ROWS = [
    ["c1", "1", "2023-01-01", "2024-02-05", "9.1", "75.3", "H", "46.2", "Tế Nông"],
    ["c2", "female", "2023-03-01", "2024-02-05", "8.2", "72.4", "L", "", "Tế Nông"],
    ["c3", "M", "", "", "12.3", "90.1", "lying", "", "Bản Lầu"],
    ["c4", "x", "2023-01-01", "2024-02-05", "nine", "75.3", "", "46.2", "Bản Lầu"],
]


def score_file(tmp_path: Path, source: Path, target: Path | None = None) -> list[list[str]]:
    target = target or tmp_path / "out" / f"{source.stem}.csv"
    result = CliRunner().invoke(app, ["score", str(source), str(target)])
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def write_csv(path: Path, header: list[str], rows: list[list[str]], delimiter: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows([header, *rows])
    return path


def test_header_case_spaces_and_delimiter_do_not_change_the_output(tmp_path: Path) -> None:
    header = HEADER.split(",")
    plain = score_file(tmp_path, write_csv(tmp_path / "plain.csv", header, TWIN_ROWS, ","))
    shouting = [f" {name.upper()} " if name != "village" else name for name in header]
    for name, delimiter in (("semicolons.csv", ";"), ("tabs.csv", "\t")):
        twin = write_csv(tmp_path / name, shouting, TWIN_ROWS, delimiter)
        assert score_file(tmp_path, twin) == plain
    assert plain[0][:9] == header
    assert [row[1] for row in plain[1:]] == ["M", "F", "M", "x"]  # sex written M|F
    assert plain[1][plain[0].index("lhaz")] != ""


def test_semicolon_files_may_have_decimal_commas() -> None:
    comma = (
        "case_id;sex;birth_date;visit_date;weight_kg;length_height_cm\n"
        "c1;1;2023-01-01;2024-02-05;9,1;75,3\n"
    )
    point = comma.replace("9,1", "9.1").replace("75,3", "75.3")
    scored = []
    for text in (comma, point):
        target = io.StringIO()
        score_csv(io.StringIO(text), target)
        [row] = csv.DictReader(io.StringIO(target.getvalue()))
        scored.append(row)
    assert scored[0]["waz"] == scored[1]["waz"] != ""
    assert scored[0]["reason"] == ""


def test_an_xlsx_twin_gives_the_same_output(tmp_path: Path) -> None:
    from openpyxl import Workbook

    header = HEADER.split(",")
    plain = score_file(tmp_path, write_csv(tmp_path / "visits.csv", header, TWIN_ROWS, ","))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([name.upper() if name != "village" else name for name in header])
    for row in TWIN_ROWS:
        cells: list[object] = list(row)
        for i in (2, 3):  # date cells, as Excel keeps them
            cells[i] = dt.date.fromisoformat(row[i]) if row[i] else None
        for i in (4, 5, 7):  # number cells
            cells[i] = float(row[i]) if row[i].replace(".", "").isdigit() else (row[i] or None)
        cells[1] = int(row[1]) if row[1].isdigit() else row[1]  # WHO Anthro's 1/2 as numbers
        sheet.append(cells)
    sheet.append([None] * len(header))  # a formatted but empty row at the end
    book.save(tmp_path / "visits.xlsx")
    assert score_file(tmp_path, tmp_path / "visits.xlsx", tmp_path / "xlsx.csv") == plain


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    header = ["case_id", "sex", "birth_date", "visit_date", "weight_kg", "length_height_cm"]
    rows = [row[:6] for row in TWIN_ROWS]
    lean = score_file(tmp_path, write_csv(tmp_path / "lean.csv", header, rows, ","))
    full_header = [*header, "measured", "head_circumference_cm", "oedema"]
    full_rows = [[*row, "", "", ""] for row in rows]
    full = score_file(tmp_path, write_csv(tmp_path / "full.csv", full_header, full_rows, ","))
    assert lean[0] == [*header, *OUTPUT_COLUMNS]
    # The same scores as with the columns present and empty: not measured.
    assert [row[:6] + row[6:] for row in lean[1:]] == [row[:6] + row[9:] for row in full[1:]]
    assert lean[1][lean[0].index("hcaz")] == ""
    assert lean[1][lean[0].index("waz")] != ""


def test_the_output_folder_is_created(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in.csv", HEADER.split(","), TWIN_ROWS, ",")
    target = tmp_path / "reports" / "2026" / "scored.csv"
    assert len(score_file(tmp_path, source, target)) == len(TWIN_ROWS) + 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["scored.csv"]


def user_errors(tmp_path: Path) -> dict[str, list[str]]:
    good = write_csv(tmp_path / "good.csv", HEADER.split(","), TWIN_ROWS, ",")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    (tmp_path / "latin1.csv").write_bytes(
        "case_id,sex\nc1,Tế\n".encode("cp1258", "replace") + b"\xff"
    )
    (tmp_path / "huge.csv").write_text(HEADER + "\nc1," + "x" * 200_000 + "\n", encoding="utf-8")
    (tmp_path / "broken.xlsx").write_bytes(b"PK not really a workbook")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (tmp_path / "lacking.csv").write_text("case_id;SEX;weight_kg\nc1;1;9\n", encoding="utf-8")
    (tmp_path / "twice.csv").write_text(HEADER + ",Sex\n", encoding="utf-8")
    out = str(tmp_path / "out.csv")
    return {
        "no such file": ["score", str(tmp_path / "missing.csv"), out],
        "a folder, not a file": ["score", str(tmp_path), out],
        "input is empty": ["score", str(tmp_path / "empty.csv"), out],
        "not UTF-8": ["score", str(tmp_path / "latin1.csv"), out],
        "not a readable CSV file (field larger": ["score", str(tmp_path / "huge.csv"), out],
        "not a readable .xlsx": ["score", str(tmp_path / "broken.xlsx"), out],
        "save it as .xlsx or .csv": ["score", str(tmp_path / "old.xls"), out],
        "lacks the column(s): birth_date, visit_date, length_height_cm": [
            "score",
            str(tmp_path / "lacking.csv"),
            out,
        ],
        "more than once: sex": ["score", str(tmp_path / "twice.csv"), out],
        "must differ from the input": ["score", str(good), str(good)],
        "give the output file's name": ["score", str(good), str(tmp_path)],
        "--chunk-rows must be at least 1": ["score", str(good), out, "--chunk-rows", "0"],
        "Invalid value for '--chunk-rows'": ["score", str(good), out, "--chunk-rows", "many"],
        "Missing argument 'OUTPUT'": ["score", str(good)],
        "No such option: --delimiter": ["score", str(good), out, "--delimiter", ";"],
    }


def test_every_user_error_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    for expected, args in user_errors(tmp_path).items():
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (expected, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), expected
        assert result.stdout == "", expected
        [line] = result.stderr.splitlines()
        assert line.startswith("mch growth score: "), line
        assert expected in line, line
    assert not (tmp_path / "out.csv").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_help_lists_the_columns_units_and_codes_with_an_example() -> None:
    result = CliRunner().invoke(app, ["score", "--help"], terminal_width=100)
    assert result.exit_code == 0
    text = result.output
    for name in (*INPUT_COLUMNS, *OUTPUT_COLUMNS):
        assert name in text, name
    for word in ("kilograms", "centimetres", "YYYY-MM-DD", "1 (male)", "2 (female)", "semicolon"):
        assert word in text, word
    for reason in Reason:
        if reason.value in ("invalid_item", "non_numeric_muac", "non_positive_muac"):
            continue  # the HTTP endpoint's codes, not the file's
        assert reason.value in text, reason
    assert "mch growth score survey.csv" in text
