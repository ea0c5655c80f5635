"""The defaulter list as CSV and as a printable page in Vietnamese, for the commune's immunization
day. It shows ids and birth dates, never names: the service has none; the health worker matches
the ids with the handbooks."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from html import escape

from .domain.defaulters import CommuneDefaulters

VACCINE_NAMES = {
    "HEPB0": "Viêm gan B sơ sinh",
    "BCG": "Lao (BCG)",
    "PENTA": "DPT-VGB-Hib (5 trong 1)",
    "OPV": "Bại liệt uống (bOPV)",
    "IPV": "Bại liệt tiêm (IPV)",
    "MCV1": "Sởi",
    "MR": "Sởi - Rubella",
    "DPT4": "DPT nhắc lại",
    "JE": "Viêm não Nhật Bản",
    "ROTA": "Rota",
    "TD": "Td nhắc lại",
    "TT": "Uốn ván (VAT)",
}
"""Names of the shipped schedules' series as the handbook prints them; another series shows its
code."""

POPULATION_NAMES = {"child": "Trẻ em", "women": "Phụ nữ"}

CSV_COLUMNS = (
    "commune_code",
    "commune_name",
    "person_id",
    "population",
    "birth_date",
    "vaccine",
    "dose",
    "overdue_since",
    "days_overdue",
)


def to_csv(communes: Sequence[CommuneDefaulters]) -> str:
    """One line per overdue dose."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for commune in communes:
        for person in commune.people:
            for dose in person.overdue:
                writer.writerow(
                    (
                        commune.code,
                        commune.name,
                        person.person_id,
                        person.population,
                        person.birth_date.isoformat(),
                        dose.vaccine,
                        dose.dose,
                        dose.since.isoformat(),
                        dose.days,
                    )
                )
    return out.getvalue()


def _day(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def _vaccine(code: str, dose: int) -> str:
    return f"{escape(VACCINE_NAMES.get(code, code))} – mũi {dose}"


def _commune_section(commune: CommuneDefaulters) -> str:
    title = (
        f"{escape(commune.name)} ({escape(commune.code)})" if commune.name else escape(commune.code)
    )
    rows = []
    for number, person in enumerate(commune.people, start=1):
        span = len(person.overdue)
        # The person's cells span the rows of their overdue doses.
        who = (
            f'<td rowspan="{span}" class="n">{number}</td>'
            f'<td rowspan="{span}" class="id">{escape(person.person_id)}</td>'
            f'<td rowspan="{span}">{POPULATION_NAMES[person.population]}</td>'
            f'<td rowspan="{span}">{_day(person.birth_date)}</td>'
        )
        for line, dose in enumerate(person.overdue):
            rows.append(
                f"<tr>{who if line == 0 else ''}<td>{_vaccine(dose.vaccine, dose.dose)}</td>"
                f'<td>{_day(dose.since)}</td><td class="n">{dose.days}</td></tr>'
            )
    return (
        f'<section class="commune"><h2>{title} <small>({len(commune.people)} người)</small></h2>'
        "<table><thead><tr><th>STT</th><th>Mã định danh</th><th>Đối tượng</th><th>Ngày sinh</th>"
        "<th>Vắc xin – mũi quá hạn</th><th>Quá hạn từ ngày</th><th>Số ngày quá hạn</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


_STYLE = """
body { font-family: "Times New Roman", serif; font-size: 12pt; margin: 1.5cm; color: #000; }
h1 { font-size: 15pt; text-align: center; text-transform: uppercase; margin-bottom: 0.2em; }
.meta { text-align: center; margin: 0 0 1em; }
h2 { font-size: 13pt; margin: 1.2em 0 0.4em; }
h2 small { font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #000; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
td.n { text-align: right; }
td.id { font-family: monospace; font-size: 10pt; }
.note { font-size: 10pt; margin-top: 1.5em; }
.sign { margin-top: 2em; display: flex; justify-content: flex-end; text-align: center; }
@media print {
  body { margin: 0; }
  section.commune { page-break-inside: avoid; }
  tr { page-break-inside: avoid; }
}
"""


def to_html(orgunit: str, name: str, as_of: dt.date, communes: Sequence[CommuneDefaulters]) -> str:
    people = sum(len(c.people) for c in communes)
    doses = sum(len(p.overdue) for c in communes for p in c.people)
    unit = f"{escape(name)} ({escape(orgunit)})" if name else escape(orgunit)
    body = (
        "".join(_commune_section(c) for c in communes)
        if communes
        else "<p>Không có đối tượng nào quá hạn tiêm chủng.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>Danh sách đối tượng quá hạn tiêm chủng – {unit}</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Danh sách đối tượng quá hạn tiêm chủng</h1>"
        f'<p class="meta">Đơn vị: {unit}<br>Tính đến ngày: {_day(as_of)}<br>'
        f"Tổng số: {people} người, {doses} mũi tiêm quá hạn</p>"
        f"{body}"
        '<p class="note">Danh sách không ghi họ tên: đối chiếu mã định danh với Sổ theo dõi sức '
        "khỏe bà mẹ và trẻ em. Một mũi tiêm quá hạn khi đã qua hạn tiêm theo lịch tiêm chủng mở "
        "rộng mà chưa được tiêm.</p>"
        '<div class="sign"><div>Ngày ..... tháng ..... năm ..........<br>'
        "<b>Người lập danh sách</b><br><i>(Ký, ghi rõ họ tên)</i></div></div>"
        "</body></html>"
    )


SIGNED_IN_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Danh sách trẻ quá hạn tiêm chủng</title></head>
<body><p id="status">Đang tải danh sách…</p>
<script>
(async () => {
  const status = document.getElementById("status");
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  // The token leaves the address bar, the history and any printout at once.
  history.replaceState(null, "", location.pathname + location.search);
  if (!token) {
    status.textContent =
      "Chưa đăng nhập: mở danh sách từ bảng điều khiển. / Not signed in: open it from the dashboard.";
    return;
  }
  const query = new URLSearchParams(location.search);
  query.set("format", "html");
  const response = await fetch("/v1/defaulters?" + query, {
    headers: { authorization: "Bearer " + token, accept: "text/html" },
  });
  if (!response.ok) {
    let reason = "";
    try { reason = (await response.json()).detail; } catch (_) { /* not JSON */ }
    status.textContent = "Lỗi " + response.status + (reason ? ": " + reason : "");
    return;
  }
  const page = await response.text();
  document.open();
  document.write(page);
  document.close();
})();
</script></body></html>
"""
"""What a browser opens from the dashboard, with the user's token in the URL fragment: a link
cannot carry a bearer header, and a fragment never reaches a server or its logs. The page holds
no data; it asks for the list with the token and shows it in its place."""
