"""The daily delinquency cycle: ledger → delinquency for every account → snapshots, bucket-change
history and cases in the store.

Compute, then apply. The ledger is read once into Arrow and assessed by the vectorised engine
(sorted arrays by default, or the same closed form in DuckDB SQL); DuckDB then compares the result
with what the store already holds, and only the differences are written, in
ONE transaction together with the run record. So re-running a date changes nothing, and a run killed
part-way leaves the store as it was — the next run does the whole job.

Late news restates the past. Ledger rows that arrived since the last completed run (by ingest
watermark) mark their accounts as changed from the earliest date they touch (a payment's value date,
a statement's date, a hold's start). Every completed business date from there on is recomputed for
those accounts; rows that no longer hold are marked superseded (never deleted) and the corrected
rows added, so the history equals the one a run with the payment on time would have written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, bindparam, insert, literal, null, select, update
from sqlalchemy.orm import Session

from arrears.batch.lock import cycle_lock
from arrears.cases.model import INITIAL_STATE
from arrears.cases.queue import assign_cases
from arrears.delinquency import repository as repo
from arrears.delinquency.engine import assess_arrays
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.sql_engine import assess_portfolio_sql
from arrears.kit.arrowdb import ArrowReader, insert_arrow, update_column_by_id
from arrears.kit.clock import utc_now

Progress = Callable[[str, int, int], None]
STEPS = ("read ledger", "assess", "compare", "write")
_CHUNK = 5_000


@dataclass(frozen=True)
class BucketLine:
    bucket: str
    accounts: int
    amount_past_due: int
    balance: int


@dataclass
class CycleResult:
    run_id: int
    business_date: date
    accounts: int
    delinquent_accounts: int
    restated_from: date | None
    restated_accounts: int
    snapshots_written: int
    snapshots_superseded: int
    bucket_changes_written: int
    #: cases opened, including cured cases reopened in place
    cases_opened: int
    #: cases moved to ``cured``
    cases_closed: int
    summary: list[BucketLine]
    cases_reopened: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    #: open cases given to teams by the assignment rules in the run's transaction
    cases_assigned: int = 0


def _duck(threads: int, memory_limit: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def run_cycle(
    engine: Engine,
    *,
    business_date: date,
    rules: DelinquencyRules,
    progress: Progress | None = None,
    threads: int = 0,
    memory_limit: str = "3GB",
    engine_name: str = "arrays",
) -> CycleResult:
    """Run the cycle for ``business_date``; see the module docstring for what it guarantees."""
    tick = progress or (lambda _step, _done, _total: None)
    timings: dict[str, float] = {}
    started_at = utc_now()
    t0 = time.perf_counter()

    with cycle_lock(engine, business_date):
        with engine.connect() as conn:
            ctx = repo.cycle_context(conn)
        with ArrowReader(engine) as reader, closing(_duck(threads, memory_limit)) as con:
            plan = _compute(reader, con, ctx, business_date=business_date, rules=rules, tick=tick, timings=timings,
                            engine_name=engine_name, threads=threads)
        run_id, assigned = _write(engine, plan, business_date=business_date, started_at=started_at, tick=tick,
                                  timings=timings)
    timings["total"] = time.perf_counter() - t0

    order = {b.name: i for i, b in enumerate(rules.buckets.buckets)}
    current = rules.buckets.lookup(0)
    by_bucket = {r[0]: r for r in plan.summary_rows}
    without_statement = ctx.account_count - plan.assessed
    summary = []
    for b in sorted(set(by_bucket) | {current}, key=lambda n: order.get(n, len(order))):
        _, n, past_due, balance = by_bucket.get(b, (b, 0, 0, 0))
        extra = without_statement if b == current else 0
        summary.append(BucketLine(b, int(n) + extra, int(past_due or 0), int(balance or 0)))
    return CycleResult(
        run_id=run_id, business_date=business_date, accounts=ctx.account_count,
        delinquent_accounts=plan.delinquent, restated_from=plan.restate_from,
        restated_accounts=plan.restated_accounts, snapshots_written=plan.new_snapshots.num_rows,
        snapshots_superseded=len(plan.superseded_ids), bucket_changes_written=plan.new_changes.num_rows,
        cases_opened=len(plan.to_open) + len(plan.to_reopen), cases_closed=len(plan.to_close), summary=summary,
        cases_reopened=len(plan.to_reopen), timings=timings, cases_assigned=assigned,
    )


def _assess(
    con: duckdb.DuckDBPyConnection,
    ledger: tuple[pa.Table, pa.Table, pa.Table],
    dates: list[date],
    *,
    rules: DelinquencyRules,
    engine_name: str,
    threads: int,
    only_changed: bool = False,
) -> pa.Table:
    """Assess on ``dates`` — every account, or only those in the ``changed`` relation."""
    if engine_name == "sql":
        return assess_portfolio_sql(con, as_of_dates=dates, rules=rules, accounts="changed" if only_changed else None)
    if engine_name != "arrays":
        raise ValueError(f"unknown batch engine {engine_name!r}: use 'arrays' or 'sql'")
    accounts = con.sql("SELECT account_key FROM changed").to_arrow_table().column(0) if only_changed else None
    return assess_arrays(*ledger, as_of_dates=dates, rules=rules, accounts=accounts, threads=threads)


@dataclass
class _Plan:
    """Everything a run will write, computed before the write transaction opens."""

    ctx: repo.CycleContext
    assessed: int
    delinquent: int
    restate_from: date | None
    restated_accounts: int
    superseded_ids: list[int]
    new_snapshots: pa.Table
    superseded_change_ids: list[int]
    new_changes: pa.Table
    #: (account or case id, bucket, dpd, balance)
    to_open: list[tuple[int, str, int, int]]
    to_reopen: list[tuple[int, str, int, int]]
    to_close: list[int]
    to_update: list[tuple[int, str, int, int]]
    summary_rows: list[tuple[str, int, int, int]]


def _compute(
    reader: ArrowReader,
    con: duckdb.DuckDBPyConnection,
    ctx: repo.CycleContext,
    *,
    business_date: date,
    rules: DelinquencyRules,
    tick: Progress,
    timings: dict[str, float],
    engine_name: str,
    threads: int,
) -> _Plan:
    t = time.perf_counter()
    tick("read ledger", 0, 1)
    statements, payments, holds = repo.read_ledger(reader, watermark=ctx.current_watermark)
    tick("read ledger", 1, 1)
    timings["read_ledger"] = time.perf_counter() - t

    con.register("statements", statements)
    con.register("payments", payments)
    con.register("holds", holds)

    # -- which past dates to restate, for which accounts ---------------------------------
    t = time.perf_counter()
    tick("assess", 0, 2)
    done_dates = [d for d in ctx.completed_dates if d != business_date]
    # Only a past already run can need restating; a first run has none.
    changed = (repo.read_changed(reader, after=ctx.previous_watermark, upto=ctx.current_watermark)
               if done_dates else repo.CHANGED_SCHEMA.empty_table())
    con.register("changed", changed)
    first_changed = con.execute("SELECT min(restate_from) FROM changed").fetchall()[0][0]
    restate_dates = [d for d in done_dates if first_changed is not None and d >= first_changed]
    restate_from = first_changed if restate_dates else None
    restated_accounts = 0

    # -- assess --------------------------------------------------------------------------
    ledger = (statements, payments, holds)
    main = _assess(con, ledger, [business_date], rules=rules, engine_name=engine_name, threads=threads)
    con.register("main_result", main)
    parts = ["SELECT * FROM main_result"]
    if restate_dates:
        past = _assess(con, ledger, restate_dates, rules=rules, engine_name=engine_name, threads=threads,
                       only_changed=True)
        con.register("past_result", past)
        parts.append(
            "SELECT p.* FROM past_result p JOIN changed c USING (account_key) WHERE p.as_of >= c.restate_from"
        )
        restated_accounts = con.execute(
            f"SELECT count(*) FROM changed WHERE restate_from <= DATE '{restate_dates[-1].isoformat()}'"
        ).fetchall()[0][0]
    tick("assess", 1, 2)
    # Every (account, date) pair this run is responsible for.
    con.execute(f"""
        CREATE TEMP TABLE scope AS
        SELECT account_key, as_of FROM main_result
        UNION
        SELECT c.account_key, d.as_of FROM changed c
        CROSS JOIN (SELECT unnest([{', '.join(f"DATE '{d.isoformat()}'" for d in restate_dates)}]::DATE[]) AS as_of) d
        WHERE d.as_of >= c.restate_from
    """)
    figures = ", ".join(repo.FIGURES)
    con.execute(f"""
        CREATE TEMP TABLE computed AS
        SELECT account_key, as_of, {figures} FROM ({' UNION ALL '.join(parts)})
        WHERE dpd > 0 OR amount_past_due > 0 OR charge_off
    """)
    tick("assess", 2, 2)
    timings["assess"] = time.perf_counter() - t

    # -- compare with the store ----------------------------------------------------------
    t = time.perf_counter()
    tick("compare", 0, 1)
    all_dates = sorted(set(done_dates) | {business_date})
    previous = {d: p for p, d in pairwise(all_dates)}
    scope_dates = sorted(set(restate_dates) | {business_date})
    wanted_dates = sorted(set(scope_dates) | {previous[d] for d in scope_dates if d in previous})
    con.register("stored", repo.read_snapshots(reader, wanted_dates))
    con.register("stored_changes", repo.read_bucket_changes(reader, scope_dates))
    is_latest = not ctx.completed_dates or business_date >= max(ctx.completed_dates)
    con.register("open_cases", repo.read_open_cases(reader) if is_latest else repo.OPEN_CASES_SCHEMA.empty_table())
    con.register("ended_cases", repo.read_ended_cases(reader) if is_latest else repo.ENDED_CASES_SCHEMA.empty_table())

    same = " AND ".join(f"s.{c} IS NOT DISTINCT FROM n.{c}" for c in repo.FIGURES)
    con.execute("""
        CREATE TEMP TABLE old_in_scope AS
        SELECT s.* FROM stored s JOIN scope USING (account_key, as_of)
    """)
    superseded_ids = [r[0] for r in con.execute(f"""
        SELECT s.id FROM old_in_scope s LEFT JOIN computed n USING (account_key, as_of)
        WHERE n.account_key IS NULL OR NOT ({same})
    """).fetchall()]
    new_snapshots = con.sql(f"""
        SELECT n.account_key AS account_id, n.as_of AS business_date, {', '.join('n.' + c for c in repo.FIGURES)}
        FROM computed n LEFT JOIN old_in_scope s USING (account_key, as_of)
        WHERE s.account_key IS NULL OR NOT ({same})
    """).to_arrow_table()

    # Bucket on every run date after this run: recomputed where in scope, else as stored, else current.
    current = rules.buckets.lookup(0)
    prev_pairs = ", ".join(f"(DATE '{d.isoformat()}', DATE '{p.isoformat()}')" for d, p in previous.items())
    con.execute("""
        CREATE TEMP TABLE state AS
        SELECT account_key, as_of, bucket, dpd FROM computed
        UNION ALL
        SELECT s.account_key, s.as_of, s.bucket, s.dpd FROM stored s ANTI JOIN scope USING (account_key, as_of)
    """)
    con.execute(f"""
        CREATE TEMP TABLE prev_dates AS
        SELECT * FROM (VALUES {prev_pairs or "(NULL::DATE, NULL::DATE)"}) v(as_of, prev_as_of)
        WHERE as_of IS NOT NULL
    """)
    con.execute(f"""
        CREATE TEMP TABLE wanted_changes AS
        WITH pairs AS (
            SELECT x.account_key, x.as_of, pd.prev_as_of FROM (
                SELECT account_key, as_of FROM state JOIN scope USING (account_key, as_of)
                UNION
                SELECT st.account_key, pd.as_of FROM state st JOIN prev_dates pd ON st.as_of = pd.prev_as_of
                JOIN scope sc ON sc.account_key = st.account_key AND sc.as_of = pd.as_of
            ) x LEFT JOIN prev_dates pd ON pd.as_of = x.as_of
        )
        SELECT p.account_key, p.as_of,
               coalesce(b.bucket, '{current}') AS from_bucket,
               coalesce(a.bucket, '{current}') AS to_bucket,
               coalesce(a.dpd, 0) AS dpd
        FROM pairs p
        LEFT JOIN state a ON a.account_key = p.account_key AND a.as_of = p.as_of
        LEFT JOIN state b ON b.account_key = p.account_key AND b.as_of = p.prev_as_of
        WHERE coalesce(a.bucket, '{current}') <> coalesce(b.bucket, '{current}')
    """)
    same_change = "s.from_bucket = w.from_bucket AND s.to_bucket = w.to_bucket AND s.dpd = w.dpd"
    superseded_change_ids = [r[0] for r in con.execute(f"""
        SELECT s.id FROM stored_changes s JOIN scope USING (account_key, as_of)
        LEFT JOIN wanted_changes w USING (account_key, as_of)
        WHERE w.account_key IS NULL OR NOT ({same_change})
    """).fetchall()]
    new_changes = con.sql(f"""
        SELECT w.account_key AS account_id, w.as_of AS business_date, w.from_bucket, w.to_bucket, w.dpd
        FROM wanted_changes w LEFT JOIN stored_changes s USING (account_key, as_of)
        WHERE s.account_key IS NULL OR NOT ({same_change})
    """).to_arrow_table()

    # Cases follow the newest business date only. A delinquent account without an open case gets a
    # new case, or its cured case back (cured -> new, same row); a case closed by decision stays closed.
    # Each case carries the balance of the account's latest statement: the work queue ranks by it.
    con.execute("""
        CREATE TEMP TABLE latest_balance AS
        SELECT account_key, arg_max(new_balance, statement_date) AS balance FROM statements
        WHERE statement_date <= (SELECT max(as_of) FROM main_result) GROUP BY account_key
    """)
    if is_latest:
        to_open = con.execute("""
            SELECT m.account_key, m.bucket, m.dpd, coalesce(l.balance, 0) FROM main_result m
            ANTI JOIN open_cases o USING (account_key) ANTI JOIN ended_cases e USING (account_key)
            LEFT JOIN latest_balance l USING (account_key)
            WHERE m.delinquent ORDER BY m.account_key
        """).fetchall()
        to_reopen = con.execute("""
            SELECT e.id, m.bucket, m.dpd, coalesce(l.balance, 0) FROM main_result m
            JOIN ended_cases e USING (account_key) LEFT JOIN latest_balance l USING (account_key)
            WHERE m.delinquent AND e.status = 'cured' ORDER BY e.id
        """).fetchall()
        to_close = [r[0] for r in con.execute("""
            SELECT o.id FROM open_cases o LEFT JOIN main_result m USING (account_key)
            WHERE m.account_key IS NULL OR NOT m.delinquent
        """).fetchall()]
        to_update = con.execute("""
            SELECT o.id, m.bucket, m.dpd, coalesce(l.balance, 0) FROM open_cases o JOIN main_result m USING (account_key)
            LEFT JOIN latest_balance l USING (account_key)
            WHERE m.delinquent AND (o.bucket <> m.bucket OR o.dpd <> m.dpd OR o.balance <> coalesce(l.balance, 0))
        """).fetchall()
    else:
        to_open, to_reopen, to_close, to_update = [], [], [], []

    summary_rows = con.execute("""
        SELECT m.bucket, count(*), sum(m.amount_past_due)::BIGINT, coalesce(sum(l.balance), 0)::BIGINT
        FROM main_result m LEFT JOIN latest_balance l USING (account_key) GROUP BY m.bucket
    """).fetchall()
    delinquent = con.execute("SELECT count(*) FROM main_result WHERE delinquent").fetchall()[0][0]
    assessed = main.num_rows
    tick("compare", 1, 1)
    timings["compare"] = time.perf_counter() - t
    return _Plan(
        ctx=ctx, assessed=assessed, delinquent=delinquent, restate_from=restate_from,
        restated_accounts=restated_accounts, superseded_ids=superseded_ids, new_snapshots=new_snapshots,
        superseded_change_ids=superseded_change_ids, new_changes=new_changes, to_open=to_open,
        to_reopen=to_reopen, to_close=to_close, to_update=to_update, summary_rows=summary_rows,
    )


def _write(engine: Engine, plan: _Plan, *, business_date: date, started_at: datetime, tick: Progress,
           timings: dict[str, float]) -> tuple[int, int]:
    """Apply a plan in ONE transaction, together with the run record and the new cases' teams;
    returns the run id and the number of cases given to teams."""
    t = time.perf_counter()
    ctx, new_snapshots, new_changes = plan.ctx, plan.new_snapshots, plan.new_changes
    to_open, to_reopen, to_close = plan.to_open, plan.to_reopen, plan.to_close
    tick("write", 0, 1)
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(repo.TABLES["cycle_runs"]).values(
                business_date=business_date, status="completed", ingest_watermark=ctx.current_watermark,
                accounts_assessed=plan.assessed, delinquent_accounts=plan.delinquent,
                restated_from=plan.restate_from, restated_accounts=plan.restated_accounts, snapshots_written=new_snapshots.num_rows,
                bucket_changes=new_changes.num_rows, cases_opened=len(to_open) + len(to_reopen),
                cases_closed=len(to_close), started_at=started_at, finished_at=utc_now(),
            ).returning(repo.TABLES["cycle_runs"].c.id)
        ).scalar_one()
        update_column_by_id(conn, repo.TABLES["snapshots"], plan.superseded_ids, "superseded_by_run_id", run_id)
        update_column_by_id(conn, repo.TABLES["bucket_changes"], plan.superseded_change_ids, "superseded_by_run_id",
                            run_id)
        run_col = pa.array([run_id] * new_snapshots.num_rows, pa.int64())
        insert_arrow(conn, repo.TABLES["snapshots"], new_snapshots.append_column("cycle_run_id", run_col))
        run_col = pa.array([run_id] * new_changes.num_rows, pa.int64())
        insert_arrow(conn, repo.TABLES["bucket_changes"], new_changes.append_column("cycle_run_id", run_col))
        _write_cases(conn, plan, business_date=business_date, run_id=run_id)
        # new cases go to their teams in the same transaction: a run killed after its commit can never
        # leave open cases without a team
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            assigned = sum(assign_cases(session, refresh_figures=False).values())
            session.commit()  # releases the savepoint; the run's transaction commits below
        # the dashboards' book per date, team and bucket: this date and every date restated
        restated = [d for d in ctx.completed_dates if plan.restate_from is not None and d >= plan.restate_from]
        repo.refresh_book_figures(conn, [business_date, *restated])
    tick("write", 1, 1)
    timings["write"] = time.perf_counter() - t
    return int(run_id), assigned


def _write_cases(conn: Connection, plan: _Plan, *, business_date: date, run_id: int) -> None:
    """Open, reopen, cure and refresh cases; every lifecycle move is recorded as a transition by
    actor ``cycle``, its ``from_state`` read in this same transaction."""
    cases, moves = repo.TABLES["cases"], repo.TABLES["case_transitions"]
    now = utc_now()
    move_cols = ["case_id", "from_state", "to_state", "actor", "reason", "at", "cycle_run_id"]

    def record(where, from_state, to_state: str, reason: str) -> None:  # type: ignore[no-untyped-def]
        conn.execute(insert(moves).from_select(move_cols, select(
            cases.c.id, from_state, literal(to_state), literal("cycle"), literal(reason),
            literal(now, moves.c.at.type), literal(run_id, moves.c.cycle_run_id.type),
        ).where(where)))

    if plan.to_open:
        conn.execute(insert(cases), [
            {"account_id": a, "status": INITIAL_STATE, "opened_on": business_date, "open_bucket": b, "bucket": b,
             "dpd": d, "balance": bal, "opened_by_run_id": run_id, "reopen_count": 0, "created_at": now,
             "updated_at": now}
            for a, b, d, bal in plan.to_open
        ])
        record(cases.c.opened_by_run_id == run_id, null(), INITIAL_STATE, "account became delinquent")
    for start in range(0, len(plan.to_close), _CHUNK):
        ids = plan.to_close[start:start + _CHUNK]
        record(cases.c.id.in_(ids), cases.c.status, "cured", "account no longer delinquent")
        conn.execute(update(cases).where(cases.c.id.in_(ids)).values(
            status="cured", closed_on=business_date, close_reason="cured", closed_by_run_id=run_id, updated_at=now))
    for start in range(0, len(plan.to_reopen), _CHUNK):
        chunk = plan.to_reopen[start:start + _CHUNK]
        record(cases.c.id.in_([i for i, *_ in chunk]), cases.c.status, INITIAL_STATE,
               "account delinquent again after a cure")
        conn.execute(
            update(cases).where(cases.c.id == bindparam("case_id")).values(
                status=INITIAL_STATE, closed_on=None, close_reason=None, closed_by_run_id=None,
                reopened_on=business_date, reopen_count=cases.c.reopen_count + 1,
                bucket=bindparam("new_bucket"), dpd=bindparam("new_dpd"), balance=bindparam("new_balance"),
                updated_at=now),
            [{"case_id": i, "new_bucket": b, "new_dpd": d, "new_balance": bal} for i, b, d, bal in chunk],
        )
    if plan.to_update:
        conn.execute(
            update(cases).where(cases.c.id == bindparam("case_id")).values(
                bucket=bindparam("new_bucket"), dpd=bindparam("new_dpd"), balance=bindparam("new_balance"),
                updated_at=now),
            [{"case_id": i, "new_bucket": b, "new_dpd": d, "new_balance": bal} for i, b, d, bal in plan.to_update],
        )
