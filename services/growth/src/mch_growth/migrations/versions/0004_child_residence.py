"""the child's current residence and the org-unit tree, which decide who may see its growth

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('growth_child', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('residence', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    op.create_table(
        'growth_orgunit',
        sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('version', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint('code', 'valid_from'),
    )


def downgrade() -> None:
    op.drop_table('growth_orgunit')
    with op.batch_alter_table('growth_child', schema=None) as batch_op:
        batch_op.drop_column('residence')
