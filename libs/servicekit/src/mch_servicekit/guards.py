"""What keeps bad input from becoming a server error: JSON bodies parsed within ``safejson``'s limits,
and a last-resort handler that answers an unexpected error with a JSON 500 and keeps the
connection usable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mch_events import safejson
from mch_events.contracts.results import ReasonCode

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Any JSON body; an endpoint that reads its body itself may set a tighter limit."""

INTERNAL_ERROR = "internal_error"


def rejected_json(exc: safejson.JSONRejected) -> HTTPException:
    """The client error for a body ``safejson`` refused: 413 when too large, 422 for NaN or
    Infinity (well-formed, but not numbers), else 400; the reason code is in ``detail``."""
    status = {ReasonCode.PAYLOAD_TOO_LARGE: 413, ReasonCode.INVALID_NUMBER: 422}.get(exc.code, 400)
    return HTTPException(status, {"reason": exc.code.value, "message": str(exc)})


def parse_json_body(body: bytes, *, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """A request body as JSON, or the ``HTTPException`` that says why not."""
    try:
        return safejson.loads(body, max_bytes=max_bytes)
    except safejson.JSONRejected as exc:
        raise rejected_json(exc) from None


class SafeJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


class SafeJSONRoute(APIRoute):
    """A route whose JSON body goes through ``safejson`` before FastAPI validates it. Every route
    of a service needs it (``create_service`` checks): ``APIRouter(route_class=SafeJSONRoute)``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe_handler(request: Request) -> Response:
            return await handler(SafeJSONRequest(request.scope, request.receive))

        return safe_handler


def check_routes(app: FastAPI) -> None:
    """Refuse to build a service with a JSON-reading route that bypasses the limits."""
    unsafe = [
        f"{sorted(r.methods or ())} {r.path}"
        for r in _all_routes(app.routes)
        if isinstance(r, APIRoute) and r.body_field is not None and not isinstance(r, SafeJSONRoute)
    ]
    if unsafe:
        raise TypeError(
            f"routes read JSON without limits: {unsafe}; use APIRouter(route_class=SafeJSONRoute)"
        )


def _all_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        yield route
        # FastAPI keeps an included router whole, behind a route of its own.
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _all_routes(included.routes)


class CatchAll:
    """Answers an unexpected error with a JSON 500.

    Without it the error reaches Starlette's outermost handler, which sends its 500 and then
    re-raises for the server to log; uvicorn then closes the connection, so a client's next
    request on the same keep-alive connection is reset. Here the error is logged and answered, and
    the connection stays usable.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                # Half a response is out: only closing the connection tells the client.
                raise
            response = JSONResponse(
                {"detail": {"reason": INTERNAL_ERROR, "message": "internal server error"}},
                status_code=500,
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Make every route added to ``app`` itself parse JSON safely, and catch what escapes."""
    app.router.route_class = SafeJSONRoute
    app.add_middleware(CatchAll)
