"""The vectorised engine must agree with the pure reference on random portfolios, row by row."""

from __future__ import annotations

import random
from datetime import date, timedelta
from unittest import mock

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.delinquency import engine
from arrears.delinquency.engine import (
    OUTPUT_COLUMNS,
    assess_arrays,
    assess_portfolio,
    floor_query,
)
from arrears.delinquency.model import (
    Bucket,
    BucketTable,
    DelinquencyRules,
    DelinquencyState,
    Hold,
    Payment,
    Statement,
    assess,
)
from arrears.delinquency.sql_engine import assess_portfolio_sql

BASE = date(2024, 1, 1)

# A few bucket tables, so the vectorised bucket lookup is tested against lookup() on more than the default.
TABLES = [
    BucketTable.default(),
    BucketTable((Bucket("current", 0, 5), Bucket("early", 6, 40), Bucket("late", 41, None))),
    BucketTable((Bucket("all", 0, None),)),
]


@st.composite
def account_history(draw: st.DrawFn) -> tuple[list[Statement], list[Payment], list[Hold]]:
    n_st = draw(st.integers(0, 9))
    statements: list[Statement] = []
    day = draw(st.integers(0, 20))
    carried = 0
    for _ in range(n_st):
        gap_to_due = draw(st.integers(1, 45))
        own = draw(st.sampled_from([0, 500, 1000, 1001, 3000]) | st.integers(0, 20_000))
        # the bank prints the carried-over part inside minimum_due; the engine must not count it twice
        included = draw(st.integers(0, carried)) if carried else 0
        statements.append(
            Statement(BASE + timedelta(day), BASE + timedelta(day + gap_to_due), own + included, included)
        )
        carried = min(carried + own, 50_000)
        day += draw(st.integers(1, 40))
    payments = [
        Payment(BASE + timedelta(draw(st.integers(0, 300))), draw(st.sampled_from([1, 999, 1000, 5000]) | st.integers(0, 30_000)))
        for _ in range(draw(st.integers(0, 9)))
    ]
    holds = []
    for _ in range(draw(st.integers(0, 3))):
        start = BASE + timedelta(draw(st.integers(0, 300)))
        length = draw(st.none() | st.integers(0, 60))
        end = None if length is None else start + timedelta(length)
        holds.append(Hold(start, end, draw(st.booleans())))
    return statements, payments, holds


def _tables(portfolio: dict[int, tuple[list[Statement], list[Payment], list[Hold]]],
            layout: str = "as generated", seed: int = 0) -> dict[str, pa.Table]:
    """Ledger tables with rows "sorted" by (account, date) as the store extracts them, "as generated"
    (accounts in random key order, payments in random date order) or "shuffled"."""
    s_rows, p_rows, h_rows = [], [], []
    for key, (stmts, pays, holds) in portfolio.items():
        s_rows += [(key, s.statement_date, s.due_date, s.minimum_due, s.past_due_included) for s in stmts]
        p_rows += [(key, p.value_date, p.amount) for p in pays]
        h_rows += [(key, h.start_date, h.end_date, h.pauses_ageing) for h in holds]
    if layout == "sorted":
        s_rows.sort(key=lambda r: r[:2])
        p_rows.sort(key=lambda r: r[:2])
    elif layout == "shuffled":
        rnd = random.Random(seed)
        for rows in (s_rows, p_rows, h_rows):
            rnd.shuffle(rows)

    def table(rows: list[tuple], schema: pa.Schema) -> pa.Table:
        cols = list(zip(*rows)) if rows else [[] for _ in schema]
        return pa.table([pa.array(list(c), type=f.type) for c, f in zip(cols, schema)], schema=schema)

    return {
        "statements": table(s_rows, pa.schema([("account_key", pa.int64()), ("statement_date", pa.date32()),
                                               ("due_date", pa.date32()), ("minimum_due", pa.int64()),
                                               ("past_due_included", pa.int64())])),
        "payments": table(p_rows, pa.schema([("account_key", pa.int64()), ("value_date", pa.date32()),
                                             ("amount", pa.int64())])),
        "holds": table(h_rows, pa.schema([("account_key", pa.int64()), ("start_date", pa.date32()),
                                          ("end_date", pa.date32()), ("pauses_ageing", pa.bool_())])),
    }


def _state_of(row: dict) -> DelinquencyState:
    return DelinquencyState(
        dpd=row["dpd"],
        delinquent=row["delinquent"],
        bucket=row["bucket"],
        cycles_delinquent=row["cycles_delinquent"],
        amount_past_due=row["amount_past_due"],
        past_due_by_cycle=tuple(row[f"past_due_c{i}"] for i in range(1, 7)) + (row["past_due_c7p"],),
        charge_off=row["charge_off"],
        oldest_unpaid_due_date=row["oldest_unpaid_due_date"],
    )


def _by_key(out: pa.Table) -> dict[tuple[int, date], DelinquencyState]:
    assert tuple(out.column_names) == OUTPUT_COLUMNS
    rows = out.to_pylist()
    keys = [(r["as_of"], r["account_key"]) for r in rows]
    assert keys == sorted(set(keys))  # one row per account and date, ordered by date then account
    return {(r["account_key"], r["as_of"]): _state_of(r) for r in rows}


def _run(con, portfolio, as_ofs, rules, accounts=None, layout="as generated", seed=0):
    for name, tbl in _tables(portfolio, layout, seed).items():
        con.register(name, tbl)
    kwargs = {}
    if accounts is not None:
        con.register("wanted", pa.table({"account_key": pa.array(sorted(accounts), type=pa.int64())}))
        kwargs["accounts"] = "wanted"
    return _by_key(assess_portfolio(con, as_of_dates=as_ofs, rules=rules, **kwargs))


def _expected(portfolio, as_ofs, rules, accounts=None):
    expected = {}
    for key, (stmts, pays, holds) in portfolio.items():
        if accounts is not None and key not in accounts:
            continue
        for d in set(as_ofs):
            if any(s.statement_date <= d for s in stmts):
                expected[(key, d)] = assess(stmts, pays, holds, as_of=d, rules=rules)
    return expected


rules_strategy = st.builds(
    DelinquencyRules,
    tolerance=st.sampled_from([0, 1000]) | st.integers(0, 3000),
    grace_days=st.integers(0, 10),
    charge_off_dpd=st.integers(1, 200),
    buckets=st.sampled_from(TABLES),
)
as_of_strategy = st.builds(lambda n: BASE + timedelta(n), st.integers(0, 420))


_CON = duckdb.connect()  # one connection for all examples: connecting costs more than a query


# Store ids are small; keys far apart also exercise the engine's dense renumbering of accounts.
account_keys = st.integers(1, 10_000) | st.integers(-(2**62), 2**62)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    portfolio=st.dictionaries(account_keys, account_history(), max_size=6),
    as_ofs=st.lists(as_of_strategy, min_size=1, max_size=4),
    rules=rules_strategy,
    layout=st.sampled_from(["sorted", "as generated", "shuffled"]),
    block_rows=st.sampled_from([1, 2, 7, engine._BLOCK_ROWS]),
    threads=st.sampled_from([1, 2]),
    data=st.data(),
)
def test_engine_equals_reference(portfolio, as_ofs, rules, layout, block_rows, threads, data):
    con = _CON
    con.execute(f"SET threads = {threads}")
    seed = data.draw(st.integers(0, 2**32))
    # small blocks split the portfolio into many blocks of accounts, run on several threads
    with mock.patch.object(engine, "_BLOCK_ROWS", block_rows):
        got = _run(con, portfolio, as_ofs, rules, layout=layout, seed=seed)
        assert got == _expected(portfolio, as_ofs, rules)

        # the accounts filter restricts to exactly those accounts (unknown keys are simply absent)
        wanted = data.draw(st.sets(st.sampled_from(sorted(portfolio) + [999_999])) if portfolio else st.just(set()))
        got = _run(con, portfolio, as_ofs, rules, accounts=wanted, layout=layout, seed=seed)
        assert got == _expected(portfolio, as_ofs, rules, accounts=wanted)

        # the same through the Arrow entry point, with the filter as an array of keys
        tables = _tables(portfolio, layout, seed)
        out = assess_arrays(tables["statements"], tables["payments"], tables["holds"], as_of_dates=as_ofs,
                            rules=rules, accounts=pa.array(sorted(wanted), type=pa.int64()), threads=threads)
        assert _by_key(out) == _expected(portfolio, as_ofs, rules, accounts=wanted)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    portfolio=st.dictionaries(st.integers(1, 10_000), account_history(), max_size=6),
    as_ofs=st.lists(as_of_strategy, min_size=1, max_size=4),
    rules=rules_strategy,
    data=st.data(),
)
def test_sql_engine_equals_reference(portfolio, as_ofs, rules, data):
    """The portable SQL formulation (ARREARS_BATCH_ENGINE=sql) gives the reference's answer too."""
    con = _CON
    for name, tbl in _tables(portfolio, "shuffled", data.draw(st.integers(0, 2**32))).items():
        con.register(name, tbl)
    assert _by_key(assess_portfolio_sql(con, as_of_dates=as_ofs, rules=rules)) == _expected(portfolio, as_ofs, rules)
    wanted = data.draw(st.sets(st.sampled_from(sorted(portfolio) + [999_999])) if portfolio else st.just(set()))
    con.register("wanted", pa.table({"account_key": pa.array(sorted(wanted), type=pa.int64())}))
    got = assess_portfolio_sql(con, as_of_dates=as_ofs, rules=rules, accounts="wanted")
    assert _by_key(got) == _expected(portfolio, as_ofs, rules, accounts=wanted)


def test_same_answer_for_one_date_and_for_many():
    """Several as-of dates in one call give the rows of one call per date."""
    portfolio = {
        1: ([Statement(date(2024, 1, 5), date(2024, 1, 25), 20_000),
             Statement(date(2024, 2, 5), date(2024, 2, 25), 30_000, 20_000)],
            [Payment(date(2024, 1, 20), 5_000)], []),
        2: ([Statement(date(2024, 1, 10), date(2024, 1, 30), 8_000)], [], [Hold(date(2024, 2, 1), None, True)]),
    }
    rules = DelinquencyRules()
    con = duckdb.connect()
    days = [date(2024, 2, 3), date(2024, 3, 1), date(2024, 4, 1)]
    many = _run(con, portfolio, days, rules)
    for d in days:
        one = _run(con, portfolio, [d], rules)
        assert one == {k: v for k, v in many.items() if k[1] == d}
    assert many == _expected(portfolio, days, rules)
    assert many[(1, date(2024, 3, 1))].amount_past_due == 15_000 + 10_000


def test_output_types_and_empty_input():
    con = duckdb.connect()
    for name, tbl in _tables({}).items():
        con.register(name, tbl)
    out = assess_portfolio(con, as_of_dates=[date(2024, 1, 1)], rules=DelinquencyRules())
    assert out.num_rows == 0
    assert tuple(out.column_names) == OUTPUT_COLUMNS
    types = dict(zip(out.column_names, out.schema.types))
    assert types["account_key"] == pa.int64()
    assert types["as_of"] == pa.date32()
    assert types["amount_past_due"] == pa.int64()
    assert types["past_due_c7p"] == pa.int64()
    assert types["oldest_unpaid_due_date"] == pa.date32()
    with pytest.raises(ValueError):
        assess_portfolio(con, as_of_dates=[], rules=DelinquencyRules())


def test_floor_query_groups_by_account():
    con = duckdb.connect()
    portfolio = {
        7: ([Statement(date(2024, 1, 5), date(2024, 1, 25), 1_000)], [Payment(date(2024, 1, 9), 300)], []),
        8: ([], [Payment(date(2024, 1, 9), 50)], []),
    }
    for name, tbl in _tables(portfolio).items():
        con.register(name, tbl)
    rows = {r["account_key"]: r for r in floor_query(con).to_pylist()}
    assert rows[7]["net"] == 700 and rows[7]["events"] == 2
    assert rows[8]["net"] == -50


def _ledger_with_extra_columns(portfolio):
    """Tables shaped like the cycle's ledger extract: sorted, with columns the engine does not use."""
    tables = _tables(portfolio, "sorted")
    for name in ("statements", "payments", "holds"):
        t = tables[name]
        t = t.append_column("ingest_run_id", pa.array([3] * t.num_rows, type=pa.int64()))
        if name == "statements":
            t = t.append_column("new_balance", pa.array([-5] * t.num_rows, type=pa.int64()))
        tables[name] = t
    return tables


PORTFOLIO = {
    3: ([Statement(date(2024, 1, 5), date(2024, 1, 25), 20_000),
         Statement(date(2024, 2, 5), date(2024, 2, 25), 30_000, 20_000)],
        [Payment(date(2024, 2, 5), 25_000), Payment(date(2024, 1, 20), 1_000)],
        [Hold(date(2024, 2, 1), date(2024, 2, 10), True), Hold(date(2024, 2, 5), None, True)]),
    1: ([Statement(date(2024, 1, 10), date(2024, 1, 30), 8_000)], [Payment(date(2024, 3, 1), 500)], []),
    2: ([], [Payment(date(2024, 1, 9), 50)], []),
}


def test_extra_columns_and_connection_settings():
    """Unused columns are ignored; a connection that does not keep insertion order still gets the
    right answer and keeps its settings."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET threads = 1")
    for name, tbl in _ledger_with_extra_columns(PORTFOLIO).items():
        con.register(name, tbl)
    days = [date(2024, 2, 20), date(2024, 3, 31)]
    rules = DelinquencyRules()
    assert _by_key(assess_portfolio(con, as_of_dates=days, rules=rules)) == _expected(PORTFOLIO, days, rules)
    assert con.sql("SELECT current_setting('preserve_insertion_order')").fetchall() == [(False,)]


def test_two_statements_on_one_day_are_rejected():
    tables = _tables(PORTFOLIO)
    statements = pa.concat_tables([tables["statements"], tables["statements"].slice(0, 1)])
    with pytest.raises(ValueError, match="share a statement date"):
        assess_arrays(statements, tables["payments"], tables["holds"], as_of_dates=[date(2024, 3, 1)],
                      rules=DelinquencyRules())


def test_missing_column_is_named():
    tables = _tables(PORTFOLIO)
    with pytest.raises(ValueError, match="payments: column 'amount' is missing"):
        assess_arrays(tables["statements"], tables["payments"].drop_columns(["amount"]), tables["holds"],
                      as_of_dates=[date(2024, 3, 1)], rules=DelinquencyRules())
