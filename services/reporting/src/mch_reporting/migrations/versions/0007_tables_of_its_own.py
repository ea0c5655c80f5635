"""outbox and processed events in tables of the service's own

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

from mch_servicekit.migrations import rename_shared_tables

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    rename_shared_tables('reporting')


def downgrade() -> None:
    # The first revision creates and drops the tables under the service's names now.
    pass
