"""A development OIDC issuer on disk: a key pair in a directory, its JWKS beside it, and tokens it
signs. ``mch up`` runs the platform with it (auth stays on), and the tests use one of their own."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from .policy import Role
from .settings import AuthSettings

DEV_ISSUER = "urn:mch-platform:development-issuer"
DEV_AUDIENCE = "mch-platform"
KEY_FILE = "issuer-key.pem"
JWKS_FILE = "jwks.json"


class DevIssuer:
    """Keeps its key in ``directory`` (created on first use, reused after)."""

    def __init__(
        self, directory: Path, *, issuer: str = DEV_ISSUER, audience: str = DEV_AUDIENCE
    ) -> None:
        self.directory = directory
        self.issuer = issuer
        self.audience = audience
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / KEY_FILE
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not an EC private key")
            self._key = loaded
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())
            key_path.touch(mode=0o600)
            key_path.write_bytes(
                self._key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        self.kid = jwt.PyJWK(jwk | {"alg": "ES256"}).key_id or _thumb(jwk)
        jwk |= {"kid": self.kid, "use": "sig", "alg": "ES256"}
        (directory / JWKS_FILE).write_text(json.dumps({"keys": [jwk]}, indent=1), "utf-8")

    @property
    def jwks_file(self) -> Path:
        return self.directory / JWKS_FILE

    def settings(self) -> AuthSettings:
        """What the services verify this issuer's tokens with."""
        return AuthSettings(issuer=self.issuer, jwks_file=self.jwks_file, audience=self.audience)

    def environment(self) -> dict[str, str]:
        """The same, as the environment variables a service process reads."""
        return {
            "AUTH_ISSUER": self.issuer,
            "AUTH_JWKS_FILE": str(self.jwks_file),
            "AUTH_AUDIENCE": self.audience,
        }

    def token(
        self,
        subject: str,
        roles: Iterable[Role | str],
        orgunits: Iterable[str] = (),
        *,
        facility: str | None = None,
        lifetime_seconds: int = 8 * 3600,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "jti": uuid.uuid4().hex,
            "roles": [str(r) for r in roles],
            "orgunits": list(orgunits),
        }
        if facility is not None:
            payload["facility"] = facility
        return self.sign(payload | claims)

    def sign(self, payload: dict[str, Any], *, kid: str | None = None) -> str:
        """Any payload signed with this issuer's key (``kid`` names the key, by default its own:
        tests forge tokens that name another issuer's key)."""
        return jwt.encode(payload, self._key, algorithm="ES256", headers={"kid": kid or self.kid})


def _thumb(jwk: dict[str, Any]) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(jwk, sort_keys=True)).hex


DEVELOPMENT_TOKENS: dict[str, dict[str, Any]] = {
    "admin": {"roles": list(Role), "orgunits": ["VN"]},
    "province": {"roles": [Role.MANAGER], "orgunits": ["38"]},
    "district": {"roles": [Role.MANAGER], "orgunits": ["404"]},
    "commune": {"roles": [Role.HEALTH_WORKER], "orgunits": ["38004"]},
    "commune_other": {"roles": [Role.HEALTH_WORKER], "orgunits": ["38005"]},
    "facility": {"roles": [Role.FACILITY_SYSTEM], "orgunits": [], "facility": "TYT-38004"},
}
"""The tokens ``mch up`` writes to ``<data dir>/tokens.json`` (subject = the name)."""


def development_tokens(issuer: DevIssuer, lifetime_seconds: int = 7 * 24 * 3600) -> dict[str, str]:
    return {
        name: issuer.token(
            f"dev-{name}",
            spec["roles"],
            spec["orgunits"],
            facility=spec.get("facility"),
            lifetime_seconds=lifetime_seconds,
        )
        for name, spec in DEVELOPMENT_TOKENS.items()
    }
