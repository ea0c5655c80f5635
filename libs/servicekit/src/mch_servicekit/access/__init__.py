"""Access control of every service: bearer tokens verified against the issuer's JWKS, and one policy
(role × org-unit area × action). See ``policy`` for the table."""

from .deps import (
    ChangesNamed,
    ErasesNamed,
    ExportsNamed,
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
from .disclosure import DEFAULT_MINIMUM, is_small, sees_small_counts, suppresses
from .policy import Action, Decision, Role, covers, decide, may
from .settings import AuthSettings
from .tokens import Principal, TokenRejected, TokenVerifier

__all__ = [
    "DEFAULT_MINIMUM",
    "Action",
    "AuthSettings",
    "ChangesNamed",
    "Decision",
    "ErasesNamed",
    "ExportsNamed",
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
    "is_small",
    "may",
    "principal_of",
    "refuse",
    "require",
    "sees_small_counts",
    "suppresses",
]
