"""The dashboard in a real headless Chromium (Debian's, through Playwright) against the reporting
service on the embedded broker: the numbers on screen are the API's, for the province and, two
drill-down clicks later, for a commune; a new event moves them without a reload; English changes
every label; nothing is loaded from another host and nothing is logged as an error.

Screenshots go to ``MCH_SCREENSHOTS`` (a folder) when set, else to the test's temporary folder;
``services/reporting/docs/`` keeps two of them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import struct
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from playwright.async_api import async_playwright

from mch_events.broker import KafkaSettings
from mch_events.contracts import growth as g
from mch_events.contracts import records as r
from mch_immunization.app import create_app as create_immunization
from mch_immunization.settings import ImmunizationSettings
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.testing import bearer
from mch_reporting.app import create_app
from mch_reporting.settings import ReportingSettings
from mch_servicekit.access import Role
from mch_servicekit.migrations import upgrade

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

Produce = Callable[..., Awaitable[None]]
WaitFor = Callable[..., Awaitable[None]]

START, REFORM = dt.date(2020, 1, 1), dt.date(2025, 7, 1)
PERIOD = "2025-03"
REFERENCE = (
    "WHO Child Growth Standards 2006 (days 0-1856) + WHO Growth Reference 2007 (from day 1857)"
)
NAMES = {
    "VN": "Việt Nam",
    "38": "Thanh Hóa",
    "404": "Huyện Nông Cống",
    "405": "Huyện Như Thanh",
    "40401": "Xã Tế Nông",
    "40402": "Xã Tế Thắng",
    "40501": "Xã Hải Long",
    "38004": "Xã Nông Cống",
}


def unit(
    code: str, level: str, parent: str | None, frm: dt.date = START, to: dt.date | None = None
) -> r.OrgUnit:
    return r.OrgUnit(
        code=code, name=NAMES[code], level=level, parent=parent, valid_from=frm, valid_to=to
    )


TREE = [
    unit("VN", "national", None),
    unit("38", "province", "VN"),
    unit("404", "district", "38", to=REFORM),
    unit("405", "district", "38", to=REFORM),
    unit("40401", "commune", "404", to=REFORM),
    unit("40402", "commune", "404", to=REFORM),
    unit("40501", "commune", "405", to=REFORM),
    unit("38004", "commune", "38", frm=REFORM),
]


def child(commune: str, born: dt.date, sex: str = "F") -> r.PersonState:
    return r.PersonState(
        person_id=uuid.uuid4(),
        role="child",
        sex=sex,
        birth_date=born,
        registered_on=born,
        residences=[r.ResidencePeriod(residence=commune)],
    )


def assessed(person: r.PersonState, day: dt.date, waz: float) -> g.GrowthAssessed:
    assert person.birth_date is not None
    assert person.sex is not None
    return g.GrowthAssessed(
        visit_id=uuid.uuid4(),
        child_id=person.person_id,
        facility="TYT-40401",
        residence=person.residences[0].residence,
        visit_date=day,
        sex=person.sex,
        birth_date=person.birth_date,
        age_days=(day - person.birth_date).days,
        waz=g.ZScore(value=waz),
        lhaz=g.ZScore(value=-0.4),
        whz=g.ZScore(value=0.1),
        reference=REFERENCE,
        engine_version="test",
    )


def scenario() -> tuple[list[Any], r.PersonState]:
    """Six children in three communes of two districts, weighed over a few months before the
    2025 reform; one of Tế Nông waits to be weighed while the page is open."""
    born = [dt.date(2024, 6, 10), dt.date(2023, 2, 1), dt.date(2024, 9, 3)]
    te_nong = [child("40401", born[0]), child("40401", born[1], "M"), child("40401", born[2])]
    te_thang = [child("40402", born[1]), child("40402", born[0], "M")]
    hai_long = [child("40501", born[2], "M")]
    weighed = [
        assessed(te_nong[0], dt.date(2025, 3, 4), -2.5),
        assessed(te_nong[1], dt.date(2025, 3, 12), -0.3),
        assessed(te_nong[0], dt.date(2025, 1, 8), -1.9),
        assessed(te_thang[0], dt.date(2025, 3, 18), 0.2),
        assessed(te_thang[1], dt.date(2025, 2, 11), -1.0),
        assessed(hai_long[0], dt.date(2025, 3, 25), -3.2),
        assessed(hai_long[0], dt.date(2024, 12, 2), -2.1),
    ]
    return [*TREE, *te_nong, *te_thang, *hai_long, *weighed], te_nong[2]


@contextlib.asynccontextmanager
async def serving(app: Any, name: str) -> AsyncIterator[str]:
    """A service on a real port (a browser needs one), stopped on exit."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise AssertionError(f"the {name} service did not start")
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def served(folder: Path, bootstrap_servers: str) -> AsyncIterator[tuple[str, str]]:
    """Reporting and, for the defaulter list it links to, immunization: their base URLs."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap_servers)
    listing = f"sqlite:///{folder}/immunization.db"
    upgrade("mch_immunization", listing)
    immunization = create_immunization(ImmunizationSettings(database_url=listing), kafka)
    async with serving(immunization, "immunization") as listed:
        reporting_db = f"sqlite:///{folder}/reporting.db"
        upgrade("mch_reporting", reporting_db)
        app = create_app(
            ReportingSettings(
                database_url=reporting_db,
                immunization_url=listed,
                # The scenario's few children would all be small cells for the province's
                # manager: this test is about showing the numbers (suppressed cells below).
                small_cell_minimum=1,
            ),
            kafka,
        )
        async with serving(app, "reporting") as base:
            yield base, listed


def png_is_blank(png: bytes) -> bool:
    """Whether a PNG holds (nearly) one colour: its decompressed scanlines use few byte values."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(png[at + 8 : at + 8 + length])
        at += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return len(set(pixels)) < 16


def number(text: str) -> int | None:
    text = text.strip()
    return None if text == "–" else int(re.sub(r"\D", "", text))


def ratio(text: str) -> float | None:
    text = text.strip()
    if text == "–":
        return None
    digits = re.sub(r"[^\d,.]", "", text)
    # vi-VN writes 66,7 and en-GB 66.7: the last separator is the decimal one.
    return float(digits.replace(",", ".")) / 100


ON_SCREEN = """() => [...document.querySelectorAll('#groups tr[data-indicator]')].map(tr => ({
  indicator: tr.dataset.indicator,
  numerator: tr.querySelector('.num').textContent,
  denominator: tr.querySelector('.den').textContent,
  value: tr.querySelector('.val .v').textContent,
}))"""


async def api_totals(base: str, auth: dict[str, str], orgunit: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base, headers=auth) as client:
        response = await client.get("/v1/indicators", params={"orgunit": orgunit, "period": PERIOD})
    assert response.status_code == 200, response.text
    return {v["indicator"]: v for v in response.json()["values"] if "sex" not in v}


async def assert_screen_is_api(page: Any, base: str, auth: dict[str, str], orgunit: str) -> None:
    expected = await api_totals(base, auth, orgunit)
    shown = await page.evaluate(ON_SCREEN)
    assert sorted(s["indicator"] for s in shown) == sorted(expected), "every indicator, once"
    for s in shown:
        want = expected[s["indicator"]]
        label = f"{orgunit} {s['indicator']}"
        assert number(s["numerator"]) == want["numerator"], label
        assert number(s["denominator"]) == want["denominator"], label
        got = ratio(s["value"])
        if want["value"] is None or want["denominator"] is None:
            assert got is None, label
        else:
            assert got is not None, label
            assert abs(got - want["value"]) < 0.0006, label


async def shown(page: Any, orgunit: str) -> None:
    await page.wait_for_function(
        "code => (document.body.dataset.shown || '').startsWith(code + '|')",
        arg=orgunit,
        timeout=60_000,
    )


async def screenshot(page: Any, folder: Path, name: str) -> None:
    await page.evaluate("window.scrollTo(0, 0)")
    png = await page.screenshot(path=str(folder / name))
    assert not png_is_blank(png), name


WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 361)
  .filter(e => !e.closest('.scroll') || e.classList.contains('scroll'))
  .map(e => `${e.tagName}#${e.id}.${e.className}`)"""
"""What sticks out of a phone's screen (a wide table scrolls inside its own box)."""

LABELS_CHECK = """() => {
  const vi = window.MCH_I18N.vi, en = window.MCH_I18N.en;
  const wrong = [];
  for (const node of document.querySelectorAll('[data-i18n]')) {
    const key = node.dataset.i18n;
    if (node.textContent !== en[key] || vi[key] === en[key]) wrong.push(key);
  }
  for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
    if (node.getAttribute('aria-label') !== en[node.dataset.i18nAriaLabel]) wrong.push(node.id);
  }
  for (const node of document.querySelectorAll('button[data-pick]')) {
    const code = node.dataset.pick;
    if (node.textContent !== en.names[code] || vi.names[code] === en.names[code]) wrong.push(code);
  }
  const vietnamese = Object.values(vi).concat(Object.values(vi.names))
    .filter(s => typeof s === 'string' && /[^\\x00-\\x7f]/.test(s))
    .flatMap(s => s.split(/\\{[a-z]+\\}/)).map(s => s.trim()).filter(s => s.length > 2);
  return {wrong, text: document.body.innerText, vietnamese, lang: document.documentElement.lang};
}"""


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            raise AssertionError(f"{CHROMIUM} is required under CI (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MCH_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_the_dashboard_shows_the_apis_numbers_live(
    kafka_broker: EmbeddedBroker,
    tmp_path: Path,
    produce: Produce,
    wait_for: WaitFor,
    chromium: Path,
    screenshots: Path,
) -> None:
    folder = screenshots
    auth = bearer([Role.MANAGER], ["38"], subject="province-manager")
    token = auth["authorization"].removeprefix("Bearer ")
    events, waiting = scenario()

    async with served(tmp_path, kafka_broker.bootstrap_servers) as (base, listed):
        await produce(kafka_broker, *events)

        async def all_counted() -> bool:
            try:
                totals = await api_totals(base, auth, "38")
            except AssertionError:
                return False
            return bool(totals["U5_MEASURED"]["numerator"] == 4)

        await wait_for(all_counted)
        host = urlsplit(base).netloc
        errors: list[str] = []
        elsewhere: list[str] = []
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page(viewport={"width": 1366, "height": 768})
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on(
                    "request",
                    lambda q: (
                        elsewhere.append(q.url)
                        if urlsplit(q.url).scheme in ("http", "https", "ws", "wss")
                        and urlsplit(q.url).netloc != host
                        else None
                    ),
                )
                # The link `mch up` prints: the token in the fragment, never sent to the server.
                await page.goto(f"{base}/?orgunit=38&period={PERIOD}&lang=vi#token={token}")
                await shown(page, "38")
                assert token not in page.url, "the token leaves the address bar"
                assert await page.evaluate("document.documentElement.lang") == "vi"
                assert await page.inner_text("#unit-title") == "Thanh Hóa"
                await assert_screen_is_api(page, base, auth, "38")
                await screenshot(page, folder, "dashboard-province-1366.png")

                # The printable defaulter list opens on immunization with the same token, which
                # a manager's role does not let read named lists: a refusal with its reason.
                async with page.expect_popup() as opened:
                    await page.click("#defaulters-link")
                popup = await opened.value
                await popup.wait_for_function(
                    "document.getElementById('status')?.textContent.startsWith('Lỗi 403')",
                    timeout=60_000,
                )
                assert token not in popup.url, "the token leaves the list's address bar too"
                await popup.close()
                # A health worker of the province gets the list itself.
                worker = bearer([Role.HEALTH_WORKER], ["38"], subject="province-worker")
                worker_token = worker["authorization"].removeprefix("Bearer ")

                async def tree_known() -> bool:
                    async with httpx.AsyncClient(base_url=listed, headers=worker) as client:
                        answer = await client.get("/v1/defaulters", params={"orgunit": "38"})
                    return answer.status_code == 200

                await wait_for(tree_known)
                listing = await browser.new_page()
                await listing.goto(f"{listed}/lists/defaulters?orgunit=38#token={worker_token}")
                await listing.wait_for_selector("h1", timeout=60_000)
                assert "Thanh Hóa (38)" in await listing.inner_text("p.meta")
                await listing.close()

                # Drill down: province → district → commune, worst first at each step.
                await page.click('#children a[data-orgunit="404"]')
                await shown(page, "404")
                assert await page.inner_text("#unit-title") == "Huyện Nông Cống"
                await page.click('#children a[data-orgunit="40401"]')
                await shown(page, "40401")
                assert "orgunit=40401" in page.url
                await assert_screen_is_api(page, base, auth, "40401")
                assert await page.locator("#trend path.line-unit").count() == 1
                assert await page.locator("#trend path.line-parent").count() == 1
                await screenshot(page, folder, "dashboard-commune-1366.png")

                # A new weighing moves the number on screen, with no reload.
                await page.evaluate("window.notReloaded = true")
                measured = 'tr[data-indicator="U5_MEASURED"] .num'
                assert await page.inner_text(measured) == "2"
                await produce(kafka_broker, assessed(waiting, dt.date(2025, 3, 27), -0.8))
                await page.wait_for_function(
                    f"document.querySelector('{measured}').textContent === '3'", timeout=60_000
                )
                assert await page.evaluate("window.notReloaded") is True
                await assert_screen_is_api(page, base, auth, "40401")

                # English: every label changes; the numbers are the same.
                await page.click("#lang-switch")
                check = await page.evaluate(LABELS_CHECK)
                assert check["lang"] == "en"
                assert check["wrong"] == []
                left = [
                    s
                    for s in check["vietnamese"]
                    if s in check["text"] and not any(s in name for name in NAMES.values())
                ]
                assert left == [], "Vietnamese words left on the English page"
                assert await page.inner_text("#lang-switch") == "Tiếng Việt"
                assert "lang=en" in page.url
                await assert_screen_is_api(page, base, auth, "40401")

                # A phone: back up by the breadcrumb; nothing wider than the screen.
                await page.set_viewport_size({"width": 360, "height": 740})
                await page.click('#breadcrumb a[data-orgunit="38"]')
                await shown(page, "38")
                assert await page.evaluate(WIDER_THAN_THE_SCREEN) == []
                assert await page.evaluate("document.documentElement.scrollWidth") <= 360
                await screenshot(page, folder, "dashboard-province-360.png")

                # Search by name without diacritics, from the keyboard.
                await page.set_viewport_size({"width": 1366, "height": 768})
                await page.focus("#unit-search")
                await page.keyboard.type("te thang")
                await page.wait_for_selector('#unit-results li[data-code="40402"]')
                await page.keyboard.press("ArrowDown")
                await page.keyboard.press("Enter")
                await shown(page, "40402")
                await assert_screen_is_api(page, base, auth, "40402")

                # A quarter: the period picker composes its code.
                await page.select_option("#period-kind", "quarter")
                await page.wait_for_function(
                    "(document.body.dataset.shown || '').startsWith('40402|2025Q1|')",
                    timeout=60_000,
                )
                assert "period=2025Q1" in page.url

                # The exports: fetched with the token, handed over as the file the API names.
                async with httpx.AsyncClient(base_url=base, headers=auth) as client:
                    for link, kind, name in [
                        ("#csv-link", "csv", "indicators_40402_2025Q1_residence.csv"),
                        ("#dhis2-link", "dhis2", "indicators_40402_2025Q1_residence.json"),
                    ]:
                        async with page.expect_download() as started:
                            await page.click(link)
                        download = await started.value
                        assert download.suggested_filename == name
                        saved = await download.path()
                        direct = await client.get(
                            f"/v1/exports/{kind}",
                            params={"orgunit": "40402", "period": "2025Q1", "view": "residence"},
                        )
                        assert direct.status_code == 200, direct.text
                        assert saved.read_bytes() == direct.content, kind

                # A suppressed small cell comes without numbers: dashes, not a failure.
                async def suppress(route: Any) -> None:
                    response = await route.fetch()
                    answer = await response.json()
                    for row in answer["values"]:
                        if row["indicator"] == "U5_MEASURED":
                            row.update(numerator=None, denominator=None, value=None)
                            row["suppressed"] = True
                    await route.fulfill(response=response, json=answer)

                def indicators(url: str) -> bool:
                    return urlsplit(url).path == "/v1/indicators"

                await page.route(indicators, suppress)
                await page.click('#breadcrumb a[data-orgunit="404"]')
                await shown(page, "404")
                row = 'tr[data-indicator="U5_MEASURED"]'
                cells = [f"{row} .num", f"{row} .den", f"{row} .val .v"]
                assert [await page.inner_text(c) for c in cells] == ["–", "–", "–"]
                await page.unroute(indicators)

                # Printable on A4.
                pdf = await page.pdf(format="A4")
                assert pdf.startswith(b"%PDF")
            finally:
                await browser.close()
        assert errors == []
        assert elsewhere == []
