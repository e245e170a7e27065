"""ingest_runs.rows_updated: master-data rows a file changed, counted apart from new rows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch_op:
        batch_op.add_column(sa.Column("rows_updated", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch_op:
        batch_op.drop_column("rows_updated")
