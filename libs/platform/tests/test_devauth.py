"""The development tokens ``mch up`` writes, and what ``mch resync`` reads back from them."""

from __future__ import annotations

from pathlib import Path

import jwt

from mch_platform.devauth import admin_token, write_tokens
from mch_servicekit.access.devissuer import DevIssuer


def test_the_admin_token_written_is_the_one_read_back(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "issuer")
    path, tokens = write_tokens(issuer, tmp_path)
    assert path.stat().st_mode & 0o077 == 0
    token = admin_token(tmp_path)
    assert token == tokens["admin"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert "operator" in claims["roles"]


def test_no_tokens_file_no_token(tmp_path: Path) -> None:
    assert admin_token(tmp_path) is None
    (tmp_path / "tokens.json").write_text("not json")
    assert admin_token(tmp_path) is None
