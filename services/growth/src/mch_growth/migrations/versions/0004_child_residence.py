"""the child's current residence and the org-unit tree, which decide who may see its growth;
the access log of who did

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from mch_servicekit.access.audit import append_only, drop_append_only

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
    _create_access_log('growth')


def downgrade() -> None:
    _drop_access_log('growth')
    op.drop_table('growth_orgunit')
    with op.batch_alter_table('growth_child', schema=None) as batch_op:
        batch_op.drop_column('residence')


def _create_access_log(service: str) -> None:
    table = f'{service}_access_log'
    op.create_table(
        table,
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('user', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('person_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f'ix_{table}_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f(f'ix_{table}_person_id'), ['person_id'], unique=False)
    for statement in append_only(table, op.get_bind().dialect.name):
        op.execute(statement)


def _drop_access_log(service: str) -> None:
    table = f'{service}_access_log'
    for statement in drop_append_only(table, op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table(table)
