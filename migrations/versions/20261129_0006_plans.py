"""repayment plans: agreements (frozen once confirmed), instalments, re-ages; the outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)

#: Columns of a confirmed agreement that never change (arrears.plans.tables.FROZEN_COLUMNS, copied
#: here so that this migration keeps meaning what it meant when it was written).
FROZEN = (
    "case_id", "account_id", "version", "supersedes_id", "product_code", "kind", "start_date", "principal",
    "fees", "interest", "waived", "total", "annual_rate", "months", "days", "discount_percent",
    "largest_instalment", "reason", "investigation_id", "created_by", "approved_by", "approved_at",
    "confirmation_method", "confirmation_ref", "confirmed_at", "confirmed_by", "terms_locale", "terms_text",
    "terms_sha256", "pdf", "pdf_sha256",
)
#: Columns of an instalment that never change.
FROZEN_INSTALMENT = ("agreement_id", "number", "due_date", "principal", "fee", "fee_waived", "interest", "amount")

AGREEMENT_MESSAGE = "plan_agreements: a confirmed agreement is never edited; make a new version"
INSTALMENT_MESSAGE = "plan_instalments: the schedule of an agreement is never edited"


def _changed(columns: tuple[str, ...], op_: str) -> str:
    return " OR ".join(f"NEW.{c} {op_} OLD.{c}" for c in columns)


PG_FUNCTIONS = f"""
CREATE FUNCTION plan_agreements_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.confirmed_at IS NOT NULL THEN
            RAISE EXCEPTION '{AGREEMENT_MESSAGE}: DELETE refused' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.confirmed_at IS NOT NULL AND ({_changed(FROZEN, "IS DISTINCT FROM")}) THEN
        RAISE EXCEPTION '{AGREEMENT_MESSAGE}: UPDATE refused' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION plan_instalments_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION '{INSTALMENT_MESSAGE}: DELETE refused' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF {_changed(FROZEN_INSTALMENT, "IS DISTINCT FROM")} THEN
        RAISE EXCEPTION '{INSTALMENT_MESSAGE}: UPDATE refused' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$
"""


def _create_triggers() -> None:
    """A confirmed agreement and every instalment are frozen in the database, on both dialects."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        op.execute("CREATE TRIGGER plan_agreements_frozen BEFORE UPDATE OR DELETE ON plan_agreements "
                   "FOR EACH ROW EXECUTE FUNCTION plan_agreements_frozen()")
        op.execute("CREATE TRIGGER plan_instalments_frozen BEFORE UPDATE OR DELETE ON plan_instalments "
                   "FOR EACH ROW EXECUTE FUNCTION plan_instalments_frozen()")
        return
    op.execute(
        "CREATE TRIGGER plan_agreements_no_update BEFORE UPDATE ON plan_agreements "
        f"WHEN OLD.confirmed_at IS NOT NULL AND ({_changed(FROZEN, 'IS NOT')}) "
        f"BEGIN SELECT RAISE(ABORT, '{AGREEMENT_MESSAGE}: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER plan_agreements_no_delete BEFORE DELETE ON plan_agreements "
        "WHEN OLD.confirmed_at IS NOT NULL "
        f"BEGIN SELECT RAISE(ABORT, '{AGREEMENT_MESSAGE}: DELETE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER plan_instalments_no_update BEFORE UPDATE ON plan_instalments "
        f"WHEN {_changed(FROZEN_INSTALMENT, 'IS NOT')} "
        f"BEGIN SELECT RAISE(ABORT, '{INSTALMENT_MESSAGE}: UPDATE refused'); END"
    )
    op.execute(
        "CREATE TRIGGER plan_instalments_no_delete BEFORE DELETE ON plan_instalments "
        f"BEGIN SELECT RAISE(ABORT, '{INSTALMENT_MESSAGE}: DELETE refused'); END"
    )


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS plan_agreements_frozen ON plan_agreements")
        op.execute("DROP TRIGGER IF EXISTS plan_instalments_frozen ON plan_instalments")
        op.execute("DROP FUNCTION IF EXISTS plan_agreements_frozen()")
        op.execute("DROP FUNCTION IF EXISTS plan_instalments_frozen()")
        return
    for name in ("plan_agreements_no_update", "plan_agreements_no_delete", "plan_instalments_no_update",
                 "plan_instalments_no_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    op.create_table('outbox_messages',
    sa.Column('id', ID, nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('case_id', ID, nullable=True),
    sa.Column('contact_point_id', ID, nullable=True),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', TS, nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('sent_at', TS, nullable=True),
    sa.CheckConstraint("channel IN ('sms', 'email', 'letter')", name=op.f('ck_outbox_messages_channel')),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'dead')", name=op.f('ck_outbox_messages_status')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_messages_attempts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_outbox_messages_case_id_cases')),
    sa.ForeignKeyConstraint(['contact_point_id'], ['contact_points.id'], name=op.f('fk_outbox_messages_contact_point_id_contact_points')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_messages_idempotency_key'))
    )
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_messages_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_outbox_messages_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('plan_agreements',
    sa.Column('id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', ID, nullable=True),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('start_date', sa.Date(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('fees', sa.BigInteger(), nullable=False),
    sa.Column('interest', sa.BigInteger(), nullable=False),
    sa.Column('waived', sa.BigInteger(), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('largest_instalment', sa.BigInteger(), nullable=False),
    sa.Column('annual_rate', sa.String(length=16), nullable=True),
    sa.Column('months', sa.Integer(), nullable=True),
    sa.Column('days', sa.Integer(), nullable=True),
    sa.Column('discount_percent', sa.String(length=16), nullable=True),
    sa.Column('affordable', sa.BigInteger(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('investigation_id', ID, nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('needs_approval', sa.Boolean(), nullable=False),
    sa.Column('approval_role', sa.String(length=16), nullable=True),
    sa.Column('created_by', ID, nullable=False),
    sa.Column('approved_by', ID, nullable=True),
    sa.Column('approved_at', TS, nullable=True),
    sa.Column('confirmation_method', sa.String(length=16), nullable=True),
    sa.Column('confirmation_ref', sa.String(length=200), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=True),
    sa.Column('code_expires_at', TS, nullable=True),
    sa.Column('code_attempts', sa.Integer(), nullable=False),
    sa.Column('code_contact_point_id', ID, nullable=True),
    sa.Column('confirmed_at', TS, nullable=True),
    sa.Column('confirmed_by', ID, nullable=True),
    sa.Column('terms_locale', sa.String(length=8), nullable=False),
    sa.Column('terms_text', sa.Text(), nullable=False),
    sa.Column('terms_sha256', sa.String(length=64), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.Column('monitored_on', sa.Date(), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.Column('updated_at', TS, nullable=False),
    sa.CheckConstraint("confirmation_method IS NULL OR confirmation_method IN ('sms_code', 'recorded_call', 'signed_document', 'app')", name=op.f('ck_plan_agreements_confirmation_method')),
    sa.CheckConstraint("kind <> 'personalised' OR (reason IS NOT NULL AND length(reason) > 0)", name=op.f('ck_plan_agreements_personalised_reason')),
    sa.CheckConstraint("kind IN ('full', 'minimum', 'deferral', 'instalment', 'personalised', 'settlement')", name=op.f('ck_plan_agreements_kind')),
    sa.CheckConstraint("status IN ('pending_approval', 'awaiting_confirmation', 'active', 'completed', 'broken', 'superseded', 'cancelled')", name=op.f('ck_plan_agreements_status')),
    sa.CheckConstraint("terms_locale IN ('zh_CN', 'en')", name=op.f('ck_plan_agreements_terms_locale')),
    sa.CheckConstraint('approved_by IS NULL OR approved_by <> created_by', name=op.f('ck_plan_agreements_four_eyes')),
    sa.CheckConstraint('code_attempts >= 0', name=op.f('ck_plan_agreements_code_attempts')),
    sa.CheckConstraint('principal >= 0 AND fees >= 0 AND interest >= 0 AND waived >= 0 AND total >= 0', name=op.f('ck_plan_agreements_money')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_plan_agreements_version')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_plan_agreements_account_id_accounts')),
    sa.ForeignKeyConstraint(['approved_by'], ['users.id'], name=op.f('fk_plan_agreements_approved_by_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_plan_agreements_case_id_cases')),
    sa.ForeignKeyConstraint(['code_contact_point_id'], ['contact_points.id'], name=op.f('fk_plan_agreements_code_contact_point_id_contact_points')),
    sa.ForeignKeyConstraint(['confirmed_by'], ['users.id'], name=op.f('fk_plan_agreements_confirmed_by_users')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_plan_agreements_created_by_users')),
    sa.ForeignKeyConstraint(['investigation_id'], ['investigations.id'], name=op.f('fk_plan_agreements_investigation_id_investigations')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['plan_agreements.id'], name=op.f('fk_plan_agreements_supersedes_id_plan_agreements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_agreements'))
    )
    with op.batch_alter_table('plan_agreements') as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_agreements_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_plan_agreements_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_plan_agreements_status', ['status'], unique=False)
        batch_op.create_index('uq_plan_agreements_case_version', ['case_id', 'version'], unique=True)

    op.create_table('plan_instalments',
    sa.Column('id', ID, nullable=False),
    sa.Column('agreement_id', ID, nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('principal', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('fee_waived', sa.BigInteger(), nullable=False),
    sa.Column('interest', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('paid', sa.BigInteger(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reminder_on', sa.Date(), nullable=True),
    sa.Column('reminded_on', sa.Date(), nullable=True),
    sa.Column('missed_on', sa.Date(), nullable=True),
    sa.Column('updated_at', TS, nullable=False),
    sa.CheckConstraint("status IN ('pending', 'part_paid', 'kept', 'late', 'missed')", name=op.f('ck_plan_instalments_status')),
    sa.CheckConstraint('amount = principal + fee + interest', name=op.f('ck_plan_instalments_amount')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_plan_instalments_number')),
    sa.CheckConstraint('paid >= 0 AND paid <= amount', name=op.f('ck_plan_instalments_paid')),
    sa.ForeignKeyConstraint(['agreement_id'], ['plan_agreements.id'], name=op.f('fk_plan_instalments_agreement_id_plan_agreements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_instalments'))
    )
    with op.batch_alter_table('plan_instalments') as batch_op:
        batch_op.create_index('uq_plan_instalments_agreement_number', ['agreement_id', 'number'], unique=True)

    op.create_table('reages',
    sa.Column('id', ID, nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('reage_date', sa.Date(), nullable=False),
    sa.Column('agreement_id', ID, nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_reages_account_id_accounts')),
    sa.ForeignKeyConstraint(['agreement_id'], ['plan_agreements.id'], name=op.f('fk_reages_agreement_id_plan_agreements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reages')),
    sa.UniqueConstraint('agreement_id', name=op.f('uq_reages_agreement_id'))
    )
    with op.batch_alter_table('reages') as batch_op:
        batch_op.create_index(batch_op.f('ix_reages_account_id'), ['account_id'], unique=False)
    _create_triggers()



def downgrade() -> None:
    _drop_triggers()
    with op.batch_alter_table('reages') as batch_op:
        batch_op.drop_index(batch_op.f('ix_reages_account_id'))
    op.drop_table('reages')
    with op.batch_alter_table('plan_instalments') as batch_op:
        batch_op.drop_index('uq_plan_instalments_agreement_number')
    op.drop_table('plan_instalments')
    with op.batch_alter_table('plan_agreements') as batch_op:
        batch_op.drop_index('uq_plan_agreements_case_version')
        batch_op.drop_index('ix_plan_agreements_status')
        batch_op.drop_index(batch_op.f('ix_plan_agreements_case_id'))
        batch_op.drop_index(batch_op.f('ix_plan_agreements_account_id'))
    op.drop_table('plan_agreements')
    with op.batch_alter_table('outbox_messages') as batch_op:
        batch_op.drop_index('ix_outbox_messages_status_next')
        batch_op.drop_index(batch_op.f('ix_outbox_messages_case_id'))
    op.drop_table('outbox_messages')
