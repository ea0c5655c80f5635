"""The defaulter list: grouped by commune and person, as CSV and as the printable Vietnamese page."""

from __future__ import annotations

import datetime as dt

from mch_immunization.defaulters_page import to_csv, to_html
from mch_immunization.domain.defaulters import (
    CommuneDefaulters,
    Defaulter,
    OverdueDose,
    OverdueRow,
    group_by_commune,
)

D = dt.date
AS_OF = D(2026, 11, 27)
ROWS = [
    OverdueRow("c-young", "child", D(2026, 8, 1), "38004", "PENTA", 1, D(2026, 10, 29)),
    OverdueRow("w-1", "women", D(1998, 5, 10), "38004", "TT", 2, D(2026, 5, 29)),
    OverdueRow("c-old", "child", D(2025, 1, 15), "38004", "MCV1", 1, D(2025, 11, 12)),
    OverdueRow("c-young", "child", D(2026, 8, 1), "38004", "BCG", 1, D(2026, 8, 31)),
    OverdueRow("c-other", "child", D(2026, 1, 1), "38010", "JE", 1, D(2027, 2, 1)),
]
NAMES = {"38004": "Tế Nông", "38010": "Dân Lực"}


def test_grouped_by_commune_then_person_children_first_oldest_first() -> None:
    communes = group_by_commune(ROWS, AS_OF, lambda code: NAMES.get(code, ""))
    assert [(c.code, c.name) for c in communes] == [("38004", "Tế Nông"), ("38010", "Dân Lực")]
    assert [p.person_id for p in communes[0].people] == ["c-old", "c-young", "w-1"]
    young = communes[0].people[1]
    assert young.overdue == (
        OverdueDose("BCG", 1, D(2026, 8, 31), 88),
        OverdueDose("PENTA", 1, D(2026, 10, 29), 29),
    )


COMMUNE = CommuneDefaulters(
    "38004",
    "Tế Nông",
    (
        Defaulter(
            "c-<1>",
            "child",
            D(2026, 8, 1),
            (
                OverdueDose("BCG", 1, D(2026, 8, 31), 88),
                OverdueDose("PENTA", 1, D(2026, 10, 29), 29),
            ),
        ),
    ),
)


def test_csv_has_one_line_per_overdue_dose() -> None:
    assert to_csv([COMMUNE]).splitlines() == [
        "commune_code,commune_name,person_id,population,birth_date,vaccine,dose,overdue_since,"
        "days_overdue",
        "38004,Tế Nông,c-<1>,child,2026-08-01,BCG,1,2026-08-31,88",
        "38004,Tế Nông,c-<1>,child,2026-08-01,PENTA,1,2026-10-29,29",
    ]


def test_the_printable_page_speaks_vietnamese_and_escapes_what_it_prints() -> None:
    page = to_html("38", "Thanh Hóa", AS_OF, [COMMUNE])
    assert '<html lang="vi">' in page
    assert "Đơn vị: Thanh Hóa (38)<br>Tính đến ngày: 27/11/2026" in page
    assert "Tổng số: 1 người, 2 mũi tiêm quá hạn" in page
    assert "Tế Nông (38004) <small>(1 người)</small>" in page
    assert "c-&lt;1&gt;" in page
    assert "c-<1>" not in page
    assert "<td>Lao (BCG) – mũi 1</td><td>31/08/2026</td>" in page
    assert page.count('rowspan="2"') == 4  # the person's cells span both doses
    empty = to_html("38010", "Dân Lực", AS_OF, [])
    assert "Không có đối tượng nào quá hạn tiêm chủng." in empty
