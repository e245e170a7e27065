"""escalation: agency placements and collections, charge-offs, legal referrals

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)
LIVE_REFERRAL = "status IN ('pending', 'proceed')"


def upgrade() -> None:
    op.create_table('agency_placements',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('placed_on', sa.Date(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('term_end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('recalled_on', sa.Date(), nullable=True),
    sa.Column('recall_reason', sa.String(length=64), nullable=True),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.CheckConstraint("status IN ('placed', 'recalled', 'returned')", name=op.f('ck_agency_placements_status')),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_agency_placements_balance')),
    sa.CheckConstraint('rate_bp BETWEEN 0 AND 10000', name=op.f('ck_agency_placements_rate_bp')),
    sa.CheckConstraint('term_end >= placed_on', name=op.f('ck_agency_placements_term')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_agency_placements_account_id_accounts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_agency_placements_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_placements'))
    )
    with op.batch_alter_table('agency_placements') as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_placements_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_agency_placements_case_id'), ['case_id'], unique=False)
        batch_op.create_index('uq_agency_placements_live', ['case_id'], unique=True,
                              sqlite_where=sa.text("status = 'placed'"), postgresql_where=sa.text("status = 'placed'"))
    op.create_table('agency_collections',
    sa.Column('id', ID, nullable=False),
    sa.Column('placement_id', ID, nullable=False),
    sa.Column('agency', sa.String(length=32), nullable=False),
    sa.Column('collection_ref', sa.String(length=64), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('rate_bp', sa.Integer(), nullable=False),
    sa.Column('commission', sa.BigInteger(), nullable=False),
    sa.Column('source_file', sa.String(length=500), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_agency_collections_amount_positive')),
    sa.CheckConstraint('commission >= 0 AND commission <= amount', name=op.f('ck_agency_collections_commission')),
    sa.ForeignKeyConstraint(['placement_id'], ['agency_placements.id'],
                            name=op.f('fk_agency_collections_placement_id_agency_placements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agency_collections'))
    )
    with op.batch_alter_table('agency_collections') as batch_op:
        batch_op.create_index(batch_op.f('ix_agency_collections_placement_id'), ['placement_id'], unique=False)
        batch_op.create_index('ix_agency_collections_value_date', ['value_date'], unique=False)
        batch_op.create_index('uq_agency_collections_ref', ['agency', 'collection_ref'], unique=True)
    op.create_table('charge_offs',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('charged_off_on', sa.Date(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('task_id', ID, nullable=True),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('approved_by', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_charge_offs_balance')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_charge_offs_account_id_accounts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_charge_offs_case_id_cases')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_charge_offs_task_id_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_charge_offs')),
    sa.UniqueConstraint('account_id', name=op.f('uq_charge_offs_account_id'))
    )
    with op.batch_alter_table('charge_offs') as batch_op:
        batch_op.create_index(batch_op.f('ix_charge_offs_case_id'), ['case_id'], unique=False)
    op.create_table('legal_referrals',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('referred_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', TS, nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('bundle_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.CheckConstraint("status IN ('pending', 'proceed', 'returned', 'withdrawn')",
                       name=op.f('ck_legal_referrals_status')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_legal_referrals_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_referrals'))
    )
    with op.batch_alter_table('legal_referrals') as batch_op:
        batch_op.create_index(batch_op.f('ix_legal_referrals_case_id'), ['case_id'], unique=False)
        batch_op.create_index('uq_legal_referrals_live', ['case_id'], unique=True,
                              sqlite_where=sa.text(LIVE_REFERRAL), postgresql_where=sa.text(LIVE_REFERRAL))


def downgrade() -> None:
    with op.batch_alter_table('legal_referrals') as batch_op:
        batch_op.drop_index('uq_legal_referrals_live')
        batch_op.drop_index(batch_op.f('ix_legal_referrals_case_id'))
    op.drop_table('legal_referrals')
    with op.batch_alter_table('charge_offs') as batch_op:
        batch_op.drop_index(batch_op.f('ix_charge_offs_case_id'))
    op.drop_table('charge_offs')
    with op.batch_alter_table('agency_collections') as batch_op:
        batch_op.drop_index('uq_agency_collections_ref')
        batch_op.drop_index('ix_agency_collections_value_date')
        batch_op.drop_index(batch_op.f('ix_agency_collections_placement_id'))
    op.drop_table('agency_collections')
    with op.batch_alter_table('agency_placements') as batch_op:
        batch_op.drop_index('uq_agency_placements_live')
        batch_op.drop_index(batch_op.f('ix_agency_placements_case_id'))
        batch_op.drop_index(batch_op.f('ix_agency_placements_account_id'))
    op.drop_table('agency_placements')
