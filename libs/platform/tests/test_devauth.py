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


def test_the_dashboard_link_carries_the_token_in_its_fragment_only(tmp_path: Path) -> None:
    from urllib.parse import urlsplit

    from mch_platform.local import dashboard_link

    _, tokens = write_tokens(DevIssuer(tmp_path / "issuer"), tmp_path)
    link = urlsplit(dashboard_link("http://127.0.0.1:8004", tokens["province"]))
    # A browser sends neither the fragment nor anything after '#' to the server.
    assert (link.netloc, link.path, link.query) == ("127.0.0.1:8004", "/", "")
    assert link.fragment == f"token={tokens['province']}"
