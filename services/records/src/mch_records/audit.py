"""Who read or changed which person's record (health data is sensitive personal data)."""

from __future__ import annotations

from sqlmodel import Session

from .storage import AccessLog

ANONYMOUS = "anonymous"


def log_access(
    session: Session, user: str | None, action: str, person_id: str, detail: str | None = None
) -> None:
    """Stage one entry in the caller's transaction, so the entry and what it records commit
    together."""
    session.add(
        AccessLog(
            user=(user or ANONYMOUS)[:128],
            action=action,
            person_id=person_id,
            detail=detail[:200] if detail else None,
        )
    )
