"""experiment readouts: experiment cohorts (arm at entry) and the read-out's per-arm sums per cycle date

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

``experiment_entries`` is filled from the decisions already in the store the way the strategy step adds
them from now on (arrears.strategy.repository.add_experiment_entries): per experiment and account, the
arm and date of its first decision in that experiment. ``experiment_arm_stats`` is then filled for every
date with experiment decisions by the step's own function
(arrears.reports.experiments.refresh_arm_stats, in the bank zone of the settings): its grouped query is
the read-out's definition, kept in one place rather than copied here as SQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import arrears.kit.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = arrears.kit.db.UTCDateTime(timezone=True)

BACKFILL = """
INSERT INTO experiment_entries (experiment, account_id, arm, entered_on, case_id)
SELECT d.experiment, d.account_id, d.arm, d.business_date, d.case_id
FROM strategy_decisions d
JOIN (SELECT experiment, account_id, min(business_date) AS first_date FROM strategy_decisions
      WHERE experiment IS NOT NULL AND arm IS NOT NULL GROUP BY experiment, account_id) f
  ON f.experiment = d.experiment AND f.account_id = d.account_id AND f.first_date = d.business_date
"""

#: The dates whose read-out sums the backfill writes.
STATS_DATES = "SELECT DISTINCT business_date FROM strategy_decisions WHERE experiment IS NOT NULL ORDER BY 1"


def backfill_stats(bind: sa.Connection, bank_zone: str | None = None) -> int:
    """Write ``experiment_arm_stats`` for every date with experiment decisions (after :data:`BACKFILL`);
    returns the number of dates."""
    from datetime import date

    from sqlalchemy.orm import Session

    from arrears.reports.experiments import refresh_arm_stats

    if bank_zone is None:
        from arrears.config import get_settings

        bank_zone = get_settings().timezone
    days = [d if isinstance(d, date) else date.fromisoformat(str(d)) for (d,) in bind.execute(sa.text(STATS_DATES))]
    session = Session(bind=bind)
    for day in days:
        refresh_arm_stats(session, business_date=day, bank_zone=bank_zone)
    session.flush()
    return len(days)


def upgrade() -> None:
    op.create_table('experiment_entries',
    sa.Column('id', ID, nullable=False),
    sa.Column('experiment', sa.String(length=64), nullable=False),
    sa.Column('account_id', ID, nullable=False),
    sa.Column('arm', sa.String(length=64), nullable=False),
    sa.Column('entered_on', sa.Date(), nullable=False),
    sa.Column('case_id', ID, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_experiment_entries_account_id_accounts')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_experiment_entries_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment_entries'))
    )
    op.create_index('uq_experiment_entries_experiment_account', 'experiment_entries', ['experiment', 'account_id'],
                    unique=True)
    op.create_index('ix_experiment_entries_experiment_entered', 'experiment_entries', ['experiment', 'entered_on'],
                    unique=False)
    op.create_table('experiment_arm_stats',
    sa.Column('id', ID, nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('team_id', ID, nullable=True),
    sa.Column('experiment', sa.String(length=64), nullable=False),
    sa.Column('arm', sa.String(length=64), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (
        'accounts', 'cured', 'rolled', 'recovered_fen', 'recovered_hh', 'recovered_hl', 'recovered_ll', 'contacts',
        'contacts_sq', 'complaints')),
    sa.Column('refreshed_at', TS, nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_experiment_arm_stats_team_id_teams')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment_arm_stats'))
    )
    op.create_index('ix_experiment_arm_stats_date_team', 'experiment_arm_stats', ['business_date', 'team_id'],
                    unique=False)
    op.execute(BACKFILL)
    backfill_stats(op.get_bind())


def downgrade() -> None:
    op.drop_index('ix_experiment_arm_stats_date_team', table_name='experiment_arm_stats')
    op.drop_table('experiment_arm_stats')
    op.drop_index('ix_experiment_entries_experiment_entered', table_name='experiment_entries')
    op.drop_index('uq_experiment_entries_experiment_account', table_name='experiment_entries')
    op.drop_table('experiment_entries')
