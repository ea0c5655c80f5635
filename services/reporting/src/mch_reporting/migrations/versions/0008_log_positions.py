"""how far into the log the tables go

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'reporting_log_position',
        sa.Column('topic', sqlmodel.sql.sqltypes.AutoString(length=249), nullable=False),
        sa.Column('partition', sa.Integer(), nullable=False),
        sa.Column('next_offset', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('topic', 'partition'),
    )


def downgrade() -> None:
    op.drop_table('reporting_log_position')
