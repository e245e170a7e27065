"""active strategies: the active version of each strategy and the file it came from

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('active_strategies',
    sa.Column('id', ID, nullable=False),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('file', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('activated_by', sa.String(length=64), nullable=False),
    sa.Column('activated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_active_strategies')),
    sa.UniqueConstraint('strategy', name=op.f('uq_active_strategies_strategy'))
    )


def downgrade() -> None:
    op.drop_table('active_strategies')
