"""Regulation F records: written cease requests, workplace flags on contact points, the accounts'
limitation dates, and each account's validation notice with its delivery record

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "cease_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint(_in("kind", ("cease", "refusal_to_pay")), name=op.f("ck_cease_requests_kind")),
        sa.CheckConstraint(_in("channel", ("letter", "email", "fax")), name=op.f("ck_cease_requests_channel")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_cease_requests_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cease_requests")),
    )
    with op.batch_alter_table("cease_requests") as batch_op:
        batch_op.create_index(batch_op.f("ix_cease_requests_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "contact_point_flags",
        sa.Column("contact_point_id", ID, nullable=False),
        sa.Column("employer_forbids", sa.Boolean(), nullable=False),
        sa.Column("employer_provided", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"],
                                name=op.f("fk_contact_point_flags_contact_point_id_contact_points")),
        sa.PrimaryKeyConstraint("contact_point_id", name=op.f("pk_contact_point_flags")),
    )
    op.create_table(
        "account_limitations",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("limitation_date", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_account_limitations_account_id_accounts")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_limitations")),
    )
    op.create_table(
        "validation_notices",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("first_communication_at", TS, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("delivery_at", TS, nullable=True),
        sa.Column("outbox_message_id", ID, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(_in("delivery", ("due", "sent", "delivered", "returned")),
                           name=op.f("ck_validation_notices_delivery")),
        sa.CheckConstraint(f"method IS NULL OR {_in('method', ('letter', 'email'))}",
                           name=op.f("ck_validation_notices_method")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_validation_notices_account_id_accounts")),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox_messages.id"],
                                name=op.f("fk_validation_notices_outbox_message_id_outbox_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_notices")),
        sa.UniqueConstraint("account_id", name=op.f("uq_validation_notices_account_id")),
    )
    with op.batch_alter_table("validation_notices") as batch_op:
        batch_op.create_index(batch_op.f("ix_validation_notices_due_on"), ["due_on"], unique=False)


def downgrade() -> None:
    op.drop_table("validation_notices")
    op.drop_table("account_limitations")
    op.drop_table("contact_point_flags")
    op.drop_table("cease_requests")
