"""contact truth: an unanswered call has no party

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

Until this revision nothing checked an interaction's outcome against who answered, and the case
page's outcome form preselected the cardholder: an unanswered call saved as is was stored with
``party = 'debtor'`` and counted as a contact with the cardholder.

What this changes, and nothing else: every row of ``interactions`` whose ``outcome`` is
``no_answer`` or ``busy`` (the shipped outcomes configured ``party: nobody``: nobody answered) and
whose ``party`` is not ``nobody`` gets ``party = 'nobody'``. No other column and no other row is
touched: right-party outcomes keep the party they were recorded with, and so do ``left_message``
and ``wrong_number`` (``party: any``). The number of rows changed is logged (logger
``arrears.migrations``) and, when any row changed, printed.

Downgrade changes nothing: the parties replaced were wrong, and which rows had which is not kept.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: Outcomes that mean nobody answered (``party: nobody`` in outcomes.yaml as shipped at this revision).
UNANSWERED = ("no_answer", "busy")

log = logging.getLogger("arrears.migrations")


def upgrade() -> None:
    interactions = sa.table("interactions", sa.column("party", sa.String), sa.column("outcome", sa.String))
    result = op.get_bind().execute(
        sa.update(interactions)
        .where(interactions.c.outcome.in_(UNANSWERED), interactions.c.party != "nobody")
        .values(party="nobody"))
    changed = result.rowcount if result.rowcount is not None and result.rowcount >= 0 else 0
    message = (f"0020 contact truth: {changed} interaction(s) with an unanswered outcome "
               f"({', '.join(UNANSWERED)}) set to party 'nobody'")
    log.info(message)
    if changed:  # a new store has nothing to correct: say nothing
        print(message)


def downgrade() -> None:
    """Nothing to undo: the parties replaced were wrong, and the old values are not kept."""
