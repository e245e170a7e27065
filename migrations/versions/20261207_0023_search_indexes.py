"""search: customers by name and ID number, phone numbers by value

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07

The desk's search (``cases.search``) finds an account by the full customer name, the full ID
number or the full phone number; without these indexes each search reads every customer or every
contact point of the store. The values are stored as the bank sends them (normalised at ingestion),
so a plain B-tree on each answers an exact match.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customers_name", "customers", ["name"])
    op.create_index("ix_customers_national_id", "customers", ["national_id"])
    op.create_index("ix_contact_points_value", "contact_points", ["value"])


def downgrade() -> None:
    op.drop_index("ix_contact_points_value", table_name="contact_points")
    op.drop_index("ix_customers_national_id", table_name="customers")
    op.drop_index("ix_customers_name", table_name="customers")
