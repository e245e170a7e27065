"""Amounts at the edge of 64 bits: the engines agree with the reference up to the ingestion maximum
and refuse, rather than wrap, sums that could overflow (docs/security.md)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.config import Settings
from arrears.delinquency.engine import assess_arrays
from arrears.delinquency.model import DelinquencyRules, Payment, Statement
from arrears.delinquency.sql_engine import assess_portfolio_sql
from tests.delinquency.test_engine_matches_reference import _by_key, _expected, _tables

MAX = Settings.model_fields["max_amount_fen"].default  # not the environment's
HUGE = 4_600_000_000_000_000_000  # 4.6e18 fen: accepted by ingestion before it was bounded


def _statements(months: int) -> list[Statement]:
    return [Statement(date(2024, m, 5), date(2024, m, 25), 10_000) for m in range(1, months + 1)]


def _arrays(portfolio, as_ofs, rules):
    t = _tables(portfolio)
    return _by_key(assess_arrays(t["statements"], t["payments"], t["holds"], as_of_dates=as_ofs, rules=rules))


def test_sums_that_could_wrap_are_refused_not_wrapped():
    # Account 3 is behind since May; the running sum of payments over the portfolio passes 2^63
    # on its own payment, and wrapped it read as current.
    portfolio = {
        1: (_statements(2), [Payment(date(2024, 5, 19), HUGE)], []),
        2: (_statements(6), [Payment(date(2024, 6, 15), HUGE)], []),
        3: (_statements(5), [Payment(date(2024, 4, 19), HUGE), Payment(date(2024, 6, 17), 5_000)], []),
    }
    rules, as_ofs = DelinquencyRules(), [date(2024, 8, 1)]
    assert _expected(portfolio, as_ofs, rules)[(3, date(2024, 8, 1))].bucket == "M3"
    with pytest.raises(ValueError, match="could add up past 2\\^63"):
        _arrays(portfolio, as_ofs, rules)
    # the SQL engine sums each account in 128 bits: it is exact here
    con = duckdb.connect()
    for name, table in _tables(portfolio).items():
        con.register(name, table)
    assert _by_key(assess_portfolio_sql(con, as_of_dates=as_ofs, rules=rules)) == _expected(portfolio, as_ofs, rules)


@st.composite
def big_history(draw: st.DrawFn) -> tuple[list[Statement], list[Payment], list]:
    amount = st.sampled_from([MAX, MAX - 1, 1]) | st.integers(0, MAX)
    day, statements = 0, []
    for _ in range(draw(st.integers(1, 6))):
        own = draw(amount)
        statements.append(Statement(date(2024, 1, 1) + timedelta(day), date(2024, 1, 1) + timedelta(day + 20), own))
        day += draw(st.integers(1, 40))
    payments = [Payment(date(2024, 1, 1) + timedelta(draw(st.integers(0, 250))), draw(amount))
                for _ in range(draw(st.integers(0, 6)))]
    return statements, payments, []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolio=st.dictionaries(st.integers(1, 50), big_history(), max_size=5),
       as_of=st.integers(0, 300))
def test_engines_equal_the_reference_for_amounts_up_to_the_maximum(portfolio, as_of):
    rules, as_ofs = DelinquencyRules(), [date(2024, 1, 1) + timedelta(as_of)]
    expected = _expected(portfolio, as_ofs, rules)
    assert _arrays(portfolio, as_ofs, rules) == expected
    con = duckdb.connect()
    for name, table in _tables(portfolio).items():
        con.register(name, table)
    assert _by_key(assess_portfolio_sql(con, as_of_dates=as_ofs, rules=rules)) == expected
