"""HTTP edges of the rebuild (``rebuild``): start one, follow it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from mch_servicekit.access import Rebuilds
from mch_servicekit.guards import SafeJSONRoute

from .rebuild import Rebuild, RebuildStatus

router = APIRouter(route_class=SafeJSONRoute)


def rebuild_of(request: Request) -> Rebuild:
    rebuild: Rebuild = request.app.state.rebuild
    return rebuild


@router.post(
    "/v1/rebuild",
    status_code=202,
    response_model=RebuildStatus,
    tags=["operations"],
    responses={409: {"description": "a rebuild is running already"}},
)
async def start_rebuild(
    who: Rebuilds, rebuild: Annotated[Rebuild, Depends(rebuild_of)]
) -> RebuildStatus:
    """Replay the topics from their beginning into fresh tables and swap them in at once; answers
    at once with the rebuild's id and progress, which ``GET`` reports too. Answers keep coming
    from the live tables until the swap. A log that no longer holds the whole history fails the
    rebuild with the reason, and the live tables stay."""
    try:
        return rebuild.start()
    except RuntimeError as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/v1/rebuild", response_model=RebuildStatus, tags=["operations"])
async def rebuild_progress(
    who: Rebuilds, rebuild: Annotated[Rebuild, Depends(rebuild_of)]
) -> RebuildStatus:
    """The current (or last) rebuild: state, step, offsets read of those to read, events applied,
    rate, start and end, and why it failed."""
    return rebuild.status
