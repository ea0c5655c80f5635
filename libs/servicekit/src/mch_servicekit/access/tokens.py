"""Bearer tokens (JWT) verified against the issuer's JWKS: who is asking, in which roles, for which
org units."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from .policy import ROLE_NAMES, Role
from .settings import AuthSettings


class TokenRejected(Exception):
    """The token is missing, malformed, expired, wrongly signed or not meant for this platform.

    ``reason`` is a short code for logs and the 401 body; it never repeats the token's claims."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """Who a request comes from, as the token says."""

    subject: str
    roles: frozenset[Role]
    orgunits: tuple[str, ...]
    """Roots of the org-unit subtrees the token covers."""
    facility: str | None = None
    """The facility a facility system's client-credential token is bound to."""
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class JwksCache:
    """The issuer's signing keys: from a file (read again when it changes) or a URL (kept for
    ``jwks_cache_seconds``, fetched again when a token names a ``kid`` not in it)."""

    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = float("-inf")
        self._file_stamp: float | None = None

    def key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            now = time.monotonic()
            stale = now - self._loaded_at > self._settings.jwks_cache_seconds
            changed = self._file_changed()
            unknown = self._find(kid) is None
            may_refresh = now - self._loaded_at >= self._settings.jwks_min_refresh_seconds
            if stale or changed or (unknown and may_refresh):
                self._keys = self._load()
                self._loaded_at = now
            found = self._find(kid)
        if found is None:
            raise TokenRejected("unknown_key")
        return found

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            # A token without ``kid`` is accepted only from an issuer with a single key.
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    def _file_changed(self) -> bool:
        path = self._settings.jwks_file
        if path is None:
            return False
        try:
            stamp = path.stat().st_mtime
        except OSError:
            return False
        if stamp != self._file_stamp:
            self._file_stamp = stamp
            return True
        return False

    def _load(self) -> dict[str, jwt.PyJWK]:
        settings = self._settings
        try:
            if settings.jwks_file is not None:
                document = json.loads(settings.jwks_file.read_text("utf-8"))
            elif settings.jwks_url:
                reply = httpx.get(settings.jwks_url, timeout=5.0)
                reply.raise_for_status()
                document = reply.json()
            else:
                return {}
        except (OSError, ValueError, httpx.HTTPError):
            # Keep the keys we had: an issuer briefly unreachable must not lock everyone out.
            return self._keys
        keys: dict[str, jwt.PyJWK] = {}
        for i, entry in enumerate(document.get("keys", [])):
            if entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue
            keys[str(entry.get("kid", i))] = key
        return keys


class TokenVerifier:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        self._jwks = JwksCache(settings)

    def verify(self, token: str) -> Principal:
        settings = self.settings
        if not settings.configured:
            raise TokenRejected("not_configured")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in settings.allowed_algorithms():
            raise TokenRejected("algorithm_not_allowed")
        kid = header.get("kid")
        key = self._jwks.key(kid if isinstance(kid, str) else None)
        if key.algorithm_name != alg:
            # A key is used only with the algorithm of its own type (no RSA key read as HMAC).
            raise TokenRejected("algorithm_not_allowed")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("not_yet_valid") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("wrong_audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("wrong_issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("bad_signature") from None
        except jwt.PyJWTError:
            raise TokenRejected("invalid") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        settings = self.settings
        raw_roles = claims.get(settings.roles_claim, [])
        roles = frozenset(
            Role(r) for r in (raw_roles if isinstance(raw_roles, list) else []) if r in ROLE_NAMES
        )
        raw_units = claims.get(settings.orgunits_claim, [])
        if isinstance(raw_units, str):
            raw_units = [raw_units]
        units = tuple(str(u) for u in raw_units if isinstance(u, str | int))
        facility = claims.get(settings.facility_claim)
        return Principal(
            subject=str(claims["sub"]),
            roles=roles,
            orgunits=units,
            facility=str(facility) if isinstance(facility, str) and facility else None,
            claims=claims,
        )
