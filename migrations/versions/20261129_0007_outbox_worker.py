"""outbox worker: the ``sending`` status (a claimed message under lease) and message deliveries

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)

OLD_STATUSES = "status IN ('pending', 'sent', 'failed', 'dead')"
NEW_STATUSES = "status IN ('pending', 'sending', 'sent', 'failed', 'dead')"


def _status_check(sql: str) -> None:
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_status"), type_="check")
        batch_op.create_check_constraint("status", sql)


def upgrade() -> None:
    _status_check(NEW_STATUSES)
    op.create_table('message_deliveries',
    sa.Column('id', ID, nullable=False),
    sa.Column('message_id', ID, nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('provider_ref', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('at', TS, nullable=False),
    sa.CheckConstraint("status IN ('sent', 'failed', 'blocked', 'dead')", name=op.f('ck_message_deliveries_status')),
    sa.ForeignKeyConstraint(['message_id'], ['outbox_messages.id'],
                            name=op.f('fk_message_deliveries_message_id_outbox_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_deliveries'))
    )
    with op.batch_alter_table('message_deliveries') as batch_op:
        batch_op.create_index(batch_op.f('ix_message_deliveries_message_id'), ['message_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message_deliveries') as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_deliveries_message_id'))
    op.drop_table('message_deliveries')
    op.execute("UPDATE outbox_messages SET status = 'failed' WHERE status = 'sending'")
    _status_check(OLD_STATUSES)
