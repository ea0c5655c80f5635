"""sex of each child and measurement; when each row was applied and the growth rules behind it

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _applied_at() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("applied_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("reporting_child") as batch:
        batch.add_column(sa.Column("sex", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True))
        batch.add_column(_applied_at())
    with op.batch_alter_table("reporting_growth") as batch:
        batch.add_column(sa.Column("sex", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True))
        batch.add_column(
            sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch.add_column(
            sa.Column("engine_version", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch.add_column(_applied_at())
    with op.batch_alter_table("reporting_care") as batch:
        batch.add_column(_applied_at())


def downgrade() -> None:
    with op.batch_alter_table("reporting_care") as batch:
        batch.drop_column("applied_at")
    with op.batch_alter_table("reporting_growth") as batch:
        for name in ("applied_at", "engine_version", "reference", "sex"):
            batch.drop_column(name)
    with op.batch_alter_table("reporting_child") as batch:
        for name in ("applied_at", "sex"):
            batch.drop_column(name)
