"""All SQL the daily cycle runs against the store: ledger extraction, stored state, writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, delete, func, insert, literal, select

from arrears.accounts.tables import Account, IngestRun
from arrears.cases.model import ENDED_STATES, OPEN_STATES
from arrears.cases.repository import latest_case_team
from arrears.cases.tables import OPEN_STATES_SQL, Case, CaseTransition
from arrears.delinquency.tables import BookFigure, BucketChange, CycleRun, DelinquencySnapshot
from arrears.kit.arrowdb import ArrowReader, epoch_days, packed_key_day, unpack_key_day
from arrears.kit.clock import utc_now

STATEMENTS_SCHEMA = pa.schema([
    ("account_key", pa.int64()), ("statement_date", pa.date32()), ("due_date", pa.date32()),
    ("minimum_due", pa.int64()), ("past_due_included", pa.int64()), ("new_balance", pa.int64()),
])
PAYMENTS_SCHEMA = pa.schema([("account_key", pa.int64()), ("value_date", pa.date32()), ("amount", pa.int64())])
HOLDS_SCHEMA = pa.schema([
    ("account_key", pa.int64()), ("start_date", pa.date32()), ("end_date", pa.date32()), ("pauses_ageing", pa.bool_()),
])
CHANGED_SCHEMA = pa.schema([("account_key", pa.int64()), ("restate_from", pa.date32())])
FIGURES = (
    "dpd", "delinquent", "bucket", "cycles_delinquent", "amount_past_due",
    "past_due_c1", "past_due_c2", "past_due_c3", "past_due_c4", "past_due_c5", "past_due_c6", "past_due_c7p",
    "charge_off", "oldest_unpaid_due_date",
)
SNAPSHOTS_SCHEMA = pa.schema([
    ("id", pa.int64()), ("account_key", pa.int64()), ("as_of", pa.date32()),
    ("dpd", pa.int32()), ("delinquent", pa.bool_()), ("bucket", pa.string()), ("cycles_delinquent", pa.int32()),
    ("amount_past_due", pa.int64()), ("past_due_c1", pa.int64()), ("past_due_c2", pa.int64()),
    ("past_due_c3", pa.int64()), ("past_due_c4", pa.int64()), ("past_due_c5", pa.int64()),
    ("past_due_c6", pa.int64()), ("past_due_c7p", pa.int64()), ("charge_off", pa.bool_()),
    ("oldest_unpaid_due_date", pa.date32()),
])
BUCKET_CHANGES_SCHEMA = pa.schema([
    ("id", pa.int64()), ("account_key", pa.int64()), ("as_of", pa.date32()),
    ("from_bucket", pa.string()), ("to_bucket", pa.string()), ("dpd", pa.int32()),
])
OPEN_CASES_SCHEMA = pa.schema([
    ("id", pa.int64()), ("account_key", pa.int64()), ("bucket", pa.string()), ("dpd", pa.int32()),
    ("balance", pa.int64()),
])
ENDED_CASES_SCHEMA = pa.schema([("id", pa.int64()), ("account_key", pa.int64()), ("status", pa.string())])


@dataclass(frozen=True)
class CycleContext:
    """What the store says before a run: which dates are done and how far ingestion had got."""

    completed_dates: tuple[date, ...]
    previous_watermark: int
    current_watermark: int
    account_count: int


def cycle_context(conn: Connection) -> CycleContext:
    dates = conn.execute(
        select(CycleRun.business_date).where(CycleRun.status == "completed").distinct().order_by(CycleRun.business_date)
    ).scalars().all()
    prev = conn.execute(select(func.coalesce(func.max(CycleRun.ingest_watermark), 0))
                        .where(CycleRun.status == "completed")).scalar_one()
    # A rejected file writes no ledger rows, so every ingest run id can serve as the watermark.
    now = conn.execute(select(func.coalesce(func.max(IngestRun.id), 0))).scalar_one()
    accounts = conn.execute(select(func.count()).select_from(Account)).scalar_one()
    return CycleContext(tuple(dates), int(prev), int(now), int(accounts))


def read_ledger(reader: ArrowReader, *, watermark: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Statements, payments and holds known up to ingest run ``watermark``, keyed by account id.

    Re-ages (``reages``, written by completed repayment plans) come in as payments: see
    :func:`read_reages`.

    Statements come ordered by (account, statement date) and payments by (account, value date),
    the order the array engine scans in (both follow an index of the store).
    """
    d = reader.dialect
    seen = f"(ingest_run_id IS NULL OR ingest_run_id <= {int(watermark)})"
    statements = _read_keyed(
        reader, "statements", "statement_date",
        f"{epoch_days('due_date', d)}, minimum_due, past_due_included, new_balance", seen, STATEMENTS_SCHEMA,
    )
    payments = _with_reages(_read_keyed(reader, "payments", "value_date", "amount", seen, PAYMENTS_SCHEMA),
                            read_reages(reader, watermark=watermark))
    holds = reader.read((
        f"SELECT account_id, {epoch_days('start_date', d)}, {epoch_days('end_date', d)}, "
        f"CASE WHEN pauses_ageing THEN 1 ELSE 0 END FROM holds WHERE {seen}"
    ), HOLDS_SCHEMA)
    return statements, payments, holds


def read_reages(reader: ArrowReader, *, watermark: int) -> pa.Table:
    """Every re-age as the payment that has the same effect on the ledger (PAYMENTS_SCHEMA).

    The engines allocate a payment to the oldest unpaid minimums and never carry a leftover
    forward, so re-ageing an account to current on date D is exactly a payment on D of every
    minimum issued before D: ``sum(minimum_due - past_due_included)`` over the account's statements
    dated before D (known up to ``watermark``). Paying them all, whatever was paid already, clears
    each one; what is left over is dropped like any overpayment. Statements from D on age as usual.
    """
    d = reader.dialect
    seen = f"(s.ingest_run_id IS NULL OR s.ingest_run_id <= {int(watermark)})"
    table = reader.read((
        f"SELECT r.account_id, {epoch_days('r.reage_date', d)}, "
        "(SELECT coalesce(sum(s.minimum_due - s.past_due_included), 0) FROM statements s "
        f"WHERE s.account_id = r.account_id AND s.statement_date < r.reage_date AND {seen}) "
        "FROM reages r"
    ), PAYMENTS_SCHEMA)
    return table.filter(pc.greater(table.column("amount"), 0))


def _with_reages(payments: pa.Table, reages: pa.Table) -> pa.Table:
    """``payments`` with the re-age payments merged in, still ordered by (account, value date)."""
    if reages.num_rows == 0:
        return payments
    merged = pa.concat_tables([payments, reages.cast(payments.schema)])
    return merged.take(pc.sort_indices(merged, sort_keys=[("account_key", "ascending"),
                                                          ("value_date", "ascending")]))


def _read_keyed(reader: ArrowReader, table: str, date_column: str, rest: str, where: str,
                schema: pa.Schema) -> pa.Table:
    """Read ``table`` ordered by (account, date); account and date travel packed in one integer."""
    order = f"ORDER BY account_id, {date_column}"
    packed_schema = pa.schema([("packed", pa.int64()), *list(schema)[2:]])
    packed = reader.read(
        f"SELECT {packed_key_day('account_id', date_column, reader.dialect)}, {rest} FROM {table} "
        f"WHERE {where} {order}", packed_schema,
    )
    unpacked = unpack_key_day(packed.column(0))
    if unpacked is None:  # a date outside what packs: read the plain columns instead
        return reader.read(
            f"SELECT account_id, {epoch_days(date_column, reader.dialect)}, {rest} FROM {table} WHERE {where} {order}",
            schema,
        )
    return pa.Table.from_arrays([*unpacked, *packed.columns[1:]], schema=schema)


def read_changed(reader: ArrowReader, *, after: int, upto: int) -> pa.Table:
    """Accounts with ledger rows from ingest runs in (after, upto], and the earliest date each touches
    (a statement's date, a payment's value date, a hold's start); and accounts re-aged since the last
    completed run finished, from the re-age date."""
    runs = f"ingest_run_id > {int(after)} AND ingest_run_id <= {int(upto)}"
    return reader.read((
        f"SELECT account_id, {epoch_days('min(d)', reader.dialect)} FROM ("
        f"SELECT account_id, statement_date AS d FROM statements WHERE {runs} "
        f"UNION ALL SELECT account_id, value_date FROM payments WHERE {runs} "
        f"UNION ALL SELECT account_id, start_date FROM holds WHERE {runs} "
        # A re-age written since the last completed run changes the past from its date on.
        "UNION ALL SELECT account_id, reage_date FROM reages WHERE created_at >= "
        "(SELECT max(finished_at) FROM cycle_runs WHERE status = 'completed')"
        ") AS changed GROUP BY account_id"
    ), CHANGED_SCHEMA)


def _date_list(dates: Sequence[date]) -> str:
    return ", ".join(f"'{d.isoformat()}'" for d in dates)


def read_snapshots(reader: ArrowReader, dates: Sequence[date]) -> pa.Table:
    """Current (not superseded) snapshots on the given business dates."""
    if not dates:
        return SNAPSHOTS_SCHEMA.empty_table()
    d = reader.dialect
    cols = ", ".join(
        epoch_days(c, d) if c == "oldest_unpaid_due_date"
        else (f"CASE WHEN {c} THEN 1 ELSE 0 END" if c in ("delinquent", "charge_off") else c)
        for c in FIGURES
    )
    return reader.read((
        f"SELECT id, account_id, {epoch_days('business_date', d)}, {cols} FROM delinquency_snapshots "
        f"WHERE superseded_by_run_id IS NULL AND business_date IN ({_date_list(dates)})"
    ), SNAPSHOTS_SCHEMA)


def read_bucket_changes(reader: ArrowReader, dates: Sequence[date]) -> pa.Table:
    if not dates:
        return BUCKET_CHANGES_SCHEMA.empty_table()
    d = reader.dialect
    return reader.read((
        f"SELECT id, account_id, {epoch_days('business_date', d)}, from_bucket, to_bucket, dpd "
        f"FROM bucket_changes WHERE superseded_by_run_id IS NULL AND business_date IN ({_date_list(dates)})"
    ), BUCKET_CHANGES_SCHEMA)


def read_open_cases(reader: ArrowReader) -> pa.Table:
    """Cases in an open lifecycle state (at most one per account)."""
    return reader.read(f"SELECT id, account_id, bucket, dpd, balance FROM cases WHERE {OPEN_STATES_SQL}", OPEN_CASES_SCHEMA)


def read_ended_cases(reader: ArrowReader) -> pa.Table:
    """For accounts without an open case: their latest case, when it has ended (cured or closed)."""
    return reader.read((
        f"SELECT c.id, c.account_id, c.status FROM cases c WHERE c.status IN ({', '.join(map(repr, ENDED_STATES))}) "
        "AND NOT EXISTS (SELECT 1 FROM cases o WHERE o.account_id = c.account_id AND o.id > c.id) "
        f"AND NOT EXISTS (SELECT 1 FROM cases o WHERE o.account_id = c.account_id AND o.{OPEN_STATES_SQL})"
    ), ENDED_CASES_SCHEMA)


def refresh_book_figures(conn: Connection, dates: Sequence[date], *, now: datetime | None = None) -> int:
    """Rewrite ``book_figures`` for ``dates``: per date, team and bucket, the accounts in arrears (current
    delinquent snapshots), their past-due amount and their open case's balance. An account counts in the
    team of its latest case as the cases stand now (no case, or a case given to no team: team None).

    Called in the writing transaction by whatever changes those figures: the cycle (for its date and
    every date it restated) and the assignment of cases to teams (for the latest cycle date). Returns the
    rows written."""
    days = sorted(set(dates))
    if not days:
        return 0
    snap = DelinquencySnapshot
    # Per snapshot, index look-ups (the team of the account's latest case; its open case, unique by the
    # partial index uq_cases_open_account) rather than joins to grouped sub-queries: see latest_case_team.
    team = latest_case_team(snap.account_id, snap)
    open_case = Case.__table__.alias("open_case")
    balance = (select(open_case.c.balance)
               .where(open_case.c.account_id == snap.account_id, open_case.c.status.in_(OPEN_STATES))
               .correlate(snap).scalar_subquery())
    stamp = now or utc_now()
    written = 0
    for start in range(0, len(days), 500):
        chunk = days[start:start + 500]
        conn.execute(delete(BookFigure).where(BookFigure.business_date.in_(chunk)))
        rows = (select(snap.business_date, snap.bucket, snap.amount_past_due, team.label("team_id"),
                       func.coalesce(balance, 0).label("balance"))
                .where(snap.business_date.in_(chunk), snap.superseded_by_run_id.is_(None), snap.delinquent)
                .subquery())
        grouped = (select(rows.c.business_date, rows.c.team_id, rows.c.bucket, func.count(),
                          func.sum(rows.c.amount_past_due), func.sum(rows.c.balance),
                          literal(stamp, BookFigure.refreshed_at.type))
                   .group_by(rows.c.business_date, rows.c.team_id, rows.c.bucket))
        result = conn.execute(insert(BookFigure).from_select(
            ["business_date", "team_id", "bucket", "accounts", "amount_past_due", "balance", "refreshed_at"],
            grouped))
        written += max(result.rowcount, 0)
    return written


def latest_cycle_date(conn: Connection) -> date | None:
    """The newest business date with a completed cycle run."""
    return conn.execute(select(func.max(CycleRun.business_date)).where(CycleRun.status == "completed")).scalar()


TABLES = {
    "snapshots": DelinquencySnapshot.__table__,
    "bucket_changes": BucketChange.__table__,
    "cases": Case.__table__,
    "case_transitions": CaseTransition.__table__,
    "cycle_runs": CycleRun.__table__,
}
