"""payment orders: orders at a payment provider, their distinct provider events, bank confirmation

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payment_orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("merchant_order_id", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=127), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("paid_at", TS, nullable=True),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("bank_payment_ref", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_orders_amount_positive")),
        sa.CheckConstraint(
            "state IN ('created', 'paid', 'closed', 'expired', 'partially_refunded', 'refunded')",
            name=op.f("ck_payment_orders_state"),
        ),
        sa.CheckConstraint(
            "paid_fen >= 0 AND refunded_fen >= 0 AND refunded_fen <= paid_fen", name=op.f("ck_payment_orders_fen")
        ),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_payment_orders_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_orders")),
        sa.UniqueConstraint("merchant_order_id", name=op.f("uq_payment_orders_merchant_order_id")),
        sa.UniqueConstraint("bank_payment_ref", name=op.f("uq_payment_orders_bank_payment_ref")),
    )
    with op.batch_alter_table("payment_orders") as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_orders_account_id"), ["account_id"], unique=False)
        batch_op.create_index("ix_payment_orders_state_paid_at", ["state", "paid_at"], unique=False)
    op.create_table(
        "payment_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("order_id", ID, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_txn_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("payment_transaction_id", sa.String(length=64), nullable=True),
        sa.Column("order_total", sa.BigInteger(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.CheckConstraint("kind IN ('paid', 'closed', 'refunded')", name=op.f("ck_payment_events_kind")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payment_events_amount_not_negative")),
        sa.ForeignKeyConstraint(["order_id"], ["payment_orders.id"],
                                name=op.f("fk_payment_events_order_id_payment_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )
    with op.batch_alter_table("payment_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_events_order_id"), ["order_id"], unique=False)
        batch_op.create_index("uq_payment_events_provider_txn", ["provider", "provider_txn_id"], unique=True)


def downgrade() -> None:
    op.drop_table("payment_events")
    op.drop_table("payment_orders")
