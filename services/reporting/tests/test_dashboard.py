"""The dashboard without a browser: the page and its assets as served (nothing from another host),
the index still in JSON at ``/``, targets as data, org units found without diacritics, and every
indicator of the catalog named in both languages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mch_events.broker import KafkaSettings
from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_reporting.app import create_app
from mch_reporting.dashboard import ASSETS, DEFAULT_TARGETS
from mch_reporting.domain import catalog, orgunits
from mch_reporting.domain.periods import parse_period
from mch_reporting.domain.targets import TargetsError, parse
from mch_reporting.settings import ReportingSettings

NO_BROKER = "127.0.0.1:9"  # the lifespan, which would connect, is not run
START, REFORM = dt.date(2020, 1, 1), dt.date(2025, 7, 1)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
"""A name, not an address: nothing is fetched from it."""


def app_client(tmp_path: Path, **settings: object) -> TestClient:
    app = create_app(
        ReportingSettings(database_url=f"sqlite:///{tmp_path}/reporting.db", **settings),  # type: ignore[arg-type]
        KafkaSettings(bootstrap_servers=NO_BROKER),
    )
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with_client = app_client(tmp_path)
    yield with_client
    with_client.app.state.ctx.engine.dispose()  # type: ignore[attr-defined]


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def test_browsers_get_the_page_and_programs_the_index(client: TestClient) -> None:
    page = client.get("/", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in page.text
    assert client.get("/dashboard").text == page.text

    index = client.get("/", headers={"accept": "application/json"})
    assert index.status_code == 200
    assert index.json()["service"] == "reporting"
    assert index.json()["links"]["dashboard"] == "/dashboard"
    assert client.get("/").json()["service"] == "reporting", "no Accept: the index"
    assert client.get("/index", headers={"accept": "application/json"}).status_code == 200


def test_every_asset_comes_from_the_service(client: TestClient) -> None:
    parser = _Urls()
    parser.feed(client.get("/dashboard").text)
    assert parser.urls
    for url in [u for u in parser.urls if not u.startswith("#")]:
        assert url.startswith("/"), f"{url} is not on this host"
        # Readiness is 503 here (no broker): served is what is checked.
        assert client.get(url).status_code in (200, 503), url
    for asset in ASSETS.iterdir():
        text = asset.read_text("utf-8").replace(SVG_NAMESPACE, "")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), asset.name
        assert "@import" not in text, asset.name


def test_a_prefix_of_the_proxy_is_in_every_url(client: TestClient) -> None:
    page = TestClient(client.app, root_path="/reporting").get("/dashboard")
    parser = _Urls()
    parser.feed(page.text)
    assert all(url.startswith(("/reporting/", "#")) for url in parser.urls)


def test_every_indicator_is_named_in_both_languages_and_grouped_once() -> None:
    script = (ASSETS / "i18n.js").read_text("utf-8")
    groups = script[script.index("MCH_GROUPS") : script.index("MCH_LOWER_IS_BETTER")]
    grouped = re.findall(r'"([A-Z0-9_]+)"', groups)
    assert sorted(grouped) == sorted(catalog.BY_CODE), "each indicator in one group"
    for code in catalog.BY_CODE:
        assert len(re.findall(rf"^\s+{code}: \"[^\"]+\",$", script, re.M)) == 2, code


def test_the_packaged_targets_hold_the_national_epi_target_and_anc4() -> None:
    targets = {t.indicator: t for t in parse(DEFAULT_TARGETS.read_text("utf-8")).targets}
    for code in ("BCG", "PENTA3", "MCV1", "FIC"):
        assert targets[code].at_least == 0.95
        assert targets[code].missed(0.949)
        assert not targets[code].missed(0.95)
    assert targets["ANC4"].at_least is not None
    assert targets["PENTA_DROPOUT"].better == "lower"
    assert targets["PENTA_DROPOUT"].missed(0.11)
    assert not targets["PENTA_DROPOUT"].missed(None)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ('{"targets": [{"indicator": "BCG", "at_least": 0.9, "at_most": 1}]}', "exactly one"),
        ('{"targets": [{"indicator": "BCG"}]}', "exactly one"),
        ('{"targets": [{"indicator": "NOPE", "at_least": 0.9}]}', "unknown indicator"),
        ('{"targets": [{"indicator": "BCG", "at_least": 95}]}', "less than or equal to 1"),
        (
            '{"targets": [{"indicator": "BCG", "at_least": 0.9},'
            ' {"indicator": "BCG", "at_least": 0.8}]}',
            "more than one target for BCG",
        ),
        ("{targets", "targets"),
    ],
)
def test_a_wrong_targets_file_says_what_is_wrong(document: str, reason: str) -> None:
    with pytest.raises(TargetsError, match=reason):
        parse(document, "targets.json")


def test_a_province_edits_its_targets_in_a_file(tmp_path: Path) -> None:
    mine = tmp_path / "targets.json"
    mine.write_text('{"targets": [{"indicator": "ANC4", "at_least": 0.8}]}', "utf-8")
    app = create_app(
        ReportingSettings(database_url=f"sqlite:///{tmp_path}/r.db", targets_file=mine),
        KafkaSettings(bootstrap_servers=NO_BROKER),
    )
    assert [t.indicator for t in app.state.targets.targets] == ["ANC4"]
    app.state.ctx.engine.dispose()
    mine.write_text('{"targets": [{"indicator": "ANC4"}]}', "utf-8")
    with pytest.raises(TargetsError, match=r"targets\.json"):
        create_app(
            ReportingSettings(database_url=f"sqlite:///{tmp_path}/r2.db", targets_file=mine),
            KafkaSettings(bootstrap_servers=NO_BROKER),
        )


def unit(
    code: str,
    name: str,
    level: str,
    parent: str | None,
    frm: dt.date = START,
    to: dt.date | None = None,
) -> OrgUnit:
    return OrgUnit(code=code, name=name, level=level, parent=parent, valid_from=frm, valid_to=to)


TREE = OrgTree(
    [
        unit("VN", "Việt Nam", "national", None),
        unit("38", "Thanh Hóa", "province", "VN"),
        unit("404", "Huyện Nông Cống", "district", "38", to=REFORM),
        unit("40401", "Xã Tế Nông", "commune", "404", to=REFORM),
        unit("40402", "Xã Đông Tiến", "commune", "404", to=REFORM),
        unit("38004", "Xã Tế Nông", "commune", "38", frm=REFORM),
        unit("TYT-38004", "Trạm Y tế xã Tế Nông", "facility", "38004", frm=REFORM),
    ]
)


def test_a_name_is_found_without_its_diacritics_on_the_tree_of_the_period() -> None:
    def found(query: str, period: str) -> list[str]:
        return [u.code for u in orgunits.search(TREE, query, parse_period(period))]

    assert found("Te Nong", "2025-03") == ["40401"]
    assert found("te nong", "2026-11") == ["38004", "TYT-38004"], "areas before facilities"
    assert found("TẾ NÔNG", "2025") == ["38004", "40401", "TYT-38004"], "a year across the reform"
    assert found("dong tien", "2025-03") == ["40402"], "đ is found as d"
    assert found("404", "2025-03") == ["404", "40402", "40401"], "a code prefix"
    assert found("404", "2026-01") == []
    assert found("  ", "2026-01") == []


def test_a_unit_has_the_ancestors_and_children_of_its_period() -> None:
    before, after = parse_period("2025-03"), parse_period("2026-03")
    assert [a.code for a in orgunits.ancestors(TREE, "40401", before)] == ["VN", "38", "404"]
    assert [a.code for a in orgunits.ancestors(TREE, "38004", after)] == ["VN", "38"]
    assert orgunits.codes_below(TREE, "38", before) == ["404"]
    assert orgunits.codes_below(TREE, "38", parse_period("2025")) == ["38004", "404"]
    assert orgunits.unit(TREE, "404", after) is None
    assert orgunits.fold("Đồng  Nghiệp") == "dong nghiep"
