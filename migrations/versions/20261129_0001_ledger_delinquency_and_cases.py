"""ledger, delinquency and cases

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-29 05:23:01.618122
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cycle_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('ingest_watermark', sa.BigInteger(), nullable=False),
    sa.Column('accounts_assessed', sa.Integer(), nullable=False),
    sa.Column('delinquent_accounts', sa.Integer(), nullable=False),
    sa.Column('restated_from', sa.Date(), nullable=True),
    sa.Column('restated_accounts', sa.Integer(), nullable=False),
    sa.Column('snapshots_written', sa.Integer(), nullable=False),
    sa.Column('bucket_changes', sa.Integer(), nullable=False),
    sa.Column('cases_opened', sa.Integer(), nullable=False),
    sa.Column('cases_closed', sa.Integer(), nullable=False),
    sa.Column('started_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycle_runs'))
    )
    with op.batch_alter_table('cycle_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cycle_runs_business_date'), ['business_date'], unique=False)

    op.create_table('ingest_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('file_name', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_loaded', sa.Integer(), nullable=False),
    sa.Column('rows_unchanged', sa.Integer(), nullable=False),
    sa.Column('rows_conflicting', sa.Integer(), nullable=False),
    sa.Column('rows_quarantined', sa.Integer(), nullable=False),
    sa.Column('started_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_runs'))
    )
    with op.batch_alter_table('ingest_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_runs_sha256'), ['sha256'], unique=False)

    op.create_table('customers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('customer_ref', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('national_id', sa.String(length=18), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_customers_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('customer_ref', name=op.f('uq_customers_customer_ref'))
    )
    op.create_table('ingest_issues',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('natural_key', sa.String(length=200), nullable=True),
    sa.Column('raw', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_ingest_issues_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ingest_issues'))
    )
    with op.batch_alter_table('ingest_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ingest_issues_ingest_run_id'), ['ingest_run_id'], unique=False)

    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_ref', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('credit_limit', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('statement_day', sa.Integer(), nullable=False),
    sa.Column('due_day', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'frozen', 'closed', 'charged_off')", name=op.f('ck_accounts_status')),
    sa.CheckConstraint('credit_limit >= 0', name=op.f('ck_accounts_credit_limit')),
    sa.CheckConstraint('due_day BETWEEN 1 AND 28', name=op.f('ck_accounts_due_day')),
    sa.CheckConstraint('statement_day BETWEEN 1 AND 28', name=op.f('ck_accounts_statement_day')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_accounts_customer_id_customers')),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_accounts_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('account_ref', name=op.f('uq_accounts_account_ref'))
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accounts_customer_id'), ['customer_id'], unique=False)

    op.create_table('contact_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_ref', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.Column('owner', sa.String(length=16), nullable=False),
    sa.Column('relation', sa.String(length=64), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('phone', 'address', 'email')", name=op.f('ck_contact_points_kind')),
    sa.CheckConstraint("owner IN ('debtor', 'emergency', 'other')", name=op.f('ck_contact_points_owner')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_contact_points_customer_id_customers')),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_contact_points_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_points')),
    sa.UniqueConstraint('contact_ref', name=op.f('uq_contact_points_contact_ref'))
    )
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contact_points_customer_id'), ['customer_id'], unique=False)

    op.create_table('bucket_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('from_bucket', sa.String(length=16), nullable=False),
    sa.Column('to_bucket', sa.String(length=16), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('cycle_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('superseded_by_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_bucket_changes_account_id_accounts')),
    sa.ForeignKeyConstraint(['cycle_run_id'], ['cycle_runs.id'], name=op.f('fk_bucket_changes_cycle_run_id_cycle_runs')),
    sa.ForeignKeyConstraint(['superseded_by_run_id'], ['cycle_runs.id'], name=op.f('fk_bucket_changes_superseded_by_run_id_cycle_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bucket_changes'))
    )
    with op.batch_alter_table('bucket_changes', schema=None) as batch_op:
        batch_op.create_index('ix_bucket_changes_date', ['business_date'], unique=False)
        batch_op.create_index('uq_bucket_changes_current', ['account_id', 'business_date'], unique=True, sqlite_where=sa.text('superseded_by_run_id IS NULL'), postgresql_where=sa.text('superseded_by_run_id IS NULL'))

    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('close_reason', sa.String(length=32), nullable=True),
    sa.Column('open_bucket', sa.String(length=16), nullable=False),
    sa.Column('bucket', sa.String(length=16), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('opened_by_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('closed_by_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('open', 'closed')", name=op.f('ck_cases_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_cases_account_id_accounts')),
    sa.ForeignKeyConstraint(['closed_by_run_id'], ['cycle_runs.id'], name=op.f('fk_cases_closed_by_run_id_cycle_runs')),
    sa.ForeignKeyConstraint(['opened_by_run_id'], ['cycle_runs.id'], name=op.f('fk_cases_opened_by_run_id_cycle_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_account_id'), ['account_id'], unique=False)
        batch_op.create_index('uq_cases_open_account', ['account_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('delinquency_snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('dpd', sa.Integer(), nullable=False),
    sa.Column('delinquent', sa.Boolean(), nullable=False),
    sa.Column('bucket', sa.String(length=16), nullable=False),
    sa.Column('cycles_delinquent', sa.Integer(), nullable=False),
    sa.Column('amount_past_due', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c1', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c2', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c3', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c4', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c5', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c6', sa.BigInteger(), nullable=False),
    sa.Column('past_due_c7p', sa.BigInteger(), nullable=False),
    sa.Column('charge_off', sa.Boolean(), nullable=False),
    sa.Column('oldest_unpaid_due_date', sa.Date(), nullable=True),
    sa.Column('cycle_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('superseded_by_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_delinquency_snapshots_account_id_accounts')),
    sa.ForeignKeyConstraint(['cycle_run_id'], ['cycle_runs.id'], name=op.f('fk_delinquency_snapshots_cycle_run_id_cycle_runs')),
    sa.ForeignKeyConstraint(['superseded_by_run_id'], ['cycle_runs.id'], name=op.f('fk_delinquency_snapshots_superseded_by_run_id_cycle_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delinquency_snapshots'))
    )
    with op.batch_alter_table('delinquency_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_delinquency_snapshots_date', ['business_date'], unique=False)
        batch_op.create_index('uq_delinquency_snapshots_current', ['account_id', 'business_date'], unique=True, sqlite_where=sa.text('superseded_by_run_id IS NULL'), postgresql_where=sa.text('superseded_by_run_id IS NULL'))

    op.create_table('holds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hold_ref', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('pauses_ageing', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('dispute', 'complaint', 'hardship', 'bankruptcy', 'deceased', 'fraud', 'legal')", name=op.f('ck_holds_kind')),
    sa.CheckConstraint('end_date IS NULL OR end_date >= start_date', name=op.f('ck_holds_dates')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_holds_account_id_accounts')),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_holds_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds')),
    sa.UniqueConstraint('hold_ref', name=op.f('uq_holds_hold_ref'))
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holds_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_holds_ingest_run_id'), ['ingest_run_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payment_ref', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('value_date', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("channel IN ('bank_transfer', 'auto_debit', 'counter', 'mobile_app', 'wechat', 'alipay', 'other')", name=op.f('ck_payments_channel')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payments_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_payments_account_id_accounts')),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_payments_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('payment_ref', name=op.f('uq_payments_payment_ref'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_account_value_date', ['account_id', 'value_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_payments_ingest_run_id'), ['ingest_run_id'], unique=False)

    op.create_table('statements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('statement_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('new_balance', sa.BigInteger(), nullable=False),
    sa.Column('minimum_due', sa.BigInteger(), nullable=False),
    sa.Column('past_due_included', sa.BigInteger(), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', arrears.kit.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('due_date > statement_date', name=op.f('ck_statements_due_after_statement')),
    sa.CheckConstraint('minimum_due >= 0', name=op.f('ck_statements_minimum_due')),
    sa.CheckConstraint('past_due_included >= 0 AND past_due_included <= minimum_due', name=op.f('ck_statements_past_due_included')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_statements_account_id_accounts')),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], name=op.f('fk_statements_ingest_run_id_ingest_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_statements'))
    )
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_statements_ingest_run_id'), ['ingest_run_id'], unique=False)
        batch_op.create_index('uq_statements_account_date', ['account_id', 'statement_date'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_index('uq_statements_account_date')
        batch_op.drop_index(batch_op.f('ix_statements_ingest_run_id'))

    op.drop_table('statements')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_ingest_run_id'))
        batch_op.drop_index('ix_payments_account_value_date')

    op.drop_table('payments')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holds_ingest_run_id'))
        batch_op.drop_index(batch_op.f('ix_holds_account_id'))

    op.drop_table('holds')
    with op.batch_alter_table('delinquency_snapshots', schema=None) as batch_op:
        batch_op.drop_index('uq_delinquency_snapshots_current', sqlite_where=sa.text('superseded_by_run_id IS NULL'), postgresql_where=sa.text('superseded_by_run_id IS NULL'))
        batch_op.drop_index('ix_delinquency_snapshots_date')

    op.drop_table('delinquency_snapshots')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('uq_cases_open_account', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index(batch_op.f('ix_cases_account_id'))

    op.drop_table('cases')
    with op.batch_alter_table('bucket_changes', schema=None) as batch_op:
        batch_op.drop_index('uq_bucket_changes_current', sqlite_where=sa.text('superseded_by_run_id IS NULL'), postgresql_where=sa.text('superseded_by_run_id IS NULL'))
        batch_op.drop_index('ix_bucket_changes_date')

    op.drop_table('bucket_changes')
    with op.batch_alter_table('contact_points', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contact_points_customer_id'))

    op.drop_table('contact_points')
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accounts_customer_id'))

    op.drop_table('accounts')
    with op.batch_alter_table('ingest_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_issues_ingest_run_id'))

    op.drop_table('ingest_issues')
    op.drop_table('customers')
    with op.batch_alter_table('ingest_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ingest_runs_sha256'))

    op.drop_table('ingest_runs')
    with op.batch_alter_table('cycle_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cycle_runs_business_date'))

    op.drop_table('cycle_runs')
