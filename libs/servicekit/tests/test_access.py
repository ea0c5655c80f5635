"""The access policy as a table (role × area × action → allow/deny), and token verification: what is
refused and why."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mch_events.contracts.records import OrgUnit
from mch_events.orgtree import OrgTree
from mch_servicekit.access import (
    DEFAULT_MINIMUM,
    Action,
    AuthSettings,
    Principal,
    ReadsNamed,
    Role,
    TokenRejected,
    TokenVerifier,
    decide,
    enforce,
    sees_small_counts,
    suppresses,
)
from mch_servicekit.access.devissuer import DevIssuer

REFORM = dt.date(2025, 7, 1)
BEFORE = dt.date(2024, 5, 1)
AFTER = dt.date(2026, 5, 1)


def _unit(code: str, level: str, parent: str | None, **kw: Any) -> OrgUnit:
    return OrgUnit.model_validate(
        {"code": code, "name": code, "level": level, "parent": parent, "valid_from": "2020-01-01"}
        | kw
    )


TREE = OrgTree(
    [
        _unit("VN", "national", None),
        _unit("38", "province", "VN"),
        _unit("404", "district", "38", valid_to=REFORM),
        # A commune under its district until the reform, under the province after it.
        _unit("38004", "commune", "404", valid_to=REFORM),
        _unit("38004", "commune", "38", valid_from=REFORM),
        _unit("38005", "commune", "38"),
        _unit("40401", "commune", "404", valid_to=REFORM),
        _unit("TYT-40401", "facility", "40401", valid_to=REFORM),
        _unit("TYT-38004", "facility", "38004"),
        _unit("TYT-38005", "facility", "38005"),
        _unit("01", "province", "VN"),
        _unit("00001", "commune", "01"),
    ]
)


def who(*roles: Role, units: tuple[str, ...] = (), facility: str | None = None) -> Principal:
    return Principal(subject="t", roles=frozenset(roles), orgunits=units, facility=facility)


HW_38004 = who(Role.HEALTH_WORKER, units=("38004",))
HW_38005 = who(Role.HEALTH_WORKER, units=("38005",))
MANAGER_38 = who(Role.MANAGER, units=("38",))
MANAGER_404 = who(Role.MANAGER, units=("404",))
DATA_38 = who(Role.DATA_MANAGER, units=("38",))
DATA_404 = who(Role.DATA_MANAGER, units=("404",))
DATA_38005 = who(Role.DATA_MANAGER, units=("38005",))
FACILITY = who(Role.FACILITY_SYSTEM, facility="TYT-38004")
FACILITY_UNBOUND = who(Role.FACILITY_SYSTEM)
OPERATOR = who(Role.OPERATOR, units=("VN",))

A = Action
TABLE: list[tuple[str, Principal, Action, dict[str, Any], bool]] = [
    # Health worker: her commune's named records and numbers, no one else's.
    ("hw own commune handbook", HW_38004, A.READ_NAMED, {"orgunit": "38004"}, True),
    ("hw other commune handbook", HW_38004, A.READ_NAMED, {"orgunit": "38005"}, False),
    ("hw province list", HW_38004, A.READ_NAMED, {"orgunit": "38"}, False),
    ("hw own numbers", HW_38004, A.READ_AGGREGATES, {"orgunit": "38004"}, True),
    ("hw other numbers", HW_38005, A.READ_AGGREGATES, {"orgunit": "38004"}, False),
    ("hw merges", HW_38004, A.CHANGE_NAMED, {"orgunit": "38004"}, False),
    ("hw submits", HW_38004, A.SUBMIT_EVENTS, {"facility": "TYT-38004"}, False),
    ("hw audit", HW_38004, A.READ_AUDIT, {}, False),
    ("hw resync", HW_38004, A.OPERATE, {}, False),
    ("hw rebuild", HW_38004, A.REBUILD, {}, False),
    ("hw reference", HW_38004, A.READ_REFERENCE, {}, True),
    # Manager: the area's numbers, never named records.
    ("manager province numbers", MANAGER_38, A.READ_AGGREGATES, {"orgunit": "38"}, True),
    ("manager commune numbers", MANAGER_38, A.READ_AGGREGATES, {"orgunit": "38004"}, True),
    ("manager other province", MANAGER_38, A.READ_AGGREGATES, {"orgunit": "01"}, False),
    ("manager named", MANAGER_38, A.READ_NAMED, {"orgunit": "38004"}, False),
    ("manager rejections", MANAGER_38, A.READ_REJECTIONS, {"facility": "TYT-38004"}, False),
    # A district abolished at the reform covers its communes' history, nothing after.
    (
        "district before reform",
        MANAGER_404,
        A.READ_AGGREGATES,
        {"orgunit": "38004", "on": BEFORE},
        True,
    ),
    (
        "district after reform",
        MANAGER_404,
        A.READ_AGGREGATES,
        {"orgunit": "38004", "on": AFTER},
        False,
    ),
    (
        "district, other commune",
        MANAGER_404,
        A.READ_AGGREGATES,
        {"orgunit": "38005", "on": BEFORE},
        False,
    ),
    # A unit gone by the date asked about is where it was on its last day.
    ("district, its gone commune", DATA_404, A.READ_NAMED, {"orgunit": "40401"}, True),
    ("district, gone facility", DATA_404, A.SUBMIT_EVENTS, {"facility": "TYT-40401"}, True),
    ("other area, gone facility", DATA_38005, A.SUBMIT_EVENTS, {"facility": "TYT-40401"}, False),
    ("district, new commune", DATA_404, A.READ_NAMED, {"orgunit": "38004"}, False),
    (
        "province across reform",
        MANAGER_38,
        A.READ_AGGREGATES,
        {"orgunit": "38004", "on": BEFORE},
        True,
    ),
    # Data manager: named records, merges, submissions and rejections of the area.
    ("data named", DATA_38, A.READ_NAMED, {"orgunit": "38005"}, True),
    ("data merges", DATA_38, A.CHANGE_NAMED, {"orgunit": "38004"}, True),
    ("data other province", DATA_38, A.READ_NAMED, {"orgunit": "00001"}, False),
    ("data submits for area", DATA_38, A.SUBMIT_EVENTS, {"facility": "TYT-38005"}, True),
    ("data rejections", DATA_38, A.READ_REJECTIONS, {"facility": "TYT-38004"}, True),
    ("data exports a person", DATA_38, A.EXPORT_NAMED, {"orgunit": "38004"}, True),
    ("data exports elsewhere", DATA_38, A.EXPORT_NAMED, {"orgunit": "00001"}, False),
    ("data erases a person", DATA_38, A.ERASE_NAMED, {"orgunit": "38004"}, True),
    ("data erases elsewhere", DATA_404, A.ERASE_NAMED, {"orgunit": "38005"}, False),
    ("hw exports", HW_38004, A.EXPORT_NAMED, {"orgunit": "38004"}, False),
    ("hw erases", HW_38004, A.ERASE_NAMED, {"orgunit": "38004"}, False),
    ("manager exports", MANAGER_38, A.EXPORT_NAMED, {"orgunit": "38004"}, False),
    ("data audit", DATA_38, A.READ_AUDIT, {}, False),
    ("data resync", DATA_38, A.OPERATE, {}, False),
    ("data rebuilds reporting", DATA_38, A.REBUILD, {}, True),
    ("data unknown unit", DATA_38, A.READ_NAMED, {"orgunit": "99999"}, False),
    ("data no unit", DATA_38, A.READ_NAMED, {}, False),
    # Facility system: its own facility's events and rejections only.
    ("facility own", FACILITY, A.SUBMIT_EVENTS, {"facility": "TYT-38004"}, True),
    ("facility other", FACILITY, A.SUBMIT_EVENTS, {"facility": "TYT-38005"}, False),
    ("facility by commune", FACILITY, A.SUBMIT_EVENTS, {"orgunit": "38004"}, False),
    ("facility own rejections", FACILITY, A.READ_REJECTIONS, {"facility": "TYT-38004"}, True),
    ("facility named", FACILITY, A.READ_NAMED, {"orgunit": "38004"}, False),
    ("facility numbers", FACILITY, A.READ_AGGREGATES, {"orgunit": "38004"}, False),
    ("facility resync", FACILITY, A.OPERATE, {}, False),
    ("unbound facility token", FACILITY_UNBOUND, A.SUBMIT_EVENTS, {"facility": "TYT-38004"}, False),
    # Operator: reference data and the audit log, no health data.
    ("operator audit", OPERATOR, A.READ_AUDIT, {}, True),
    ("operator imports", OPERATOR, A.MANAGE_REFERENCE, {}, True),
    ("operator resyncs", OPERATOR, A.OPERATE, {}, True),
    ("operator rebuilds reporting", OPERATOR, A.REBUILD, {}, True),
    ("manager rebuild", MANAGER_38, A.REBUILD, {}, False),
    ("operator named", OPERATOR, A.READ_NAMED, {"orgunit": "38004"}, False),
    ("operator erases", OPERATOR, A.ERASE_NAMED, {"orgunit": "38004"}, True),
    ("operator exports", OPERATOR, A.EXPORT_NAMED, {"orgunit": "38004"}, False),
    ("facility erases", FACILITY, A.ERASE_NAMED, {"facility": "TYT-38004"}, False),
    ("operator numbers", OPERATOR, A.READ_AGGREGATES, {"orgunit": "38"}, False),
    ("operator submits", OPERATOR, A.SUBMIT_EVENTS, {"facility": "TYT-38004"}, False),
    ("no roles", who(units=("VN",)), A.READ_REFERENCE, {}, False),
]


@pytest.mark.parametrize(
    ("principal", "action", "where", "allowed"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_the_policy_table(
    principal: Principal, action: Action, where: dict[str, Any], allowed: bool
) -> None:
    on = where.pop("on", AFTER) if "on" in where else AFTER
    decision = decide(principal, action, tree=TREE, on=on, **where)
    assert decision.allowed is allowed, decision.reason


def test_without_a_tree_only_the_roots_themselves_are_covered() -> None:
    assert decide(HW_38004, A.READ_NAMED, orgunit="38004").allowed
    assert not decide(DATA_38, A.READ_NAMED, orgunit="38004").allowed


def test_every_role_has_a_row_for_every_action_it_is_given() -> None:
    named = {row[1].roles for row in TABLE if row[4]}
    assert {r for roles in named for r in roles} == set(Role)


# -- tokens ---------------------------------------------------------------------------------------


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer(tmp_path / "issuer")


@pytest.fixture
def verifier(issuer: DevIssuer) -> TokenVerifier:
    return TokenVerifier(issuer.settings())


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _claims(issuer: DevIssuer, **over: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "someone",
        "exp": now + 600,
        "roles": ["health_worker"],
        "orgunits": ["38004"],
    } | over


def test_a_valid_token_gives_its_principal(issuer: DevIssuer, verifier: TokenVerifier) -> None:
    token = issuer.token("hw-1", [Role.HEALTH_WORKER, "astronaut"], ["38004"])
    principal = verifier.verify(token)
    assert principal.subject == "hw-1"
    assert principal.roles == {Role.HEALTH_WORKER}  # unknown roles give no rights
    assert principal.orgunits == ("38004",)
    assert principal.facility is None
    bound = verifier.verify(issuer.token("fs", [Role.FACILITY_SYSTEM], facility="TYT-38004"))
    assert bound.facility == "TYT-38004"


def test_refused_tokens(issuer: DevIssuer, verifier: TokenVerifier, tmp_path: Path) -> None:
    stranger = DevIssuer(tmp_path / "stranger")
    forged = stranger.token("x", [Role.OPERATOR], ["VN"])
    # Same kid as the real issuer's key, signed with another key.
    header = json.loads(base64.urlsafe_b64decode(forged.split(".")[0] + "=="))
    resigned = jwt.encode(
        _claims(issuer), stranger._key, algorithm="ES256", headers={"kid": issuer.kid}
    )
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(issuer))}."
    signing_input = f"{_b64({'alg': 'HS256', 'kid': issuer.kid})}.{_b64(_claims(issuer))}"
    mac = hmac.new(issuer.jwks_file.read_bytes(), signing_input.encode(), hashlib.sha256)
    hmac_with_public_key = f"{signing_input}.{base64.urlsafe_b64encode(mac.digest()).decode()}"
    cases = {
        "expired": issuer.token("x", [Role.OPERATOR], lifetime_seconds=-3600),
        "wrong_audience": issuer.token("x", [Role.OPERATOR], aud="another-platform"),
        "wrong_issuer": issuer.token("x", [Role.OPERATOR], iss="https://elsewhere"),
        "not_yet_valid": issuer.token("x", [Role.OPERATOR], nbf=int(time.time()) + 3600),
        "bad_signature": resigned,
        "algorithm_not_allowed": unsigned,
        "unknown_key": forged,
        "malformed": "not-a-token",
    }
    assert header["kid"] != issuer.kid
    for reason, token in cases.items():
        with pytest.raises(TokenRejected) as refused:
            verifier.verify(token)
        assert refused.value.reason == reason, reason
    with pytest.raises(TokenRejected) as refused:
        verifier.verify(hmac_with_public_key)
    assert refused.value.reason == "algorithm_not_allowed"


def test_hs_and_none_stay_refused_even_if_configured(issuer: DevIssuer) -> None:
    settings = issuer.settings().model_copy(update={"algorithms": ["none", "HS256", "ES256"]})
    assert settings.allowed_algorithms() == ["ES256"]


def test_a_new_key_is_found_by_its_kid(tmp_path: Path) -> None:
    first = DevIssuer(tmp_path / "one")
    verifier = TokenVerifier(
        AuthSettings(issuer=first.issuer, jwks_file=first.jwks_file, jwks_min_refresh_seconds=0)
    )
    assert verifier.verify(first.token("a", [Role.MANAGER])).subject == "a"
    rotated = DevIssuer(tmp_path / "two")
    # The issuer rotates: the file now holds the new key (an unknown kid reads it again).
    first.jwks_file.write_text(rotated.jwks_file.read_text("utf-8"), "utf-8")
    assert verifier.verify(rotated.token("b", [Role.MANAGER])).subject == "b"


def test_the_dependency_answers_401_403_and_503(issuer: DevIssuer) -> None:
    app = FastAPI()
    app.state.verifier = TokenVerifier(issuer.settings())

    @app.get("/people/{unit}")
    def read(unit: str, principal: ReadsNamed) -> dict[str, str]:
        enforce(principal, Action.READ_NAMED, orgunit=unit)
        return {"name": "Nguyễn Thị A"}

    client = TestClient(app)

    def get(unit: str, token: str | None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return client.get(f"/people/{unit}", headers=headers)

    hw = issuer.token("hw", [Role.HEALTH_WORKER], ["38004"])
    assert get("38004", hw).json() == {"name": "Nguyễn Thị A"}
    missing = get("38004", None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert get("38004", "garbage").status_code == 401
    for refused in (get("38005", hw), get("38004", issuer.token("m", [Role.MANAGER], ["38004"]))):
        assert refused.status_code == 403
        assert "Nguyễn" not in refused.text
    app.state.verifier = TokenVerifier(AuthSettings(issuer=None))
    assert get("38004", hw).status_code == 503


def test_the_jwks_endpoint_is_fetched_once_and_again_for_an_unknown_kid(tmp_path: Path) -> None:
    first = DevIssuer(tmp_path / "one")
    document = [first.jwks_file.read_bytes()]
    fetches: list[str] = []

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetches.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document[0])

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/certs"
        verifier = TokenVerifier(
            # No file: the test run's own issuer is in the environment.
            AuthSettings(
                issuer=first.issuer, jwks_url=url, jwks_file=None, jwks_min_refresh_seconds=0
            )
        )
        for _ in range(3):
            assert verifier.verify(first.token("a", [Role.MANAGER])).subject == "a"
        assert fetches == ["/certs"]
        rotated = DevIssuer(tmp_path / "two")
        document[0] = rotated.jwks_file.read_bytes()
        assert verifier.verify(rotated.token("b", [Role.MANAGER])).subject == "b"
        assert len(fetches) == 2
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


SMALL_CELLS: list[tuple[str, int | None, int | None, bool]] = [
    # (case, numerator, denominator, suppressed) with the default minimum of 5
    ("nobody counted", 0, 0, False),
    ("nobody of many", 0, 120, False),
    ("one of many", 1, 120, True),
    ("four of many", 4, 120, True),
    ("five of many", 5, 120, False),
    ("many of a few", 3, 4, True),
    ("none of a few", 0, 3, True),
    ("all of five", 5, 5, False),
    ("a count of one", 1, None, True),
    ("a count of five", 5, None, False),
    ("a count of none", 0, None, False),
]


@pytest.mark.parametrize(
    ("numerator", "denominator", "suppressed"),
    [row[1:] for row in SMALL_CELLS],
    ids=[row[0] for row in SMALL_CELLS],
)
def test_the_small_cell_rule(numerator: int, denominator: int | None, suppressed: bool) -> None:
    assert suppresses(numerator, denominator, DEFAULT_MINIMUM) is suppressed


def test_the_minimum_is_a_setting_and_one_shows_everything() -> None:
    assert suppresses(9, 200, 10)
    assert not suppresses(1, 1, 1)


SEES_SMALL: list[tuple[str, Principal, str, dt.date, bool]] = [
    ("hw own commune", HW_38004, "38004", AFTER, True),
    ("hw other commune", HW_38005, "38004", AFTER, False),
    ("manager own area", MANAGER_38, "38004", AFTER, False),
    ("data manager of the province", DATA_38, "38005", AFTER, True),
    ("data manager, district's history", DATA_404, "40401", BEFORE, True),
    ("data manager, district after reform", DATA_404, "38004", AFTER, False),
    ("operator", OPERATOR, "38", AFTER, False),
    ("facility system", FACILITY, "38004", AFTER, False),
]


@pytest.mark.parametrize(
    ("principal", "orgunit", "on", "sees"),
    [row[1:] for row in SEES_SMALL],
    ids=[row[0] for row in SEES_SMALL],
)
def test_who_sees_small_cells(principal: Principal, orgunit: str, on: dt.date, sees: bool) -> None:
    assert sees_small_counts(principal, orgunit, tree=TREE, on=[on]) is sees
