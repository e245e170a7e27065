"""portal links: the cardholder's personal links, identity attempts and verified visits

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "portal_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
        sa.Column("first_opened_at", TS, nullable=True),
        sa.Column("verified_at", TS, nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.CheckConstraint("channel IN ('sms', 'email', 'none')", name=op.f("ck_portal_links_channel")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_portal_links_account_id_accounts")),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox_messages.id"],
                                name=op.f("fk_portal_links_outbox_id_outbox_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_links")),
    )
    with op.batch_alter_table("portal_links") as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_links_account_id"), ["account_id"], unique=False)
    op.create_table(
        "portal_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("link_id", ID, nullable=True),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.CheckConstraint("outcome IN ('verified', 'wrong', 'unknown_link', 'refused')",
                           name=op.f("ck_portal_attempts_outcome")),
        sa.ForeignKeyConstraint(["link_id"], ["portal_links.id"], name=op.f("fk_portal_attempts_link_id_portal_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_attempts")),
    )
    with op.batch_alter_table("portal_attempts") as batch_op:
        batch_op.create_index("ix_portal_attempts_remote_at", ["remote", "at"], unique=False)
    op.create_table(
        "portal_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("link_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["link_id"], ["portal_links.id"], name=op.f("fk_portal_sessions_link_id_portal_links")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_sessions_token_hash")),
    )
    with op.batch_alter_table("portal_sessions") as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_sessions_link_id"), ["link_id"], unique=False)


def downgrade() -> None:
    op.drop_table("portal_sessions")
    op.drop_table("portal_attempts")
    op.drop_table("portal_links")
