"""override uses: an approved compliance override is consumed by the one contact it lets through;
audit records indexed by actor, action and time (the per-user reveal limit counts them)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

``override_uses`` has the consumed decision as its primary key, so a second use of one override fails
on the unique key on both stores, even when two processes try at once (docs/compliance.md). The index
on ``audit_records`` is created directly, not through a batch rebuild, which would drop the SQLite
append-only triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "override_uses",
        sa.Column("decision_id", ID, nullable=False, autoincrement=False),
        sa.Column("used_at", TS, nullable=False),
        sa.Column("used_by", sa.String(length=64), nullable=False),
        sa.Column("use_decision_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["decision_id"], ["contact_decisions.id"],
                                name=op.f("fk_override_uses_decision_id_contact_decisions")),
        sa.ForeignKeyConstraint(["use_decision_id"], ["contact_decisions.id"],
                                name=op.f("fk_override_uses_use_decision_id_contact_decisions")),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_override_uses")),
    )
    op.create_index("ix_audit_records_actor_action_at", "audit_records", ["actor", "action", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_records_actor_action_at", table_name="audit_records")
    op.drop_table("override_uses")
