"""Who read or changed which person's record, for which purpose, allowed or refused (health data is
sensitive personal data). Entries are only ever added: the table refuses updates and deletes."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from .storage import AccessLog, Residence

ANONYMOUS = "anonymous"


def log_access(
    session: Session,
    user: str | None,
    action: str,
    person_id: str,
    detail: str | None = None,
    *,
    purpose: str | None = None,
    outcome: str = "allowed",
) -> None:
    """Stage one entry in the caller's transaction, so the entry and what it records commit
    together."""
    session.add(
        AccessLog(
            user=(user or ANONYMOUS)[:128],
            action=action,
            person_id=person_id,
            detail=detail[:200] if detail else None,
            purpose=purpose,
            outcome=outcome,
        )
    )


def residence_of(session: Session, person_id: str) -> str | None:
    """Where the person lives now (the latest residence), which decides who may see the record."""
    rows = session.exec(
        select(col(Residence.effective_date), col(Residence.residence)).where(
            col(Residence.person_id) == person_id
        )
    ).all()
    if not rows:
        return None
    return str(max(rows, key=lambda r: r[0] or dt.date.min)[1])
