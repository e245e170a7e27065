"""customers' jurisdiction; the layers of the pack in the compliance log

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07

``customers.jurisdiction``: where the customer lives (``CN``, ``US-NY``, ``US-MA``, ``US-NY-NYC``...),
which chooses the compliance pack's country and its state and city layers; every customer already
stored is in ``CN``, as before. ``contact_decisions.layers``: the layer packs (name and version) of the
pack that judged a logged decision; null for decisions logged before layers existed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch_op:
        batch_op.add_column(sa.Column("jurisdiction", sa.String(16), nullable=False, server_default="CN"))
    with op.batch_alter_table("contact_decisions") as batch_op:
        batch_op.add_column(sa.Column("layers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_decisions") as batch_op:
        batch_op.drop_column("layers")
    with op.batch_alter_table("customers") as batch_op:
        batch_op.drop_column("jurisdiction")
