"""Where tokens come from and what they must say (environment variables ``AUTH_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REFUSED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})
"""Never accepted, whatever the configuration says: ``none`` is no signature, and an HMAC secret
would have to be shared with every service that verifies."""


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    issuer: str | None = None
    """The OIDC issuer (``iss``) tokens must name. Unset: every protected endpoint answers 503."""
    jwks_url: str | None = None
    """The issuer's JWKS endpoint (cached; fetched again when a token names an unknown ``kid``)."""
    jwks_file: Path | None = None
    """A JWKS document on disk instead of ``jwks_url`` (read again when it changes)."""
    audience: str = "mch-platform"
    algorithms: list[str] = ["RS256", "ES256"]
    leeway_seconds: int = 30
    """Clock skew tolerated on ``exp``, ``nbf`` and ``iat``."""
    jwks_cache_seconds: float = 300.0
    jwks_min_refresh_seconds: float = 10.0
    """An unknown ``kid`` fetches the JWKS again at most this often (a flood of forged kids must
    not become a flood of requests to the issuer)."""
    roles_claim: str = "roles"
    orgunits_claim: str = "orgunits"
    facility_claim: str = "facility"

    @property
    def configured(self) -> bool:
        # Compose passes unset variables as empty strings.
        return bool(self.issuer) and (bool(self.jwks_url) or self.jwks_file is not None)

    def allowed_algorithms(self) -> list[str]:
        return [a for a in self.algorithms if a not in REFUSED_ALGORITHMS]
