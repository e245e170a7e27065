"""strategy step: segment assignments, decision log, strategy tasks and behaviour scores

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('strategy_assignments',
    sa.Column('id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('strategy_version', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=64), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.Column('experiment', sa.String(length=64), nullable=True),
    sa.Column('arm', sa.String(length=64), nullable=True),
    sa.Column('updated_on', sa.Date(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_strategy_assignments_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_assignments')),
    sa.UniqueConstraint('account_id', name=op.f('uq_strategy_assignments_account_id'))
    )
    op.create_table('strategy_decisions',
    sa.Column('id', ID, nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=True),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('strategy_version', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=64), nullable=False),
    sa.Column('segment_since', sa.Date(), nullable=False),
    sa.Column('days_in_segment', sa.Integer(), nullable=False),
    sa.Column('experiment', sa.String(length=64), nullable=True),
    sa.Column('arm', sa.String(length=64), nullable=True),
    sa.Column('actions', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_strategy_decisions_account_id_accounts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_strategy_decisions_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_decisions'))
    )
    with op.batch_alter_table('strategy_decisions') as batch_op:
        batch_op.create_index(batch_op.f('ix_strategy_decisions_account_id'), ['account_id'], unique=False)
        batch_op.create_index('uq_strategy_decisions_date_account', ['business_date', 'account_id'], unique=True)
    op.create_table('strategy_tasks',
    sa.Column('id', ID, nullable=False),
    sa.Column('task_id', ID, nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('strategy', sa.String(length=64), nullable=False),
    sa.Column('strategy_version', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=64), nullable=False),
    sa.Column('experiment', sa.String(length=64), nullable=True),
    sa.Column('arm', sa.String(length=64), nullable=True),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('moved_to', sa.String(length=16), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_strategy_tasks_account_id_accounts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_strategy_tasks_case_id_cases')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_strategy_tasks_task_id_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_strategy_tasks')),
    sa.UniqueConstraint('task_id', name=op.f('uq_strategy_tasks_task_id'))
    )
    with op.batch_alter_table('strategy_tasks') as batch_op:
        batch_op.create_index(batch_op.f('ix_strategy_tasks_case_id'), ['case_id'], unique=False)
        batch_op.create_index('uq_strategy_tasks_rule', ['business_date', 'account_id', 'strategy',
                                                         'strategy_version', 'segment', 'step'], unique=True)
    op.create_table('behaviour_scores',
    sa.Column('id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('model_name', sa.String(length=64), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.CheckConstraint('score BETWEEN 0 AND 10000', name=op.f('ck_behaviour_scores_score')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_behaviour_scores_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_behaviour_scores'))
    )
    with op.batch_alter_table('behaviour_scores') as batch_op:
        batch_op.create_index('ix_behaviour_scores_date', ['business_date'], unique=False)
        batch_op.create_index('uq_behaviour_scores_account_date', ['account_id', 'business_date'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('behaviour_scores') as batch_op:
        batch_op.drop_index('uq_behaviour_scores_account_date')
        batch_op.drop_index('ix_behaviour_scores_date')
    op.drop_table('behaviour_scores')
    with op.batch_alter_table('strategy_tasks') as batch_op:
        batch_op.drop_index('uq_strategy_tasks_rule')
        batch_op.drop_index(batch_op.f('ix_strategy_tasks_case_id'))
    op.drop_table('strategy_tasks')
    with op.batch_alter_table('strategy_decisions') as batch_op:
        batch_op.drop_index('uq_strategy_decisions_date_account')
        batch_op.drop_index(batch_op.f('ix_strategy_decisions_account_id'))
    op.drop_table('strategy_decisions')
    op.drop_table('strategy_assignments')
