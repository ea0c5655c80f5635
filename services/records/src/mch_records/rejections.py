"""Rejected events kept for the facility's IT staff until a corrected version is accepted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from mch_events.contracts.results import Problem, ReasonCode

from .storage import Rejection

_IN_CHUNK = 500


def record_rejection(session: Session, payload: Any, problems: list[Problem], channel: str) -> None:
    """Keep a rejected event (``GET /v1/rejections``); ``channel`` is how it came: ``http``,
    ``kafka``, or ``held`` (it waited for a reference and then failed)."""
    obj = payload if isinstance(payload, dict) else {}
    session.add(
        Rejection(
            event_id=_text(obj.get("id"), 128),
            source=_text(obj.get("source"), 256),
            event_type=_text(obj.get("type"), 128),
            channel=channel,
            reason=problems[0].code.value if problems else ReasonCode.PROCESSING_ERROR.value,
            problems=json.dumps([p.model_dump(mode="json", exclude_none=True) for p in problems]),
            payload=_storable(payload)
            if isinstance(payload, str)
            else json.dumps(payload, default=str),
        )
    )


def resolve_rejections(session: Session, accepted_ids: Sequence[str]) -> None:
    """A rejected event re-sent (corrected, same id) and now accepted is resolved by it."""
    unique = list(dict.fromkeys(accepted_ids))
    for start in range(0, len(unique), _IN_CHUNK):
        chunk = unique[start : start + _IN_CHUNK]
        session.execute(
            update(Rejection)
            .where(col(Rejection.event_id).in_(chunk), col(Rejection.resolved_by).is_(None))
            .values(resolved_by=Rejection.event_id)
        )


def _text(value: Any, limit: int) -> str | None:
    """An attribute of a rejected event, cut to its column (it may be why it was rejected)."""
    return _storable(str(value))[:limit] if value is not None else None


def _storable(text: str) -> str:
    """PostgreSQL cannot store a NUL character: kept visible, as JSON would write it."""
    return text.replace("\x00", "\\u0000")
