"""dialler calls: calls dialled from the case after the compliance gate, and the dialler's call events

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dialler_calls",
        sa.Column("id", ID, nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("agent_id", ID, nullable=False),
        sa.Column("contact_point_id", ID, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_call_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=True),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("answered_at", TS, nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("recording_ref", sa.String(length=200), nullable=True),
        sa.Column("interaction_id", ID, nullable=True),
        sa.CheckConstraint("status IN ('requested', 'ringing', 'answered', 'ended')",
                           name=op.f("ck_dialler_calls_status")),
        sa.CheckConstraint("disposition IS NULL OR disposition IN ('answered', 'no_answer', 'busy', 'failed', "
                           "'voicemail')", name=op.f("ck_dialler_calls_disposition")),
        sa.CheckConstraint("provider IN ('http', 'tel')", name=op.f("ck_dialler_calls_provider")),
        sa.CheckConstraint("duration_seconds IS NULL OR duration_seconds >= 0", name=op.f("ck_dialler_calls_duration")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_dialler_calls_case_id_cases")),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_dialler_calls_agent_id_users")),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"],
                                name=op.f("fk_dialler_calls_contact_point_id_contact_points")),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_dialler_calls_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialler_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_dialler_calls_call_id")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_dialler_calls_interaction_id")),
    )
    with op.batch_alter_table("dialler_calls") as batch_op:
        batch_op.create_index(batch_op.f("ix_dialler_calls_case_id"), ["case_id"], unique=False)
    op.create_table(
        "dialler_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.CheckConstraint("kind IN ('ringing', 'answered', 'ended')", name=op.f("ck_dialler_events_kind")),
        sa.ForeignKeyConstraint(["call_id"], ["dialler_calls.id"], name=op.f("fk_dialler_events_call_id_dialler_calls")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialler_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_dialler_events_event_id")),
    )
    with op.batch_alter_table("dialler_events") as batch_op:
        batch_op.create_index(batch_op.f("ix_dialler_events_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    op.drop_table("dialler_events")
    op.drop_table("dialler_calls")
