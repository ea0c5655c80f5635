"""Access control of every service: bearer tokens verified against the issuer's JWKS, and one policy
(role × org-unit area × action). See ``policy`` for the table."""

from .deps import (
    ChangesNamed,
    ManagesReference,
    Operates,
    ReadsAggregates,
    ReadsAudit,
    ReadsNamed,
    ReadsReference,
    ReadsRejections,
    Rebuilds,
    SubmitsEvents,
    enforce,
    principal_of,
    refuse,
    require,
)
from .policy import Action, Decision, Role, covers, decide, may
from .settings import AuthSettings
from .tokens import Principal, TokenRejected, TokenVerifier

__all__ = [
    "Action",
    "AuthSettings",
    "ChangesNamed",
    "Decision",
    "ManagesReference",
    "Operates",
    "Principal",
    "ReadsAggregates",
    "ReadsAudit",
    "ReadsNamed",
    "ReadsReference",
    "ReadsRejections",
    "Rebuilds",
    "Role",
    "SubmitsEvents",
    "TokenRejected",
    "TokenVerifier",
    "covers",
    "decide",
    "enforce",
    "may",
    "principal_of",
    "refuse",
    "require",
]
