"""complaints on the clock: each complaint with its deadline, handler, root cause and hold, and its timeline

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)

CHANNELS = ("phone", "letter", "email", "branch", "app", "portal", "agent", "regulator", "other")
CATEGORIES = ("collection_conduct", "contact_frequency", "contact_time", "third_party", "fees_interest",
              "amount_disputed", "repayment_plan", "credit_report", "privacy", "agency", "other")
ROOT_CAUSES = ("agent_conduct", "agency_conduct", "process", "system", "policy", "communication",
               "customer_misunderstanding", "no_fault_found", "other")
STATUSES = ("received", "acknowledged", "investigating", "answered", "closed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("regulator_ref", sa.String(length=64), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("handler_id", ID, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("escalated_at", TS, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("root_cause", sa.String(length=32), nullable=True),
        sa.Column("root_cause_text", sa.Text(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("hold_id", ID, nullable=True),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("agency", sa.String(length=32), nullable=True),
        sa.Column("strategy", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_complaints_status")),
        sa.CheckConstraint(_in("channel", CHANNELS), name=op.f("ck_complaints_channel")),
        sa.CheckConstraint(_in("category", CATEGORIES), name=op.f("ck_complaints_category")),
        sa.CheckConstraint(f"root_cause IS NULL OR {_in('root_cause', ROOT_CAUSES)}",
                           name=op.f("ck_complaints_root_cause")),
        sa.CheckConstraint("deadline >= received_on", name=op.f("ck_complaints_deadline")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_complaints_account_id_accounts")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_complaints_customer_id_customers")),
        sa.ForeignKeyConstraint(["handler_id"], ["users.id"], name=op.f("fk_complaints_handler_id_users")),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_complaints_hold_id_holds")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_complaints_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
    )
    with op.batch_alter_table("complaints") as batch_op:
        for column in ("account_id", "customer_id", "received_on", "handler_id", "deadline", "hold_id", "team_id"):
            batch_op.create_index(batch_op.f(f"ix_complaints_{column}"), [column], unique=False)
        batch_op.create_index("ix_complaints_status_deadline", ["status", "deadline"], unique=False)
    op.create_table(
        "complaint_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("complaint_id", ID, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"],
                                name=op.f("fk_complaint_events_complaint_id_complaints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_events")),
    )
    with op.batch_alter_table("complaint_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_events_complaint_id"), ["complaint_id"], unique=False)


def downgrade() -> None:
    op.drop_table("complaint_events")
    op.drop_table("complaints")
