"""book figures: the book in arrears per business date, team and bucket, for the dashboards

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

Filled for every date already in the store, the way the cycle writes it from now on
(arrears.delinquency.repository.refresh_book_figures): current delinquent snapshots, each account in
the team of its latest case, with the balance of its open case.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)

BACKFILL = """
INSERT INTO book_figures (business_date, team_id, bucket, accounts, amount_past_due, balance, refreshed_at)
SELECT business_date, team_id, bucket, count(*), sum(amount_past_due), sum(balance), CURRENT_TIMESTAMP
FROM (SELECT s.business_date, s.bucket, s.amount_past_due,
             (SELECT l.team_id FROM cases l
              WHERE l.id = (SELECT max(c.id + 0) FROM cases c WHERE c.account_id = s.account_id)) AS team_id,
             coalesce((SELECT o.balance FROM cases o
                       WHERE o.account_id = s.account_id AND o.status NOT IN ('cured', 'closed')), 0) AS balance
      FROM delinquency_snapshots s
      WHERE s.superseded_by_run_id IS NULL AND s.delinquent) x
GROUP BY business_date, team_id, bucket
"""


def upgrade() -> None:
    op.create_table('book_figures',
    sa.Column('id', ID, nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('team_id', ID, nullable=True),
    sa.Column('bucket', sa.String(length=16), nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('amount_past_due', sa.BigInteger(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('refreshed_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_book_figures_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_book_figures'))
    )
    op.create_index('ix_book_figures_date_team', 'book_figures', ['business_date', 'team_id'], unique=False)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index('ix_book_figures_date_team', table_name='book_figures')
    op.drop_table('book_figures')
