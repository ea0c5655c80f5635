"""FastAPI dependencies: a route names the action it serves; the token is verified once per request
and the principal handed to the route, which decides the area with ``enforce``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mch_events.orgtree import OrgTree

from .policy import Action, Decision, decide, may
from .settings import AuthSettings
from .tokens import Principal, TokenRejected, TokenVerifier

_bearer = HTTPBearer(
    auto_error=False,
    description="An access token of the platform's OIDC issuer (``mch up`` writes development "
    "tokens to ``data/tokens.json``).",
)


def verifier_of(request: Request) -> TokenVerifier:
    """The app's verifier; an app not built by ``create_service`` gets one from the environment."""
    verifier: TokenVerifier | None = getattr(request.app.state, "verifier", None)
    if verifier is None:
        verifier = request.app.state.verifier = TokenVerifier(AuthSettings())
    return verifier


def principal_of(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified token's principal; 401 without a valid bearer token."""
    verifier = verifier_of(request)
    if not verifier.settings.configured:
        raise HTTPException(503, "authentication is not configured (AUTH_ISSUER, AUTH_JWKS_*)")
    if credentials is None:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    try:
        principal = verifier.verify(credentials.credentials)
    except TokenRejected as exc:
        raise HTTPException(
            401,
            f"token refused: {exc.reason}",
            headers={"WWW-Authenticate": f'Bearer error="invalid_token", reason="{exc.reason}"'},
        ) from None
    request.state.principal = principal
    return principal


def require(action: Action) -> Callable[[Principal], Principal]:
    """A dependency: the principal, when one of its roles may do ``action`` somewhere (403 if not).
    Area-bound actions are then decided by the route with ``enforce`` or ``covers``."""

    def dependency(principal: Annotated[Principal, Depends(principal_of)]) -> Principal:
        if not may(principal, action):
            raise HTTPException(403, f"forbidden: no role of the token may {action.value}")
        return principal

    dependency.__name__ = f"require_{action.value}"
    return dependency


def refuse(decision: Decision) -> HTTPException:
    return HTTPException(403, f"forbidden: {decision.reason}")


def enforce(
    principal: Principal,
    action: Action,
    *,
    orgunit: str | None = None,
    facility: str | None = None,
    tree: OrgTree | None = None,
    on: dt.date | None = None,
) -> None:
    """Raise 403 unless the policy allows ``action`` about that org unit or facility."""
    decision = decide(principal, action, orgunit=orgunit, facility=facility, tree=tree, on=on)
    if not decision.allowed:
        raise refuse(decision)


# What routes declare: ``who: ReadsNamed``.
ReadsReference = Annotated[Principal, Depends(require(Action.READ_REFERENCE))]
ReadsAggregates = Annotated[Principal, Depends(require(Action.READ_AGGREGATES))]
ReadsNamed = Annotated[Principal, Depends(require(Action.READ_NAMED))]
ChangesNamed = Annotated[Principal, Depends(require(Action.CHANGE_NAMED))]
ExportsNamed = Annotated[Principal, Depends(require(Action.EXPORT_NAMED))]
ErasesNamed = Annotated[Principal, Depends(require(Action.ERASE_NAMED))]
SubmitsEvents = Annotated[Principal, Depends(require(Action.SUBMIT_EVENTS))]
ReadsRejections = Annotated[Principal, Depends(require(Action.READ_REJECTIONS))]
ManagesReference = Annotated[Principal, Depends(require(Action.MANAGE_REFERENCE))]
ReadsAudit = Annotated[Principal, Depends(require(Action.READ_AUDIT))]
Operates = Annotated[Principal, Depends(require(Action.OPERATE))]
Rebuilds = Annotated[Principal, Depends(require(Action.REBUILD))]
