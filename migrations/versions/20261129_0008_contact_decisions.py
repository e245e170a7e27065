"""contact decisions: the compliance gate's log (every block and every override)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('contact_decisions',
    sa.Column('id', ID, nullable=False),
    sa.Column('at', TS, nullable=False),
    sa.Column('case_id', ID, nullable=True),
    sa.Column('account_id', ID, nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('party', sa.String(length=24), nullable=False),
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('pack', sa.String(length=32), nullable=False),
    sa.Column('pack_version', sa.String(length=32), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.Column('blocks', sa.JSON(), nullable=False),
    sa.Column('next_allowed_at', TS, nullable=True),
    sa.Column('overrides', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.CheckConstraint("source IN ('api', 'worker', 'plan', 'interaction')",
                       name=op.f('ck_contact_decisions_source')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_contact_decisions_account_id_accounts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_contact_decisions_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_decisions'))
    )
    with op.batch_alter_table('contact_decisions') as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_decisions_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_contact_decisions_allowed_id', ['allowed', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('contact_decisions') as batch_op:
        batch_op.drop_index('ix_contact_decisions_allowed_id')
        batch_op.drop_index(batch_op.f('ix_contact_decisions_case_id'))
    op.drop_table('contact_decisions')
