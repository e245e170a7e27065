"""case process: lifecycle states and transitions, interactions, hold reviews, investigations,
promises, tasks, appointments

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)
STATES = ("new", "contacting", "investigating", "negotiating", "plan_active", "follow_up", "legal_review",
          "agency_placement", "charged_off", "closed", "cured")
OPEN_STATES = tuple(s for s in STATES if s not in ("cured", "closed"))


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # -- cases: lifecycle states instead of open/closed ------------------------------------
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("uq_cases_open_account")
        batch_op.drop_constraint(op.f("ck_cases_status"), type_="check")
        batch_op.add_column(sa.Column("reopened_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE cases SET status = 'new' WHERE status = 'open'")
    op.execute("UPDATE cases SET status = 'cured' WHERE status = 'closed'")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.create_check_constraint("status", _in("status", STATES))
        batch_op.create_index("uq_cases_open_account", ["account_id"], unique=True,
                              sqlite_where=sa.text(_in("status", OPEN_STATES)),
                              postgresql_where=sa.text(_in("status", OPEN_STATES)))

    op.create_table(
        "case_transitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("cycle_run_id", ID, nullable=True),
        sa.CheckConstraint(_in("to_state", STATES), name=op.f("ck_case_transitions_to_state")),
        sa.CheckConstraint(f"from_state IS NULL OR {_in('from_state', STATES)}",
                           name=op.f("ck_case_transitions_from_state")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_transitions_case_id_cases")),
        sa.ForeignKeyConstraint(["cycle_run_id"], ["cycle_runs.id"],
                                name=op.f("fk_case_transitions_cycle_run_id_cycle_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transitions")),
    )
    op.create_index(op.f("ix_case_transitions_case_id"), "case_transitions", ["case_id"])
    # Cases that existed before transitions were recorded get their opening (and cure) on record.
    op.execute(
        "INSERT INTO case_transitions (case_id, from_state, to_state, actor, reason, at, cycle_run_id) "
        "SELECT id, NULL, 'new', 'cycle', 'account became delinquent', created_at, opened_by_run_id FROM cases"
    )
    op.execute(
        "INSERT INTO case_transitions (case_id, from_state, to_state, actor, reason, at, cycle_run_id) "
        "SELECT id, 'new', 'cured', 'cycle', 'account no longer delinquent', updated_at, closed_by_run_id "
        "FROM cases WHERE status = 'cured'"
    )

    op.create_table(
        "interactions",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("party", sa.String(24), nullable=False),
        sa.Column("contact_point_id", ID, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recording_ref", sa.String(200), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("channel IN ('call', 'sms', 'email', 'letter', 'visit', 'app')",
                           name=op.f("ck_interactions_channel")),
        sa.CheckConstraint("direction IN ('outbound', 'inbound')", name=op.f("ck_interactions_direction")),
        sa.CheckConstraint("party IN ('debtor', 'emergency_contact', 'other', 'nobody')",
                           name=op.f("ck_interactions_party")),
        sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name=op.f("ck_interactions_times")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_interactions_case_id_cases")),
        sa.ForeignKeyConstraint(["contact_point_id"], ["contact_points.id"],
                                name=op.f("fk_interactions_contact_point_id_contact_points")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    op.create_index(op.f("ix_interactions_case_id"), "interactions", ["case_id"])
    op.create_index("ix_interactions_case_started", "interactions", ["case_id", "started_at"])

    op.create_table(
        "hold_reviews",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("hold_id", ID, nullable=True),
        sa.Column("interaction_id", ID, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('pending', 'reviewed')", name=op.f("ck_hold_reviews_status")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_hold_reviews_case_id_cases")),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("fk_hold_reviews_hold_id_holds")),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_hold_reviews_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hold_reviews")),
    )
    op.create_index(op.f("ix_hold_reviews_case_id"), "hold_reviews", ["case_id"])

    op.create_table(
        "investigations",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(24), nullable=False),
        sa.Column("monthly_income", sa.BigInteger(), nullable=False),
        sa.Column("essential_spending", sa.BigInteger(), nullable=False),
        sa.Column("other_debt_payments", sa.BigInteger(), nullable=False),
        sa.Column("dependants", sa.Integer(), nullable=False),
        sa.Column("reserve_base", sa.BigInteger(), nullable=False),
        sa.Column("reserve_per_dependant", sa.BigInteger(), nullable=False),
        sa.Column("affordable_monthly", sa.BigInteger(), nullable=False),
        sa.Column("willingness", sa.Integer(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint("cause IN ('job_loss', 'illness', 'business_trouble', 'over_indebted', 'forgot', "
                           "'dispute', 'fraud', 'other')", name=op.f("ck_investigations_cause")),
        sa.CheckConstraint("willingness BETWEEN 1 AND 5", name=op.f("ck_investigations_willingness")),
        sa.CheckConstraint("monthly_income >= 0 AND essential_spending >= 0 AND other_debt_payments >= 0 "
                           "AND dependants >= 0 AND affordable_monthly >= 0",
                           name=op.f("ck_investigations_non_negative")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_investigations_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investigations")),
    )
    op.create_index("uq_investigations_case_version", "investigations", ["case_id", "version"], unique=True)

    op.create_table(
        "promises",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("interaction_id", ID, nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("promised_date", sa.Date(), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("tolerance", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paid", sa.BigInteger(), nullable=True),
        sa.Column("judged_at", TS, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('open', 'kept', 'partly_kept', 'broken')", name=op.f("ck_promises_status")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_promises_amount_positive")),
        sa.CheckConstraint("promised_date >= created_on", name=op.f("ck_promises_dates")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_promises_case_id_cases")),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_promises_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
    )
    op.create_index(op.f("ix_promises_case_id"), "promises", ["case_id"])
    op.create_index("ix_promises_status_date", "promises", ["status", "promised_date"])

    op.create_table(
        "tasks",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("promise_id", ID, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f("ck_tasks_status")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_tasks_case_id_cases")),
        sa.ForeignKeyConstraint(["promise_id"], ["promises.id"], name=op.f("fk_tasks_promise_id_promises")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_case_id"), "tasks", ["case_id"])

    op.create_table(
        "appointments",
        sa.Column("id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("interaction_id", ID, nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('scheduled', 'done', 'missed', 'cancelled')",
                           name=op.f("ck_appointments_status")),
        sa.CheckConstraint("window_end > window_start", name=op.f("ck_appointments_window")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_appointments_case_id_cases")),
        sa.ForeignKeyConstraint(["interaction_id"], ["interactions.id"],
                                name=op.f("fk_appointments_interaction_id_interactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(op.f("ix_appointments_case_id"), "appointments", ["case_id"])
    op.create_index("ix_appointments_owner_window", "appointments", ["owner_id", "window_start"])


def downgrade() -> None:
    for table in ("appointments", "tasks", "promises", "investigations", "hold_reviews", "interactions",
                  "case_transitions"):
        op.drop_table(table)
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index("uq_cases_open_account")
        batch_op.drop_constraint(op.f("ck_cases_status"), type_="check")
    # Every open lifecycle state was "open" before; cured and closed cases were "closed".
    op.execute(f"UPDATE cases SET status = 'open' WHERE {_in('status', OPEN_STATES)}")
    op.execute("UPDATE cases SET status = 'closed' WHERE status IN ('cured', 'closed')")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("reopen_count")
        batch_op.drop_column("reopened_on")
        batch_op.create_check_constraint("status", "status IN ('open', 'closed')")
        batch_op.create_index("uq_cases_open_account", ["account_id"], unique=True,
                              sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
