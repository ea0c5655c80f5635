"""deploy/compose/keycloak: the realm a Keycloak imports gives tokens the claims the services read
(the names ``AuthSettings`` expects), the platform's roles, and a facility system's client bound
to its facility; Compose runs it in the ``auth`` profile with the issuer the examples name. (No
Keycloak runs here: this checks the realm document, not a live issuer.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from mch_servicekit.access import AuthSettings, Role

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
REALM_FILE = COMPOSE_DIR / "keycloak" / "realm-mch.json"
SETTINGS = AuthSettings(issuer=None)


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(REALM_FILE.read_text("utf-8"))
    return loaded


def mappers(client: dict[str, Any], kind: str) -> list[dict[str, str]]:
    return [m["config"] for m in client["protocolMappers"] if m["protocolMapper"] == kind]


def test_the_realm_has_the_platforms_roles(realm: dict[str, Any]) -> None:
    assert {r["name"] for r in realm["roles"]["realm"]} == {r.value for r in Role}
    assert realm["defaultSignatureAlgorithm"] in SETTINGS.allowed_algorithms()


def test_every_client_puts_the_audience_and_roles_in_access_tokens(realm: dict[str, Any]) -> None:
    for client in realm["clients"]:
        (audience,) = mappers(client, "oidc-audience-mapper")
        assert audience["included.custom.audience"] == SETTINGS.audience
        (roles,) = mappers(client, "oidc-usermodel-realm-role-mapper")
        assert roles["claim.name"] == SETTINGS.roles_claim
        assert roles["multivalued"] == "true"
        for config in client["protocolMappers"]:
            assert config["config"]["access.token.claim"] == "true", client["clientId"]


def test_people_carry_their_org_units_and_facility_systems_their_facility(
    realm: dict[str, Any],
) -> None:
    clients = {c["clientId"]: c for c in realm["clients"]}
    dashboard = clients["mch-dashboard"]
    assert dashboard["publicClient"] is True
    (orgunits,) = mappers(dashboard, "oidc-usermodel-attribute-mapper")
    assert (orgunits["user.attribute"], orgunits["claim.name"]) == (
        "orgunits",
        SETTINGS.orgunits_claim,
    )
    profile = json.loads(
        realm["components"]["org.keycloak.userprofile.UserProfileProvider"][0]["config"][
            "kc.user.profile.config"
        ][0]
    )
    declared = {a["name"]: a for a in profile["attributes"]}
    assert declared["orgunits"]["multivalued"] is True
    assert declared["orgunits"]["permissions"]["edit"] == ["admin"]  # nobody widens their own area

    facility = clients["facility-tyt-38004"]
    assert facility["serviceAccountsEnabled"] is True
    assert "secret" not in facility  # Keycloak makes one at import: none is committed
    (claim,) = mappers(facility, "oidc-hardcoded-claim-mapper")
    assert (claim["claim.name"], claim["claim.value"]) == (SETTINGS.facility_claim, "TYT-38004")
    (account,) = [
        u for u in realm["users"] if u.get("serviceAccountClientId") == "facility-tyt-38004"
    ]
    assert account["realmRoles"] == [Role.FACILITY_SYSTEM.value]


def test_compose_runs_it_in_the_auth_profile_with_the_issuer_of_the_examples() -> None:
    compose = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text("utf-8"))
    keycloak = compose["services"]["keycloak"]
    assert keycloak["profiles"] == ["auth"]
    assert "--import-realm" in keycloak["command"]
    assert (
        "./keycloak/realm-mch.json:/opt/keycloak/data/import/realm-mch.json:ro"
        in keycloak["volumes"]
    )
    assert all(p.startswith("127.0.0.1:") for p in keycloak["ports"])
    example = (COMPOSE_DIR / ".env.example").read_text("utf-8")
    assert "#   AUTH_ISSUER=http://localhost:8180/realms/mch" in example
    assert keycloak["environment"]["KC_HOSTNAME"] == "http://localhost:${KEYCLOAK_HOST_PORT:-8180}"
