"""Vectorised delinquency engine: the whole portfolio in linear NumPy passes over sorted arrays.

Same rules as :func:`arrears.delinquency.model.assess` (the reference), computed with a closed form
instead of a payment-by-payment simulation. Per account, order events by (date, payments before
statements) and let ``S`` be the running sum of own minimums minus payments:

* Payments are applied oldest statement first and excess is dropped, so the amount applied to
  minimums by the as-of date ``D`` is one number per account: ``A = P + min(0, min S)`` with ``P``
  the total paid through ``D`` (a reflected walk).
* Money is applied as a prefix of the statements, so ``unpaid_i = clamp(C_i - A, 0, own_min_i)``
  with ``C_i`` the running own minimum through statement ``i`` (``C_0 = 0``).
* ``S`` only falls between two statements, so its minimum is reached at the end of a period, just
  before the next statement ``k + 1`` (dated ``t_{k+1}``; payments on that date come first)::

      min(0, min S) -> min over k = 0..n-1 of (C_k - P(<= t_{k+1}))

  The ``k = 0`` term is ``-P(<= t_1) <= 0``. The period after the newest statement is left out:
  it can only lower ``A`` to ``C_n`` when ``A`` is already at least ``C_n``, and then every unpaid
  amount is 0 either way.

Statements sorted by (account, statement date) and payments by (account, value date) make every
step a linear pass: running sums are cumulative sums read back at account boundaries, ``P(<= t)``
is a binary search of an (account, day) key in the payments, per-account figures are segment
reductions, and ranks within an account are index arithmetic. Unsorted input is sorted once first
(correct, but slower). The work runs in cache-sized blocks of whole accounts on several threads.
Holds are few and are applied only to accounts with an unsatisfied past-due statement.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

import duckdb
import numpy as np
import pyarrow as pa

from arrears.delinquency.model import CYCLE_SLOTS, DelinquencyRules

OUTPUT_COLUMNS = (
    "account_key",
    "as_of",
    "dpd",
    "delinquent",
    "bucket",
    "cycles_delinquent",
    "amount_past_due",
    *(f"past_due_c{i}" for i in range(1, CYCLE_SLOTS)),
    f"past_due_c{CYCLE_SLOTS}p",
    "charge_off",
    "oldest_unpaid_due_date",
)
OUTPUT_SCHEMA = pa.schema([
    ("account_key", pa.int64()),
    ("as_of", pa.date32()),
    ("dpd", pa.int32()),
    ("delinquent", pa.bool_()),
    ("bucket", pa.string()),
    ("cycles_delinquent", pa.int32()),
    *((name, pa.int64()) for name in OUTPUT_COLUMNS[6:6 + CYCLE_SLOTS + 1]),
    ("charge_off", pa.bool_()),
    ("oldest_unpaid_due_date", pa.date32()),
])

STATEMENT_COLUMNS = ("account_key", "statement_date", "due_date", "minimum_due", "past_due_included")
PAYMENT_COLUMNS = ("account_key", "value_date", "amount")
HOLD_COLUMNS = ("account_key", "start_date", "end_date", "pauses_ageing")

_EPOCH = date(1970, 1, 1)


def _ident(name: str) -> str:
    """Quote a (possibly schema-qualified) relation name."""
    if not name or not isinstance(name, str):
        raise ValueError(f"not a relation name: {name!r}")
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _day(d: date) -> int:
    if not isinstance(d, date):
        raise TypeError(f"as_of dates must be datetime.date, got {d!r}")
    return (d - _EPOCH).days


def _column(table: pa.Table, name: str, what: str, *, nullable: bool = False) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise ValueError(f"{what}: column {name!r} is missing")
    col = table.column(name)
    if col.null_count and not nullable:
        raise ValueError(f"{what}: column {name!r} has empty values")
    return col


def _ints(table: pa.Table, name: str, what: str) -> np.ndarray:
    """An integer column as int64 (money and keys)."""
    col = _column(table, name, what)
    if not pa.types.is_integer(col.type):
        raise TypeError(f"{what}: column {name!r} must be integer, got {col.type}")
    return np.asarray(col.to_numpy(), dtype=np.int64)


def _days(table: pa.Table, name: str, what: str, *, nullable: bool = False) -> np.ndarray:
    """A date column as int32 days since 1970-01-01 (nulls, if allowed, become the largest day)."""
    col = _column(table, name, what, nullable=nullable)
    if not pa.types.is_date(col.type):
        raise TypeError(f"{what}: column {name!r} must be a date, got {col.type}")
    days = col.cast(pa.date32()).cast(pa.int32())
    if days.null_count:
        days = days.fill_null(np.iinfo(np.int32).max)
    return np.asarray(days.to_numpy(), dtype=np.int32)


def _sorted_or_sort(ck: np.ndarray, *, strict: bool, what: str) -> np.ndarray | None:
    """None if ``ck`` is already in order, else the permutation that sorts it.

    ``strict``: equal keys are an error (two statements of one account on one day).
    """
    ahead = ck[1:] > ck[:-1] if strict else ck[1:] >= ck[:-1]
    if ahead.all():
        return None
    order = np.argsort(ck, kind="stable")
    if strict:
        ck = ck[order]
        if (ck[1:] == ck[:-1]).any():
            raise ValueError(f"{what}: two statements on one account share a statement date")
    return order


def _check_sums_fit(own: np.ndarray, p_amt: np.ndarray) -> None:
    """Refuse amounts whose int64 sums could wrap, instead of giving a wrong answer.

    The running sums are taken over the whole ledger, not per account. With ``C`` the total of own
    minimums and ``P`` the total paid (both >= 0), every intermediate value in :meth:`_Ledger._block`
    lies in ``[-2(P + C), 2(P + C)]`` (``run <= C``, ``paid <= P``, ``applied <= 2P + C``,
    ``applied + base_c <= 2(P + C)``), so ``2(P + C) < 2^63`` is enough. Bounded here by count x
    largest value, exactly, in Python integers. With every amount at most ``max_amount_fen``
    (10^10 fen by default, enforced at ingestion) it holds up to 4.6e8 rows.
    """
    bound = int(own.size) * int(own.max(initial=0)) + int(p_amt.size) * int(p_amt.max(initial=0))
    if 2 * bound >= 2**63:
        raise ValueError(
            f"amounts too large for 64-bit sums: {own.size} statements with own minimums up to "
            f"{int(own.max(initial=0))} and {p_amt.size} payments up to {int(p_amt.max(initial=0))} fen could add "
            f"up past 2^63 (ingestion bounds each amount by ARREARS_MAX_AMOUNT_FEN)")


_BLOCK_ROWS = 1 << 16
"""Statements per block of accounts (whole accounts, so a block may hold a few more)."""


@dataclass(frozen=True)
class _Issued:
    """Statements issued by one as-of date, with account boundaries (``starts``, ``ends``)."""

    as_of: int
    s_due: np.ndarray
    own: np.ndarray
    s_ck: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    acc_ck: np.ndarray  # combined key of (account, first possible day)


class _Figures:
    """Per-account results of one as-of date, filled block by block."""

    def __init__(self, n_acc: int) -> None:
        self.cycles = np.zeros(n_acc, dtype=np.int32)
        self.amount = np.zeros(n_acc, dtype=np.int64)
        self.by_cycle = np.zeros((CYCLE_SLOTS, n_acc), dtype=np.int64)
        self.oldest = np.zeros(n_acc, dtype=np.int32)  # as_of where nothing is behind


class _Ledger:
    """The ledger as sorted NumPy arrays, ready for any number of as-of dates."""

    def __init__(self, statements: pa.Table, payments: pa.Table, holds: pa.Table,
                 as_of_days: Sequence[int], accounts: pa.Array | pa.ChunkedArray | Sequence[int] | None) -> None:
        s_key = _ints(statements, "account_key", "statements")
        s_day = _days(statements, "statement_date", "statements")
        s_due = _days(statements, "due_date", "statements")
        own = _ints(statements, "minimum_due", "statements") - _ints(statements, "past_due_included", "statements")
        p_key = _ints(payments, "account_key", "payments")
        p_day = _days(payments, "value_date", "payments")
        p_amt = _ints(payments, "amount", "payments")
        h_key = _ints(holds, "account_key", "holds")
        h_start = _days(holds, "start_date", "holds")
        h_end = _days(holds, "end_date", "holds", nullable=True)
        h_pause = np.asarray(_column(holds, "pauses_ageing", "holds").to_numpy(), dtype=bool)

        if accounts is not None:
            if isinstance(accounts, (pa.Array, pa.ChunkedArray)):
                accounts = accounts.drop_null().to_numpy()
            wanted = np.unique(np.asarray(accounts, dtype=np.int64))
            keep = np.isin(s_key, wanted)
            s_key, s_day, s_due, own = s_key[keep], s_day[keep], s_due[keep], own[keep]
            keep = np.isin(p_key, wanted)
            p_key, p_day, p_amt = p_key[keep], p_day[keep], p_amt[keep]
        if own.size and own.min() < 0:
            raise ValueError("statements: past_due_included exceeds minimum_due")
        if p_amt.size and p_amt.min() < 0:
            raise ValueError("payments: negative amount")
        _check_sums_fit(own, p_amt)

        # Combined key (account, day): one int64 that sorts like the pair. Account keys are the
        # store's integer ids, so the product stays far below 2**62; otherwise use dense ranks.
        days = [a for a in (s_day, p_day) if a.size] + [np.asarray(as_of_days, dtype=np.int32)]
        lo = min(int(a.min()) for a in days)
        width = max(int(a.max()) for a in days) - lo + 1
        keys = [a for a in (s_key, p_key) if a.size] or [np.zeros(1, np.int64)]
        k_lo = min(int(a.min()) for a in keys)
        k_span = max(int(a.max()) for a in keys) - k_lo + 1
        dense_keys = None
        if k_span * width >= 2**62:
            dense_keys = np.unique(np.concatenate([s_key, p_key]))
            s_rank, p_rank = np.searchsorted(dense_keys, s_key), np.searchsorted(dense_keys, p_key)
            k_lo = 0
        else:
            s_rank, p_rank = s_key, p_key
        s_ck = (s_rank - k_lo) * width
        s_ck += s_day
        s_ck -= lo
        p_ck = (p_rank - k_lo) * width
        p_ck += p_day
        p_ck -= lo

        order = _sorted_or_sort(s_ck, strict=True, what="statements")
        if order is not None:
            s_key, s_day, s_due, own, s_ck = s_key[order], s_day[order], s_due[order], own[order], s_ck[order]
        order = _sorted_or_sort(p_ck, strict=False, what="payments")
        if order is not None:
            p_ck, p_amt = p_ck[order], p_amt[order]

        self.s_key, self.s_day, self.s_due, self.own, self.s_ck = s_key, s_day, s_due, own, s_ck
        self.p_ck = p_ck
        # paid[j] = total of the first j payments (in key order), so a range sum is a difference
        self.paid = np.zeros(p_amt.size + 1, dtype=np.int64)
        np.cumsum(p_amt, out=self.paid[1:])
        self.lo, self.width, self.k_lo = lo, width, k_lo
        self.dense_keys = dense_keys
        pausing = h_pause & (h_end >= h_start)
        self.h_key, self.h_start, self.h_end = h_key[pausing], h_start[pausing], h_end[pausing]
        self.last_statement_day = int(s_day.max()) if s_day.size else None

    def assess(self, as_of: int, rules: DelinquencyRules, threads: int) -> pa.Table:
        s_key, s_due, own, s_ck = self.s_key, self.s_due, self.own, self.s_ck
        if self.last_statement_day is not None and self.last_statement_day > as_of:
            mask = self.s_day <= as_of
            s_key, s_due, own, s_ck = s_key[mask], s_due[mask], own[mask], s_ck[mask]
        n = s_key.size
        if n == 0:
            return OUTPUT_SCHEMA.empty_table()

        # accounts = runs of equal keys
        change = np.flatnonzero(s_key[1:] != s_key[:-1]) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [n]))
        acc_keys = s_key[starts]
        n_acc = acc_keys.size
        acc_ck = acc_keys if self.dense_keys is None else np.searchsorted(self.dense_keys, acc_keys)
        acc_ck = (acc_ck - self.k_lo) * self.width  # (account, first possible day)
        issued = _Issued(as_of, s_due, own, s_ck, starts, ends, acc_ck)

        figures = _Figures(n_acc)
        # Blocks of whole accounts, small enough that a block's arrays stay in cache; blocks are
        # independent and NumPy releases the GIL, so they run on several threads.
        cuts = np.unique(np.searchsorted(starts, np.arange(0, n, _BLOCK_ROWS)))  # first account at/after
        cuts = cuts[cuts < n_acc].tolist() + [n_acc]
        blocks = list(pairwise(cuts))
        if threads > 1 and len(blocks) > 1:
            with ThreadPoolExecutor(min(threads, len(blocks))) as pool:
                for _ in pool.map(lambda b: self._block(issued, rules.tolerance, figures, *b), blocks):
                    pass
        else:
            for a0, a1 in blocks:
                self._block(issued, rules.tolerance, figures, a0, a1)

        has_bad = figures.cycles > 0
        oldest = figures.oldest
        dpd = (as_of - oldest).astype(np.int32)  # 0 where nothing is behind (oldest = as_of)
        if self.h_key.size and has_bad.any():
            dpd -= self._paused(acc_keys, oldest, has_bad, as_of)

        delinquent = dpd > rules.grace_days
        buckets = rules.buckets.buckets
        mins = np.array([b.min_dpd for b in buckets], dtype=np.int64)
        names = pa.array([b.name for b in buckets], type=pa.string())
        bucket = names.take(pa.array(np.searchsorted(mins, np.where(delinquent, dpd, 0), side="right") - 1))

        columns = [
            pa.array(acc_keys, type=pa.int64()),
            pa.array(np.full(n_acc, as_of, dtype=np.int32)).view(pa.date32()),
            pa.array(dpd, type=pa.int32()),
            pa.array(delinquent, type=pa.bool_()),
            bucket,
            pa.array(figures.cycles, type=pa.int32()),
            pa.array(figures.amount, type=pa.int64()),
            *(pa.array(c, type=pa.int64()) for c in figures.by_cycle),
            pa.array(dpd >= rules.charge_off_dpd, type=pa.bool_()),
            pa.array(oldest, mask=~has_bad).view(pa.date32()),
        ]
        return pa.Table.from_arrays(columns, schema=OUTPUT_SCHEMA)

    def _block(self, issued: _Issued, tolerance: int, out: _Figures, a0: int, a1: int) -> None:
        """Figures of accounts ``a0 .. a1 - 1`` (all but holds), written into ``out``."""
        as_of = issued.as_of
        s0, s1 = int(issued.starts[a0]), int(issued.ends[a1 - 1])
        own, s_ck, s_due = issued.own[s0:s1], issued.s_ck[s0:s1], issued.s_due[s0:s1]
        starts, ends = issued.starts[a0:a1] - s0, issued.ends[a0:a1] - s0
        n = s1 - s0
        acc_ck = issued.acc_ck[a0:a1]
        # the block's payments; paid[j] = total of the ledger's payments before payment p0 + j
        through = acc_ck + (as_of - self.lo)  # (account, as-of date)
        p0 = int(np.searchsorted(self.p_ck, acc_ck[0], side="left"))
        p1 = int(np.searchsorted(self.p_ck, through[-1], side="right"))
        p_ck, paid = self.p_ck[p0:p1], self.paid[p0:p1 + 1]

        # running own minimum; C through statement g of its account = run[g] - run_before[start]
        run = np.cumsum(own)
        run_before = run - own
        # paid through each statement's date (payments on that date come first)
        paid_at = paid[np.searchsorted(p_ck, s_ck, side="right")]
        # S at the end of each period: own minimums before statement g minus payments through its date
        low = np.minimum.reduceat(run_before - paid_at, starts)
        base_c = run_before[starts]
        base_p = paid[np.searchsorted(p_ck, acc_ck, side="left")]
        total_p = paid[np.searchsorted(p_ck, through, side="right")] - base_p
        low += base_p - base_c  # back to account-local sums
        # money applied to minimums fills statements oldest first: unpaid = clamp(C - applied, 0, own)
        applied = total_p + low
        unpaid = run - np.repeat(applied + base_c, ends - starts)
        np.maximum(unpaid, 0, out=unpaid)
        np.minimum(unpaid, own, out=unpaid)

        past_due = s_due < as_of
        past_unpaid = unpaid * past_due
        behind = past_unpaid > tolerance  # past due and not satisfied

        def before(flags: np.ndarray) -> np.ndarray:
            """Count of set flags before each position (length n + 1)."""
            out = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(flags, out=out[1:])
            return out

        n_pd, n_bad = before(past_due), before(behind)
        pd_count = n_pd[ends] - n_pd[starts]
        cycles = n_bad[ends] - n_bad[starts]
        amount = np.add.reduceat(past_unpaid, starts)
        out.cycles[a0:a1] = cycles
        out.amount[a0:a1] = amount

        oldest = out.oldest[a0:a1]
        oldest[:] = as_of
        bad_at = np.flatnonzero(behind)
        if bad_at.size:
            has_bad = cycles > 0
            oldest[has_bad] = s_due[bad_at[n_bad[starts][has_bad]]]

        # aged amounts: cycle r = the r-th newest past-due statement of the account
        pd_at = np.flatnonzero(past_due)
        by_cycle = out.by_cycle[:, a0:a1]
        if pd_at.size:
            last = n_pd[ends]
            for r in range(1, CYCLE_SLOTS):
                present = pd_count >= r
                by_cycle[r - 1][present] = unpaid[pd_at[last[present] - r]]
        by_cycle[CYCLE_SLOTS - 1] = amount - by_cycle[:CYCLE_SLOTS - 1].sum(axis=0)

    def _paused(self, acc_keys: np.ndarray, oldest: np.ndarray, has_bad: np.ndarray, as_of: int) -> np.ndarray:
        """Days in (oldest unpaid due date, as_of] under at least one pausing hold, per account."""
        out = np.zeros(acc_keys.size, dtype=np.int32)
        at = np.searchsorted(acc_keys, self.h_key)
        at_ok = np.minimum(at, acc_keys.size - 1)
        mine = (acc_keys[at_ok] == self.h_key) & has_bad[at_ok]
        at = at_ok[mine]
        first = np.maximum(self.h_start[mine], oldest[at] + 1).astype(np.int64)
        last = np.minimum(self.h_end[mine], as_of).astype(np.int64)
        some = first <= last
        at, first, last = at[some], first[some], last[some]
        if not at.size:
            return out
        order = np.lexsort((first, at))
        at, first, last = at[order], first[order], last[order]
        # Union of intervals per account: shift each account into its own range so one running
        # maximum of the end days never carries over from the previous account.
        day0 = int(first.min())
        span = int(last.max()) - day0 + 2
        shift = at.astype(np.int64) * span - day0
        first += shift
        last += shift
        reach = np.maximum.accumulate(last)
        covered_before = np.concatenate(([np.iinfo(np.int64).min], reach[:-1]))
        new_days = last - np.maximum(first - 1, covered_before)
        np.maximum(new_days, 0, out=new_days)
        np.add.at(out, at, new_days.astype(np.int32))
        return out


def assess_arrays(
    statements: pa.Table,
    payments: pa.Table,
    holds: pa.Table,
    *,
    as_of_dates: Sequence[date],
    rules: DelinquencyRules,
    accounts: pa.Array | pa.ChunkedArray | Sequence[int] | None = None,
    threads: int = 0,
) -> pa.Table:
    """Delinquency of every account with a statement on or before each as-of date.

    Columns used (others are ignored): statements ``account_key, statement_date, due_date,
    minimum_due, past_due_included``; payments ``account_key, value_date, amount``; holds
    ``account_key, start_date, end_date, pauses_ageing``. Fastest when statements are sorted by
    (account_key, statement_date) and payments by (account_key, value_date); other orders are
    sorted here first. ``accounts`` restricts the result to those account keys. One output row per
    (account_key, as_of), ordered by as_of then account_key. ``threads``: blocks of accounts run
    on this many threads (0 = one per CPU).
    """
    if not as_of_dates:
        raise ValueError("at least one as_of date is needed")
    days = sorted({_day(d) for d in as_of_dates})
    ledger = _Ledger(statements, payments, holds, days, accounts)
    threads = threads or os.cpu_count() or 1
    parts = [ledger.assess(d, rules, threads) for d in days]
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts)


def assess_portfolio(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of_dates: Sequence[date],
    rules: DelinquencyRules,
    statements: str = "statements",
    payments: str = "payments",
    holds: str = "holds",
    accounts: str | None = None,
) -> pa.Table:
    """:func:`assess_arrays` on relations of ``con`` (tables, views or registered Arrow tables),
    with as many threads as ``con`` uses.

    ``accounts`` names a relation with an ``account_key`` column. The relations are read in their
    own row order (insertion order is preserved for the read), so sorted relations stay sorted.
    """
    if not as_of_dates:
        raise ValueError("at least one as_of date is needed")
    only = ""
    if accounts is not None:
        only = f" WHERE account_key IN (SELECT account_key FROM {_ident(accounts)})"

    def read(name: str, columns: Sequence[str]) -> pa.Table:
        return con.sql(f"SELECT {', '.join(columns)} FROM {_ident(name)}{only}").to_arrow_table()

    threads, keep_order = con.sql(
        "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    ).fetchall()[0]
    con.execute("SET preserve_insertion_order = true")
    try:
        tables = read(statements, STATEMENT_COLUMNS), read(payments, PAYMENT_COLUMNS), read(holds, HOLD_COLUMNS)
    finally:
        if not keep_order:
            con.execute("SET preserve_insertion_order = false")
    return assess_arrays(*tables, as_of_dates=as_of_dates, rules=rules, threads=int(threads))


def floor_query(con: duckdb.DuckDBPyConnection, *, statements: str = "statements", payments: str = "payments") -> pa.Table:
    """Benchmark baseline: read the same inputs and group them by account, nothing more."""
    st, py = _ident(statements), _ident(payments)
    return con.sql(
        f"""
        SELECT account_key, sum(x)::BIGINT AS net, count(*) AS events, max(d) AS last_date FROM (
            SELECT account_key, minimum_due - past_due_included AS x, statement_date AS d FROM {st}
            UNION ALL
            SELECT account_key, -amount, value_date FROM {py}
        ) GROUP BY account_key
        """
    ).to_arrow_table()
