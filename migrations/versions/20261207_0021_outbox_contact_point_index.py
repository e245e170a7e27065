"""outbox: messages by contact point and send time (the cardholder's contact record)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

The cardholder's account page (and the promise page) list the messages sent to the customer's
contact points, newest first; without this index PostgreSQL reads the whole outbox for each view:
66 ms of the account page's 75 ms in the store at 525,000 messages, and a server p95 of 821 ms
instead of 79 ms with 200 customers at once (bench/bench_portal.py, bench/RESULTS.md).
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_messages_contact_point_sent", "outbox_messages", ["contact_point_id", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_contact_point_sent", table_name="outbox_messages")
