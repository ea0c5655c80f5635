"""Signed facility claims: how a facility system publishing on Kafka proves which facility it is.

Over HTTP the bearer token names the facility; a Kafka record carries no token, and the broker does
not tell consumers who produced it. So a facility system signs each event with its facility's
credential (a secret it shares with the records service alone, kept in its key file) and sends the
claim as the CloudEvents extension attribute ``facilityclaim`` (header ``ce_facilityclaim`` in
binary mode):

    facilityclaim = "v1:" + facility code + ":" + base64url(HMAC-SHA256(secret, signing input))

The signing input binds the claim to this event and its content: the format's name, the event's
``id``, ``source``, ``type`` and ``revision`` and the SHA-256 of its ``data`` in canonical JSON
(keys sorted, no whitespace, UTF-8: ``canonical``), one per line. A record whose claim is missing,
signed with another key, or whose ``source`` or ``data.facility`` is another facility than the
claim's is rejected with ``not_authorized`` and a reason (``claim_problems``).

An HMAC is used here, unlike for user tokens, because the secret is shared by two parties only
(the facility and records, which verifies), as in webhook signatures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .contracts.results import Problem, ReasonCode
from .envelope import CloudEvent

EXTENSION = "facilityclaim"
VERSION = "v1"
_FORMAT = b"mch-facility-claim/v1"

FacilityKeys = Mapping[str, Sequence[bytes]]
"""Each facility's current secrets (more than one while a key is rotated)."""


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signing_input(event: CloudEvent) -> bytes:
    digest = hashlib.sha256(canonical(event.data)).hexdigest()
    fields = (event.id, event.source, event.type, str(event.revision), digest)
    return b"\n".join([_FORMAT, *(f.encode() for f in fields)])


def _mac(secret: bytes, event: CloudEvent) -> str:
    mac = hmac.new(secret, signing_input(event), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def claim_of(event: CloudEvent, facility: str, secret: bytes) -> str:
    return f"{VERSION}:{facility}:{_mac(secret, event)}"


def sign(event: CloudEvent, facility: str, secret: bytes) -> CloudEvent:
    """The event with its ``facilityclaim`` (what a facility system publishes)."""
    attrs = event.model_dump(mode="json") | {EXTENSION: claim_of(event, facility, secret)}
    return CloudEvent.model_validate(attrs)


def _refused(field: str, message: str) -> Problem:
    return Problem(
        code=ReasonCode.NOT_AUTHORIZED, field=field, rule="facility_claim", message=message
    )


def claim_problems(event: CloudEvent, keys: FacilityKeys) -> list[Problem]:
    """Why the event's claim does not let it in (empty: it does)."""
    claim = (event.model_extra or {}).get(EXTENSION)
    if not isinstance(claim, str) or not claim:
        return [_refused(EXTENSION, "a signed facility claim is required (facilityclaim)")]
    version, _, rest = claim.partition(":")
    facility, _, mac = rest.rpartition(":")
    if version != VERSION or not facility or not mac:
        return [_refused(EXTENSION, f"a facility claim is '{VERSION}:<facility>:<signature>'")]
    secrets = keys.get(facility, ())
    if not secrets:
        return [_refused(EXTENSION, f"no credential of facility {facility} is known")]
    if not any(hmac.compare_digest(_mac(secret, event), mac) for secret in secrets):
        return [_refused(EXTENSION, f"the claim is not signed by facility {facility}'s credential")]
    problems = []
    if event.source != facility:
        problems.append(
            _refused("source", f"source {event.source} is not the claim's facility {facility}")
        )
    named = event.data.get("facility")
    if isinstance(named, str) and named != facility:
        problems.append(
            _refused(
                "data.facility", f"data.facility {named} is not the claim's facility {facility}"
            )
        )
    return problems


def load_keys(path: Path) -> dict[str, list[bytes]]:
    """A key file: ``{"TYT-38004": "secret", "BV-38": ["new secret", "old secret"]}``."""
    document = json.loads(path.read_text("utf-8"))
    if not isinstance(document, dict):
        raise ValueError(f"{path}: a JSON object of facility code to secret(s)")
    keys: dict[str, list[bytes]] = {}
    for facility, value in document.items():
        secrets = [value] if isinstance(value, str) else value
        if not isinstance(secrets, list) or not all(
            isinstance(s, str) and len(s) >= 16 for s in secrets
        ):
            raise ValueError(f"{path}: {facility}: secrets are strings of 16 characters or more")
        keys[str(facility)] = [s.encode() for s in secrets]
    return keys
