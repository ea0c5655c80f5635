"""Every endpoint of every service, walked with every role from inside and outside its area: what
the policy refuses is refused (401/403/404, with no personal data in the body), what it allows
succeeds, and tokens that are expired, forged, for another audience or unsigned open nothing.

The four services run in this process against the embedded broker, as the platform does: the
records a named endpoint serves arrive the way they do in production."""

from __future__ import annotations

import base64
import datetime as dt
import importlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mch_events.contracts import facility as f
from mch_events.envelope import new_event
from mch_platform.embedded_broker import EmbeddedBroker
from mch_platform.local import demo_orgunits_json
from mch_platform.services import SERVICES
from mch_platform.testing import bearer, running_platform, test_issuer, until
from mch_servicekit.access import Role, principal_of
from mch_servicekit.access.devissuer import DevIssuer

pytestmark = pytest.mark.integration

STATION, COMMUNE = "TYT-38004", "38004"
WALKED = ("records", "immunization", "growth", "reporting")
NAME = "Lê Thị Walkthrough"
CHILD_NAME = "Lê Văn Walkthrough"
TODAY = dt.date.today()
BORN = TODAY - dt.timedelta(days=300)
MOTHER_BORN = dt.date(1995, 3, 2)
ERASED_NAME = "Lê Thị Erasure"
SECRETS = (NAME, CHILD_NAME, ERASED_NAME, BORN.isoformat(), MOTHER_BORN.isoformat())
"""What a refused answer must never contain."""

TOKENS: dict[str, dict[str, Any]] = {
    "admin": {"roles": list(Role), "orgunits": ["VN"]},
    "hw_in": {"roles": [Role.HEALTH_WORKER], "orgunits": [COMMUNE]},
    "hw_out": {"roles": [Role.HEALTH_WORKER], "orgunits": ["38005"]},
    "province": {"roles": [Role.MANAGER], "orgunits": ["38"]},
    "district": {"roles": [Role.MANAGER], "orgunits": ["404"]},
    "data_in": {"roles": [Role.DATA_MANAGER], "orgunits": ["38"]},
    "data_out": {"roles": [Role.DATA_MANAGER], "orgunits": ["01"]},
    "facility_in": {"roles": [Role.FACILITY_SYSTEM], "facility": STATION},
    "facility_out": {"roles": [Role.FACILITY_SYSTEM], "facility": "TYT-38005"},
    "operator": {"roles": [Role.OPERATOR], "orgunits": ["VN"]},
}
EVERYONE = frozenset(TOKENS)
NAMED = frozenset({"admin", "hw_in", "data_in"})


def headers(name: str) -> dict[str, str]:
    spec = TOKENS[name]
    return bearer(
        spec["roles"], spec.get("orgunits", ()), facility=spec.get("facility"), subject=name
    )


def _b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def bad_tokens(tmp_path: Path) -> dict[str, str]:
    issuer = test_issuer()
    stranger = DevIssuer(tmp_path / "stranger")
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "x",
        "exp": now + 600,
        "roles": [str(r) for r in Role],
        "orgunits": ["VN"],
    }
    return {
        "expired": issuer.token("x", list(Role), ["VN"], lifetime_seconds=-3600),
        "wrong_audience": issuer.token("x", list(Role), ["VN"], aud="another-platform"),
        "forged": stranger.sign(claims, kid=issuer.kid),
        "unknown_key": stranger.sign(claims),
        "alg_none": f"{_b64({'alg': 'none', 'kid': issuer.kid})}.{_b64(claims)}.",
    }


@dataclass
class World:
    mother: uuid.UUID = field(default_factory=uuid.uuid4)
    child: uuid.UUID = field(default_factory=uuid.uuid4)
    twin: uuid.UUID = field(default_factory=uuid.uuid4)
    """Registered twice by mistake: the same name, birth date and mother as ``child``."""
    erased: uuid.UUID = field(default_factory=uuid.uuid4)
    """A mother who asks to be erased."""
    rejection: int = 0
    schedule: dict[str, Any] = field(default_factory=dict)

    def events(self, source: str = STATION) -> list[dict[str, Any]]:
        mother = f.MotherRegistered(
            mother_id=self.mother, full_name=NAME, birth_date=MOTHER_BORN, residence=COMMUNE
        )
        children = [
            f.ChildRegistered(
                child_id=c,
                sex="F",
                birth_date=BORN,
                residence=COMMUNE,
                mother_id=self.mother,
                full_name=CHILD_NAME,
            )
            for c in (self.child, self.twin)
        ]
        leaving = f.MotherRegistered(
            mother_id=self.erased,
            full_name=ERASED_NAME,
            birth_date=MOTHER_BORN,
            residence=COMMUNE,
            phone="0912345678",
        )
        visit = f.ChildVisit(
            visit_id=uuid.uuid5(self.child, "visit"),
            child_id=self.child,
            facility=STATION,
            visit_date=TODAY - dt.timedelta(days=1),
            weight_kg=8.1,
            length_height_cm=70.0,
            measured="lying",
        )
        return [
            new_event(m, source=source).model_dump(mode="json", exclude_none=True)
            | {"id": f"walk-{i}-{self.child}"}
            for i, m in enumerate([mother, *children, visit, leaving])
        ]

    def correction(self) -> dict[str, Any]:
        visit = f.ChildVisit(
            visit_id=uuid.uuid5(self.child, "second visit"),
            child_id=self.child,
            facility=STATION,
            visit_date=TODAY,
            weight_kg=8.2,
        )
        event = new_event(visit, source=STATION).model_dump(mode="json", exclude_none=True)
        return event | {"id": f"walk-correction-{self.child}"}


@dataclass(frozen=True)
class Endpoint:
    service: str
    method: str
    path: Callable[[World], str]
    allowed: AbstractSet[str]
    body: Callable[[World], Any] | None = None
    content: bytes | None = None
    settle: Callable[[httpx.AsyncClient], Awaitable[None]] | None = None
    """Awaited after each allowed call: what it started has ended before the next one."""


REBUILDERS = frozenset({"admin", "operator", "data_in", "data_out"})


async def rebuild_ended(client: httpx.AsyncClient) -> None:
    async def ended() -> bool:
        answer = await client.get("/v1/rebuild", headers=headers("admin"))
        state: str = answer.json()["state"]
        return state != "running"

    await until(ended)


def month(day: dt.date) -> str:
    return f"{day.year}-{day.month:02d}"


ENDPOINTS: list[Endpoint] = [
    # records: the gate, rejections, org units, people, the access log
    Endpoint(
        "records", "POST", lambda w: "/v1/events", {"admin", "data_in", "facility_in"}, World.events
    ),
    Endpoint(
        "records",
        "GET",
        lambda w: "/v1/rejections",
        {"admin", "data_in", "data_out", "facility_in", "facility_out"},
    ),
    Endpoint(
        "records",
        "POST",
        lambda w: f"/v1/rejections/{w.rejection}/resubmit",
        {"admin", "data_in", "facility_in"},
        World.correction,
    ),
    Endpoint("records", "GET", lambda w: "/v1/orgunits/38004", EVERYONE),
    Endpoint("records", "GET", lambda w: "/v1/orgunits/38004/ancestors", EVERYONE),
    Endpoint("records", "GET", lambda w: "/v1/orgunits/38/subtree", EVERYONE),
    Endpoint("records", "GET", lambda w: "/v1/orgunits", EVERYONE),
    Endpoint(
        "records",
        "POST",
        lambda w: "/v1/orgunits/import",
        {"admin", "operator"},
        content=demo_orgunits_json(),
    ),
    Endpoint("records", "GET", lambda w: f"/v1/mothers/{w.mother}", NAMED),
    Endpoint("records", "GET", lambda w: f"/v1/children/{w.child}", NAMED),
    Endpoint("records", "GET", lambda w: "/v1/duplicates", NAMED | {"hw_out", "data_out"}),
    Endpoint(
        "records",
        "POST",
        lambda w: f"/v1/duplicates/{w.mother}/{w.child}/dismiss",
        {"admin", "data_in"},
    ),
    Endpoint("records", "GET", lambda w: "/v1/access-log", {"admin", "operator"}),
    # a person's rights: a copy of everything (data managers), erasure (and operators)
    Endpoint("records", "GET", lambda w: f"/v1/people/{w.mother}/export", {"admin", "data_in"}),
    Endpoint(
        "records",
        "POST",
        lambda w: f"/v1/people/{w.erased}/erase",
        {"admin", "data_in", "operator"},
        lambda w: {"reason": "request of the data subject"},
    ),
    # immunization
    Endpoint("immunization", "GET", lambda w: "/v1/schedules", EVERYONE),
    Endpoint("immunization", "GET", lambda w: "/v1/schedules/vn-epi-child-2024", EVERYONE),
    Endpoint(
        "immunization",
        "POST",
        lambda w: "/v1/forecast",
        EVERYONE,
        lambda w: {
            "as_of": TODAY.isoformat(),
            "person": {"birth_date": BORN.isoformat(), "sex": "female", "residence": COMMUNE},
            "doses": [],
        },
    ),
    Endpoint(
        "immunization",
        "POST",
        lambda w: "/v1/schedules",
        {"admin", "operator"},
        lambda w: w.schedule,
    ),
    Endpoint("immunization", "GET", lambda w: f"/v1/people/{w.child}/immunizations", NAMED),
    Endpoint("immunization", "GET", lambda w: f"/v1/defaulters?orgunit={COMMUNE}", NAMED),
    Endpoint(
        "immunization", "GET", lambda w: "/v1/defaulters?orgunit=38&format=csv", NAMED - {"hw_in"}
    ),
    Endpoint("immunization", "GET", lambda w: "/v1/access-log", {"admin", "operator"}),
    # growth
    Endpoint("growth", "GET", lambda w: "/v1/access-log", {"admin", "operator"}),
    Endpoint(
        "growth",
        "POST",
        lambda w: "/v1/zscores",
        EVERYONE,
        lambda w: [
            {
                "case_id": "c1",
                "sex": 2,
                "birth_date": "2023-01-01",
                "visit_date": "2024-02-05",
                "weight_kg": 9.0,
            }
        ],
    ),
    Endpoint("growth", "GET", lambda w: f"/v1/children/{w.child}/growth", NAMED),
    Endpoint("growth", "GET", lambda w: f"/v1/children/{w.child}/chart.svg?indicator=wfa", NAMED),
    # reporting: the area's numbers; a district abolished in 2025 sees its own years
    Endpoint(
        "reporting",
        "GET",
        lambda w: f"/v1/indicators?orgunit={COMMUNE}&period={month(TODAY - dt.timedelta(days=1))}",
        {"admin", "hw_in", "province", "data_in"},
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: "/v1/indicators?orgunit=404&period=2024",
        {"admin", "province", "district", "data_in"},
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: "/v1/indicators/children?orgunit=404&period=2024",
        {"admin", "province", "district", "data_in"},
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: (
            f"/v1/indicators/series?orgunit={COMMUNE}&indicator=U5_MEASURED"
            f"&from={month(TODAY - dt.timedelta(days=40))}&to={month(TODAY - dt.timedelta(days=1))}"
        ),
        {"admin", "hw_in", "province", "data_in"},
    ),
    # reporting's exports: the same rows, under the same rules
    Endpoint(
        "reporting",
        "GET",
        lambda w: "/v1/exports/csv?orgunit=404&period=2024&children=true",
        {"admin", "province", "district", "data_in"},
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: "/v1/exports/dhis2?orgunit=404&period=2024&children=true",
        {"admin", "province", "district", "data_in"},
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: f"/v1/exports/csv?orgunit={COMMUNE}&period={month(TODAY - dt.timedelta(days=1))}",
        {"admin", "hw_in", "province", "data_in"},
    ),
    # reporting's dashboard: org units are reference data; targets go with the numbers
    Endpoint(
        "reporting",
        "GET",
        lambda w: f"/v1/orgunits?q=38&period={month(TODAY - dt.timedelta(days=1))}",
        EVERYONE,
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: f"/v1/orgunits/{COMMUNE}?period={month(TODAY - dt.timedelta(days=1))}",
        EVERYONE,
    ),
    Endpoint(
        "reporting",
        "GET",
        lambda w: "/v1/targets",
        {"admin", "hw_in", "hw_out", "province", "district", "data_in", "data_out"},
    ),
    # operations: republishing a service's state changes nothing its consumers hold
    *(
        Endpoint(service, method, lambda w: "/v1/admin/resync", {"admin", "operator"})
        for service in ("records", "immunization", "growth", "reporting")
        for method in ("POST", "GET")
    ),
    # a rebuild of reporting's tables changes none of its answers
    Endpoint(
        "reporting",
        "POST",
        lambda w: "/v1/rebuild",
        REBUILDERS,
        settle=lambda client: rebuild_ended(client),
    ),
    Endpoint("reporting", "GET", lambda w: "/v1/rebuild", REBUILDERS),
    # last: merging changes what the endpoints above serve (merging again changes nothing)
    Endpoint(
        "records",
        "POST",
        lambda w: f"/v1/persons/{w.twin}/merge-into/{w.child}",
        {"admin", "data_in"},
    ),
]


async def call(
    clients: dict[str, httpx.AsyncClient], endpoint: Endpoint, world: World, auth: dict[str, str]
) -> httpx.Response:
    client = clients[endpoint.service]
    if endpoint.content is not None:
        return await client.request(
            endpoint.method, endpoint.path(world), content=endpoint.content, headers=auth
        )
    body = endpoint.body(world) if endpoint.body else None
    answer = await client.request(endpoint.method, endpoint.path(world), json=body, headers=auth)
    if endpoint.settle is not None and answer.is_success:
        await endpoint.settle(client)
    return answer


async def prepare(clients: dict[str, httpx.AsyncClient], world: World) -> None:
    admin = headers("admin")
    imported = await clients["records"].post(
        "/v1/orgunits/import", content=demo_orgunits_json(), headers=admin
    )
    assert imported.status_code == 200, imported.text
    answer = await clients["records"].post(
        "/v1/events", json=world.events(), headers=headers("facility_in")
    )
    assert {r["status"] for r in answer.json()["results"]} == {"accepted"}, answer.text
    # A rejected event of the station, for the resubmit endpoint.
    bad = world.correction() | {"id": f"walk-bad-{world.child}", "type": "vn.mch.nothing.v1"}
    await clients["records"].post("/v1/events", json=[bad], headers=headers("facility_in"))
    listed = await clients["records"].get("/v1/rejections", headers=headers("facility_in"))
    world.rejection = next(r["id"] for r in listed.json() if r["event_id"] == bad["id"])
    shown = await clients["immunization"].get("/v1/schedules/vn-epi-child-2024", headers=admin)
    world.schedule = shown.json()

    async def served(service: str, path: str) -> bool:
        return (await clients[service].get(path, headers=admin)).status_code == 200

    async def everything_arrived() -> bool:
        counted = await clients["reporting"].get(
            "/v1/indicators",
            params={"orgunit": COMMUNE, "period": month(TODAY - dt.timedelta(days=1))},
            headers=admin,
        )
        measured = [
            v["numerator"]
            for v in counted.json().get("values", [])
            if v["indicator"] == "U5_MEASURED" and v.get("sex") is None  # the total row
        ]
        return (
            measured == [1]
            and await served("growth", f"/v1/children/{world.child}/growth")
            and await served("immunization", f"/v1/people/{world.child}/immunizations")
        )

    await until(everything_arrived)


def every_event_refused(answer: httpx.Response) -> bool:
    """A submitter that may submit, for another facility: each event rejected as not authorized."""
    if answer.status_code != 207:
        return False
    results = answer.json()["results"]
    return all([p["code"] for p in r["problems"]] == ["not_authorized"] for r in results)


async def test_every_endpoint_with_every_role(kafka_broker: EmbeddedBroker, tmp_path: Path) -> None:
    world = World()
    async with running_platform(
        WALKED,
        data_dir=tmp_path,
        bootstrap_servers=kafka_broker.bootstrap_servers,
        tokenless=True,  # every request below names its own token
    ) as clients:
        await prepare(clients, world)
        refused_tokens = bad_tokens(tmp_path)
        problems: list[str] = []
        for endpoint in ENDPOINTS:
            label = f"{endpoint.method} {endpoint.service}{endpoint.path(world)}"
            for name, token in refused_tokens.items():
                answer = await call(clients, endpoint, world, {"authorization": f"Bearer {token}"})
                if answer.status_code != 401:
                    problems.append(f"{label} with a {name} token: {answer.status_code}")
            answer = await call(clients, endpoint, world, {})
            if answer.status_code != 401:
                problems.append(f"{label} without a token: {answer.status_code}")
            for name in sorted(TOKENS):
                answer = await call(clients, endpoint, world, headers(name))
                if name in endpoint.allowed:
                    if not answer.is_success:
                        problems.append(
                            f"{label} as {name}: {answer.status_code} {answer.text[:200]}"
                        )
                    continue
                if answer.status_code not in (401, 403, 404) and not every_event_refused(answer):
                    problems.append(f"{label} as {name} not refused: {answer.status_code}")
                leaked = [s for s in SECRETS if s in answer.text]
                if leaked:
                    problems.append(f"{label} as {name} refused but shows {leaked}")
        assert problems == []

        # Lists are filtered to the area: the other commune's worker sees no names.
        for name in ("hw_out", "data_out"):
            listed = await clients["records"].get("/v1/duplicates", headers=headers(name))
            assert not any(s in listed.text for s in SECRETS)
        # Another station's system may submit, but only its own events: these are rejected.
        foreign = await clients["records"].post(
            "/v1/events", json=world.events(), headers=headers("facility_out")
        )
        assert foreign.status_code == 207
        assert {p["code"] for r in foreign.json()["results"] for p in r["problems"]} == {
            "not_authorized"
        }
        mine = await clients["records"].get("/v1/rejections", headers=headers("facility_out"))
        assert all(r["source"] == "TYT-38005" for r in mine.json())
        # Every read of a named record, allowed or refused, is in the log with the token's subject.
        log = (await clients["records"].get("/v1/access-log", headers=headers("operator"))).json()
        outcomes = {(e["action"], e["outcome"]) for e in log if e["person_id"] == str(world.child)}
        assert {("read_handbook", "allowed"), ("read_handbook", "refused")} <= outcomes
        assert ("hw_out", "refused") in {(e["user"], e["outcome"]) for e in log}
        assert ("hw_in", "allowed") in {(e["user"], e["outcome"]) for e in log}
        for service, action in ("immunization", "read_immunizations"), ("growth", "read_growth"):
            log = (
                await clients[service].get(
                    "/v1/access-log",
                    params={"person_id": str(world.child)},
                    headers=headers("operator"),
                )
            ).json()
            seen = {(e["user"], e["action"], e["outcome"]) for e in log}
            assert {("hw_in", action, "allowed"), ("hw_out", action, "refused")} <= seen, service
        listed = (
            await clients["immunization"].get(
                "/v1/access-log", params={"user": "hw_out"}, headers=headers("operator")
            )
        ).json()
        assert ("list_defaulters", COMMUNE, "refused") in {
            (e["action"], e["person_id"], e["outcome"]) for e in listed
        }


OPEN = {
    "/",
    "/healthz",
    "/readyz",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/index",
    "/dashboard",
    "/lists/defaulters",
}
"""What answers without a token: health, readiness, the index, the API documents, the
dashboard's page and the page that opens the printable defaulter list (which hold no data: they
ask the API with the user's token)."""


def _needs_token(dependant: Dependant) -> bool:
    return any(d.call is principal_of or _needs_token(d) for d in dependant.dependencies)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_route_wants_a_token_and_is_walked(service: str, tmp_path: Path) -> None:
    """A route added without an access dependency would answer anyone: refuse it here, and
    keep the walk above complete."""
    from mch_events.broker import KafkaSettings

    spec = SERVICES[service]
    module = importlib.import_module(f"{spec.package}.settings")
    settings_cls = next(
        v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings"
    )
    app = spec.app_factory()(
        settings=settings_cls(database_url=f"sqlite:///{tmp_path}/{service}.db"),
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9"),
    )
    walked = [(e.method, e.path(World()).split("?")[0]) for e in ENDPOINTS if e.service == service]
    try:
        for route in app.routes:
            if not isinstance(route, APIRoute) or route.path in OPEN:
                continue
            assert _needs_token(route.dependant), f"{route.path} answers without a token"
            for method in route.methods or ():
                assert any(m == method and route.path_regex.match(p) for m, p in walked), (
                    f"{method} {service}{route.path} is not walked"
                )
    finally:
        app.state.ctx.engine.dispose()
