"""access log: purpose and outcome of each access, refusals kept, rows append-only

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 04:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MESSAGE = 'records_access_log is append-only'


def upgrade() -> None:
    with op.batch_alter_table('records_access_log', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                'outcome',
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default='allowed',
            )
        )
    # The database itself refuses to change or delete an entry, whatever the code above it does.
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            f"""
            CREATE FUNCTION records_access_log_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{_MESSAGE}'; END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            'CREATE TRIGGER records_access_log_append_only BEFORE UPDATE OR DELETE '
            'ON records_access_log FOR EACH ROW EXECUTE FUNCTION records_access_log_append_only()'
        )
    else:
        for event in ('UPDATE', 'DELETE'):
            op.execute(
                f'CREATE TRIGGER records_access_log_no_{event.lower()} BEFORE {event} '
                f"ON records_access_log BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER records_access_log_append_only ON records_access_log')
        op.execute('DROP FUNCTION records_access_log_append_only()')
    else:
        for event in ('update', 'delete'):
            op.execute(f'DROP TRIGGER records_access_log_no_{event}')
    with op.batch_alter_table('records_access_log', schema=None) as batch_op:
        batch_op.drop_column('outcome')
        batch_op.drop_column('purpose')
