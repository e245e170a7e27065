"""``arrears export delinquency``: every account's delinquency on a business date, as CSV."""

from __future__ import annotations

from datetime import date
from typing import TextIO

from sqlalchemy import Engine, and_, select

from arrears.accounts.tables import Account
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.tables import CycleRun, DelinquencySnapshot
from arrears.kit.csvsafe import SafeWriter
from arrears.kit.errors import NotFound

COLUMNS = ("account_id", "business_date", "dpd", "bucket", "cycles_delinquent", "amount_past_due_fen", "charge_off")


def export_delinquency(engine: Engine, *, business_date: date, rules: DelinquencyRules, stream: TextIO) -> int:
    """Write one row per account (current accounts included, as DPD 0) and return the row count.

    Refuses a date the cycle has not completed, rather than passing off missing data as "current".
    """
    s = DelinquencySnapshot
    current = rules.buckets.lookup(0)
    writer = SafeWriter(stream, lineterminator="\n")  # a bank key like "=..." is not run as a formula
    with engine.connect() as conn:
        done = conn.execute(
            select(CycleRun.id).where(CycleRun.business_date == business_date, CycleRun.status == "completed").limit(1)
        ).first()
        if done is None:
            raise NotFound(f"no completed cycle for {business_date.isoformat()}: "
                           f"run `arrears cycle --date {business_date.isoformat()}` first")
        writer.writerow(COLUMNS)
        query = (
            select(Account.account_ref, s.dpd, s.bucket, s.cycles_delinquent, s.amount_past_due, s.charge_off)
            .outerjoin(s, and_(s.account_id == Account.id, s.business_date == business_date,
                               s.superseded_by_run_id.is_(None)))
            .order_by(Account.account_ref)
        )
        n = 0
        for ref, dpd, bucket, cycles, past_due, charge_off in conn.execution_options(yield_per=10_000).execute(query):
            writer.writerow((ref, business_date.isoformat(), dpd or 0, bucket or current, cycles or 0,
                             past_due or 0, "true" if charge_off else "false"))
            n += 1
    return n
