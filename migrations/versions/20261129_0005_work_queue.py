"""work queue: case team, balance, propensity, lease; user capacity; skills

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)
#: expected value = balance × propensity (explicit, or the bucket's default in basis points)
PROPENSITY = {"M0": 8000, "M1": 6000, "M2": 4000, "M3": 2500, "M4": 1500, "M5": 1000, "M6": 700, "M7+": 500}
EV = ("balance * coalesce(propensity_bp, CASE "
      + " ".join(f"WHEN (bucket = '{b}') THEN {bp}" for b, bp in PROPENSITY.items()) + " ELSE 500 END)")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("team_id", ID, nullable=True))
        batch_op.add_column(sa.Column("balance", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("propensity_bp", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("held_by", ID, nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", TS, nullable=True))
        batch_op.add_column(sa.Column("claims", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_foreign_key(op.f("fk_cases_team_id_teams"), "teams", ["team_id"], ["id"])
        batch_op.create_foreign_key(op.f("fk_cases_held_by_users"), "users", ["held_by"], ["id"])
        batch_op.create_index(op.f("ix_cases_team_id"), ["team_id"])
        batch_op.create_index(op.f("ix_cases_held_by"), ["held_by"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_cases_queue_rank", "cases", ["team_id", sa.text(f"({EV}) DESC"), "id"])
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="3"))
    op.create_table(
        "work_skills",
        sa.Column("id", ID, nullable=False),
        sa.Column("team_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("bucket_from", sa.String(16), nullable=False),
        sa.Column("bucket_to", sa.String(16), nullable=False),
        sa.Column("languages", sa.String(200), nullable=True),
        sa.Column("products", sa.String(500), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="100"),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("(team_id IS NULL) <> (user_id IS NULL)", name=op.f("ck_work_skills_owner")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_work_skills_team_id_teams")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_work_skills_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_skills")),
    )
    op.create_index(op.f("ix_work_skills_team_id"), "work_skills", ["team_id"])
    op.create_index(op.f("ix_work_skills_user_id"), "work_skills", ["user_id"])


def downgrade() -> None:
    op.drop_table("work_skills")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_cases_queue_rank", table_name="cases")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("capacity")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_index(op.f("ix_cases_held_by"))
        batch_op.drop_index(op.f("ix_cases_team_id"))
        batch_op.drop_constraint(op.f("fk_cases_held_by_users"), type_="foreignkey")
        batch_op.drop_constraint(op.f("fk_cases_team_id_teams"), type_="foreignkey")
        for name in ("claims", "lease_expires_at", "held_by", "propensity_bp", "balance", "team_id"):
            batch_op.drop_column(name)
