"""audit records name the key that signed them (HMAC-SHA256 with a key held outside the store)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Records written before this column (and any written while no key is configured) keep ``key_id``
NULL and stay verifiable as before: their hash is plain sha256. The first signed checkpoint
(``arrears audit checkpoint``) anchors them: it records from which seq on every record must be
signed, so they cannot be swapped for unsigned forgeries later (docs/security.md).
Adding a nullable column rewrites nothing, and the append-only triggers stay in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN on both stores (no batch rebuild: that would drop the SQLite triggers).
    op.add_column("audit_records", sa.Column("key_id", sa.String(length=16), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE audit_records DROP COLUMN key_id")
    else:
        op.drop_column("audit_records", "key_id")
