"""Auth on one machine: ``mch up`` keeps it on with a development issuer whose key pair lives in the
data dir, and writes tokens for trying the platform to ``<data dir>/tokens.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mch_servicekit.access.devissuer import DevIssuer, development_tokens

TOKENS_FILE = "tokens.json"


def development_issuer(data_dir: Path) -> DevIssuer | None:
    """The data dir's issuer; None when ``AUTH_ISSUER`` names a real one (its tokens are then
    the only ones accepted, and none can be written here)."""
    if os.environ.get("AUTH_ISSUER"):
        return None
    return DevIssuer(data_dir / "issuer")


def write_tokens(issuer: DevIssuer, data_dir: Path) -> tuple[Path, dict[str, str]]:
    """Tokens of the demo roles (see ``DEVELOPMENT_TOKENS``), valid for a week, readable by the
    owner only."""
    tokens = development_tokens(issuer)
    path = data_dir / TOKENS_FILE
    path.touch(mode=0o600)
    path.write_text(json.dumps(tokens, indent=1) + "\n", "utf-8")
    return path, tokens


def admin_token(data_dir: Path) -> str | None:
    """The admin token ``mch up`` wrote to ``<data dir>/tokens.json``, if it did."""
    try:
        tokens = json.loads((data_dir / TOKENS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    token = tokens.get("admin") if isinstance(tokens, dict) else None
    return token if isinstance(token, str) else None
