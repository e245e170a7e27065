"""The delinquency engine as SQL: the same closed form in a few DuckDB passes.

The batch runs :mod:`arrears.delinquency.engine` (sorted arrays) by default; this formulation is
the portable one — plain window functions and aggregates, so the same rule runs wherever SQL runs —
and is chosen with ``ARREARS_BATCH_ENGINE=sql``. It is slower on one machine because its window
functions sort the whole ledger (about 6-12x the bare read-and-group floor, against ~1x for the
array engine; see bench/RESULTS.md). Both are proved equal to the reference in the tests.
It is written to transpile to Spark SQL with SQLGlot (:mod:`.spark_engine`): day numbers come from
``date_diff('day', ...)`` rather than date subtraction, and paused days are the length of a union
of intervals computed with a window rather than ``unnest(range(...))``.

Same rules as :func:`arrears.delinquency.model.assess`, computed with the closed form:

* Events of one account are ordered by (date, payments before statements). ``S`` is the running
  sum of own minimums minus payments, ``C_i`` the running sum of own minimums up to statement
  ``i`` and ``P`` the total paid up to the as-of date.
* Payments are applied oldest-first and excess is dropped, so the amount applied to minimums is a
  reflected walk: ``A = P + min(0, min_k S_k)``. The minimum of ``S`` is reached just before a
  statement (payments only lower it), so with ``mu_i`` = the running minimum of ``S`` just before
  statements ``1..i``, and because later statements cannot matter to statement ``i``::

      unpaid_i = clamp(C_i - A, 0, own_min_i) = min(own_min_i, max(0, C_i - mu_i - P))

* Everything else (past due, satisfied, oldest unpaid, aged amounts) is a conditional aggregate
  over statements. Holds are applied after aggregation, only to accounts that have pausing holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import duckdb
import pyarrow as pa

from arrears.delinquency.engine import OUTPUT_COLUMNS, _ident
from arrears.delinquency.model import CYCLE_SLOTS, BucketTable, DelinquencyRules


def _date_lit(d: date) -> str:
    if not isinstance(d, date):
        raise TypeError(f"as_of dates must be datetime.date, got {d!r}")
    return f"DATE '{d.isoformat()}'"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bucket_case(buckets: BucketTable, dpd: str) -> str:
    # buckets are contiguous from 0 and ordered, so the first max_dpd at or above dpd wins
    whens = " ".join(
        f"WHEN {dpd} <= {b.max_dpd} THEN {_sql_text(b.name)}" for b in buckets.buckets if b.max_dpd is not None
    )
    last = _sql_text(buckets.buckets[-1].name)
    return f"CASE {whens} ELSE {last} END" if whens else last


def portfolio_sql(
    *,
    as_of_dates: Sequence[date],
    rules: DelinquencyRules,
    statements: str = "statements",
    payments: str = "payments",
    holds: str = "holds",
    accounts: str | None = None,
) -> str:
    """The SQL text of :func:`assess_portfolio_sql` (exposed for EXPLAIN and for other engines)."""
    if not as_of_dates:
        raise ValueError("at least one as_of date is needed")
    dates = sorted(set(as_of_dates))
    st, py, ho = _ident(statements), _ident(payments), _ident(holds)
    tol = int(rules.tolerance)

    if len(dates) == 1:
        # One business date: a constant, so the partition key is the account alone.
        d = _date_lit(dates[0])
        asof_from, asof_col, part = "", f"{d}", "account_key"
        s_where, p_where = f"s.statement_date <= {d}", f"p.value_date <= {d}"
    else:
        values = ", ".join(f"({_date_lit(x)})" for x in dates)
        asof_from = f", (VALUES {values}) AS a(as_of)"
        asof_col, part = "a.as_of", "account_key, as_of"
        s_where, p_where = "s.statement_date <= a.as_of", "p.value_date <= a.as_of"
    if accounts is not None:
        acc = _ident(accounts)
        s_where += f" AND s.account_key IN (SELECT account_key FROM {acc})"
        p_where += f" AND p.account_key IN (SELECT account_key FROM {acc})"

    c = CYCLE_SLOTS
    cycle_cols = ",\n".join(
        f"    coalesce(sum(unpaid) FILTER (WHERE pd_rank = {r}), 0)::BIGINT AS past_due_c{r}"
        for r in range(1, c)
    )
    out_cycles = ", ".join(f"g.past_due_c{r}" for r in range(1, c))
    bucket = _bucket_case(rules.buckets, "dpd")

    return f"""
WITH ev AS (
    -- k = day number * 2 + kind: payments (0) sort before statements (1) on the same day
    SELECT s.account_key, {asof_col} AS as_of,
           date_diff('day', DATE '1970-01-01', s.statement_date) * 2 + 1 AS k,
           (s.minimum_due - s.past_due_included)::BIGINT AS m,
           0::BIGINT AS pay,
           s.due_date AS due
    FROM {st} AS s{asof_from}
    WHERE {s_where}
    UNION ALL
    SELECT p.account_key, {asof_col}, date_diff('day', DATE '1970-01-01', p.value_date) * 2,
           0::BIGINT, p.amount::BIGINT, NULL::DATE
    FROM {py} AS p{asof_from}
    WHERE {p_where}
),
w1 AS (
    SELECT account_key, as_of, k, m, due,
           -- sums of BIGINT are HUGEINT in DuckDB; fen totals fit BIGINT and it is much faster
           CAST(sum(m - pay) OVER run AS BIGINT) AS s,
           CAST(sum(m) OVER run AS BIGINT) AS c,
           CAST(sum(pay) OVER whole AS BIGINT) AS paid
    FROM ev
    WINDOW run AS (PARTITION BY {part} ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           whole AS (PARTITION BY {part} ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
w2 AS (
    SELECT account_key, as_of, k, m, due, c, paid,
           min(s - m) OVER run AS mu,
           due < as_of AS pd,
           sum((due < as_of)::INTEGER) OVER whole - sum((due < as_of)::INTEGER) OVER run + 1 AS pd_rank
    FROM w1
    WHERE due IS NOT NULL
    WINDOW run AS (PARTITION BY {part} ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           whole AS (PARTITION BY {part} ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
st AS (
    SELECT account_key, as_of, k, due, pd, CASE WHEN pd THEN pd_rank END AS pd_rank,
           least(m, greatest(0, c - mu - paid)) AS unpaid
    FROM w2
),
g AS MATERIALIZED (
    SELECT account_key, as_of,
    arg_min(due, k) FILTER (WHERE pd AND unpaid > {tol}) AS oldest_due,
    count(*) FILTER (WHERE pd AND unpaid > {tol})::INTEGER AS cycles_delinquent,
    coalesce(sum(unpaid) FILTER (WHERE pd), 0)::BIGINT AS amount_past_due,
{cycle_cols},
    coalesce(sum(unpaid) FILTER (WHERE pd_rank >= {c}), 0)::BIGINT AS past_due_c{c}p
    FROM st
    GROUP BY account_key, as_of
),
hd AS (
    -- each pausing hold clipped to the days (oldest_due, as_of], as day numbers lo..hi; holds are few
    SELECT g.account_key, g.as_of,
           greatest(date_diff('day', DATE '1970-01-01', h.start_date),
                    date_diff('day', DATE '1970-01-01', g.oldest_due) + 1) AS lo,
           date_diff('day', DATE '1970-01-01', least(coalesce(h.end_date, g.as_of), g.as_of)) AS hi
    FROM g
    JOIN {ho} AS h ON h.account_key = g.account_key AND h.pauses_ageing
    WHERE g.oldest_due IS NOT NULL
),
paused AS (
    -- days under at least one of the clipped holds: the length of their union. In order of lo, a
    -- hold adds the days after the furthest end of those before it (the result ignores tie order).
    SELECT account_key, as_of, sum(greatest(0, hi - greatest(lo - 1, coalesce(before, lo - 1)))) AS days
    FROM (
        SELECT account_key, as_of, lo, hi,
               max(hi) OVER (PARTITION BY account_key, as_of ORDER BY lo, hi
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
        FROM hd
        WHERE lo <= hi
    ) AS clipped
    GROUP BY account_key, as_of
),
r AS (
    SELECT g.*,
           CASE WHEN g.oldest_due IS NULL THEN 0
                ELSE date_diff('day', g.oldest_due, g.as_of) - coalesce(p.days, 0) END::INTEGER AS dpd
    FROM g LEFT JOIN paused AS p ON p.account_key = g.account_key AND p.as_of = g.as_of
)
SELECT r.account_key::BIGINT AS account_key, r.as_of::DATE AS as_of, r.dpd,
       r.dpd > {int(rules.grace_days)} AS delinquent,
       CASE WHEN r.dpd > {int(rules.grace_days)} THEN {bucket} ELSE {_sql_text(rules.buckets.lookup(0))} END AS bucket,
       r.cycles_delinquent, r.amount_past_due,
       {out_cycles.replace("g.", "r.")}, r.past_due_c{c}p,
       r.dpd >= {int(rules.charge_off_dpd)} AS charge_off,
       r.oldest_due AS oldest_unpaid_due_date
FROM r
"""


def assess_portfolio_sql(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of_dates: Sequence[date],
    rules: DelinquencyRules,
    statements: str = "statements",
    payments: str = "payments",
    holds: str = "holds",
    accounts: str | None = None,
) -> pa.Table:
    """Delinquency of every account with a statement on or before each as-of date.

    Inputs are relation names on ``con`` (tables, views or registered Arrow tables). One output
    row per (account_key, as_of), ordered by as_of then account_key, with the columns of
    :data:`arrears.delinquency.engine.OUTPUT_COLUMNS`.
    """
    sql = portfolio_sql(
        as_of_dates=as_of_dates, rules=rules, statements=statements, payments=payments,
        holds=holds, accounts=accounts,
    )
    columns = ", ".join(OUTPUT_COLUMNS)
    return con.sql(f"SELECT {columns} FROM ({sql}) ORDER BY as_of, account_key").to_arrow_table()
