"""self-service: the 'self_service' interaction channel, one-time codes, contact preferences

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

What the cardholder does on their own page is recorded as an interaction on channel
``self_service``; one-time codes (identity, plan confirmation) are kept as digests in
``portal_codes``; ``contact_preferences`` holds the customer's preferred hours, days and channel and
the channels they asked us to stop (the gate honours them); ``portal_links.acted_at`` marks the
funnel's last step.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)

OLD = ("call", "sms", "email", "letter", "visit", "app")
NEW = (*OLD, "self_service")


def _channels(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.drop_constraint(op.f("ck_interactions_channel"), type_="check")
        batch_op.create_check_constraint(op.f("ck_interactions_channel"),
                                         f"channel IN ({', '.join(repr(v) for v in values)})")


def upgrade() -> None:
    _channels(NEW)
    with op.batch_alter_table("portal_links") as batch_op:
        batch_op.add_column(sa.Column("acted_at", TS, nullable=True))
    op.create_table(
        "portal_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("link_id", ID, nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("subject_id", ID, nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.CheckConstraint("purpose IN ('identity', 'plan')", name=op.f("ck_portal_codes_purpose")),
        sa.ForeignKeyConstraint(["link_id"], ["portal_links.id"], name=op.f("fk_portal_codes_link_id_portal_links")),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox_messages.id"],
                                name=op.f("fk_portal_codes_outbox_id_outbox_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_codes")),
    )
    with op.batch_alter_table("portal_codes") as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_codes_link_id"), ["link_id"], unique=False)
    op.create_table(
        "contact_preferences",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("window_start", sa.Time(), nullable=True),
        sa.Column("window_end", sa.Time(), nullable=True),
        sa.Column("days", sa.String(length=7), nullable=True),
        sa.Column("preferred_channel", sa.String(length=16), nullable=True),
        sa.Column("stopped_channels", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_contact_preferences_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_preferences")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_contact_preferences_customer_id")),
    )


def downgrade() -> None:
    op.drop_table("contact_preferences")
    op.drop_table("portal_codes")
    with op.batch_alter_table("portal_links") as batch_op:
        batch_op.drop_column("acted_at")
    op.execute("UPDATE interactions SET channel = 'app' WHERE channel = 'self_service'")
    _channels(OLD)
