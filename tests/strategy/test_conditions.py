"""The condition language: what is accepted, what is refused and why, rendering, one-account evaluation."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from arrears.strategy.conditions import ConditionError, conjuncts, evaluate, evaluate_many, parse_condition, to_spark
from arrears.strategy.features import FEATURES, features_table


def row(**values: Any) -> dict[str, Any]:
    """A feature row with neutral values, overridden by ``values``."""
    base: dict[str, Any] = {f.name: None if f.nullable else {"integer": 0, "text": "", "boolean": False}[f.type]
                            for f in FEATURES}
    base.update(account_id=1, account_ref="ACC-1", bucket="M1")
    base.update(values)
    return base


@pytest.mark.parametrize("text", [
    "dpd > 30",
    "bucket IN ('M1', 'M2') AND NOT hold_active",
    "coalesce(behaviour_score, 0) BETWEEN 1 AND 500",
    "plan_status IS NULL OR plan_status IS NOT NULL",
    "abs(balance - credit_limit) % 100 = 0 AND balance // 100 > 1 AND balance / 3 > 0.5",
    "greatest(dpd, 10) <= least(days_in_case, 90)",
    "CASE WHEN dpd > 60 THEN amount_past_due ELSE 0 END >= 100000",
    "product LIKE 'gold%' OR language <> 'zh_CN'",
    "hold_kind = NULL OR -dpd < 0 OR open_promise = TRUE",
    "(dpd > 1)\n  AND (rpc_30d = 0)",
    "true",
])
def test_accepted(text: str) -> None:
    cond = parse_condition(text)
    assert cond.text == text and cond.columns == tuple(dict.fromkeys(cond.columns))


@pytest.mark.parametrize(("text", "message", "line"), [
    ("dpdd > 30", "unknown column 'dpdd' (did you mean 'dpd'?)", 1),
    ("dpd > 1 AND\n  hold_knd = 'fraud'", "unknown column 'hold_knd' (did you mean 'hold_kind'?)", 2),
    ("zodiac_sign = 'rat'", "unknown column 'zodiac_sign' (see the feature view in docs/strategy.md)", 1),
    ("upper(bucket) = 'M1'", "function upper() is not allowed (allowed: abs, coalesce, greatest, least)", 1),
    ("current_date > '2026-01-01'", "function current_date() is not allowed", None),
    ("cast(dpd AS TEXT) = '1'", "casts are not allowed", 1),
    ("(SELECT max(dpd) FROM accounts) > 1", "subqueries are not allowed", 1),
    ("dpd IN (SELECT 1)", "subqueries are not allowed", 1),
    ("EXISTS (SELECT 1)", "subqueries are not allowed", None),
    ("sum(balance) > 100", "aggregate function sum() is not allowed", 1),
    ("max(dpd, 1) > 100", "aggregate function max() is not allowed", 1),
    ("row_number() OVER (ORDER BY dpd) = 1", "window functions are not allowed", 1),
    ("dpd > 1; DROP TABLE accounts", "only one expression is allowed", 1),
    ("dpd > 1;", "only one expression is allowed", 1),
    ("bucket > 1", "type mismatch: cannot compare bucket (text) with 1 (a number)", 1),
    ("dpd = 'M1'", "type mismatch: cannot compare dpd (a number) with 'M1' (text)", 1),
    ("hold_active = 1", "type mismatch: cannot compare hold_active (true/false) with 1 (a number)", 1),
    ("dpd IN (1, 'a')", "type mismatch", 1),
    ("dpd BETWEEN 'a' AND 'b'", "type mismatch", 1),
    ("coalesce(bucket, 0) = 'M1'", "COALESCE arguments mix bucket (text) and 0 (a number)", 1),
    ("bucket + 1 > 2", "ADD needs numbers; bucket is text", 1),
    ("dpd LIKE 'M%'", "LIKE compares text, but dpd is a number", 1),
    ("dpd AND hold_active", "AND needs true/false on both sides; dpd is a number", 1),
    ("NOT dpd", "NOT needs true/false", 1),
    ("dpd + 1", "a condition must be true or false, but dpd + 1 is a number", 1),
    ("CASE dpd WHEN 1 THEN TRUE END", "simple CASE", 1),
    ("x.dpd > 1", "qualified name x.dpd is not allowed", 1),
    ("dpd > ?", "parameters are not allowed", None),
    ("dpd >> 2 = 0", "not allowed in a condition", 1),
    ("dpd >", "cannot parse the condition", 1),
    ("(dpd > 1", "cannot parse the condition", 1),
    ("", "a condition cannot be empty", None),
])
def test_refused(text: str, message: str, line: int | None) -> None:
    with pytest.raises(ConditionError) as err:
        parse_condition(text)
    assert message in err.value.message
    assert err.value.line == line


def test_renders_to_duckdb_and_spark() -> None:
    cond = parse_condition("balance // 100 > 5 AND bucket IN ('M2','M3') AND coalesce(behaviour_score, 0) < 500")
    assert cond.duckdb == "balance // 100 > 5 AND bucket IN ('M2', 'M3') AND COALESCE(behaviour_score, 0) < 500"
    assert to_spark(cond) == "balance DIV 100 > 5 AND bucket IN ('M2', 'M3') AND COALESCE(behaviour_score, 0) < 500"


def test_null_is_not_a_match() -> None:
    cond = parse_condition("behaviour_score < 500")
    assert evaluate(cond, row(behaviour_score=None)) is None
    assert evaluate(cond, row(behaviour_score=499)) is True
    assert evaluate(cond, row(behaviour_score=500)) is False


def test_evaluate_many_and_conjuncts() -> None:
    cond = parse_condition("(dpd > 30 AND bucket = 'M2') AND (hold_active OR open_promise)")
    parts = conjuncts(cond)
    assert [p.sql(dialect="duckdb") for p in parts] == ["dpd > 30", "bucket = 'M2'", "hold_active OR open_promise"]
    assert evaluate_many([cond, *parts], row(dpd=45, bucket="M1", open_promise=True)) == [False, True, False, True]


def test_features_must_be_complete() -> None:
    values = row()
    del values["dpd"]
    with pytest.raises(Exception, match="features missing: dpd"):
        evaluate(parse_condition("dpd > 1"), values)


@pytest.mark.parametrize("text", [
    "dpd BETWEEN 31 AND 60 AND NOT hold_active",
    "coalesce(behaviour_score, 600) >= 600 OR promise_broken_90d",
    "balance / 3 > 300 AND balance // 7 % 2 = 1",
    "CASE WHEN plan_status IS NULL THEN dpd > 10 ELSE plan_status = 'broken' END",
    "greatest(dpd, days_in_case) > 20 AND abs(balance) >= 1000",
])
def test_one_account_equals_the_whole_table(text: str) -> None:
    """The same expression over a table of accounts gives each account's own answer."""
    cond = parse_condition(text)
    rows = [row(account_id=i, dpd=d, balance=b, behaviour_score=s, hold_active=h, plan_status=p, days_in_case=c,
                promise_broken_90d=k)
            for i, (d, b, s, h, p, c, k) in enumerate([
                (0, 0, None, False, None, None, False), (45, 1_000, 700, False, "broken", 3, True),
                (35, -2_000, 550, True, "active", 60, False), (11, 903, None, False, None, 15, True),
                (61, 2_101, 601, False, "broken", None, False), (31, 3, 599, False, None, 0, False)])]
    with duckdb.connect() as con:
        con.register("features", features_table(rows))
        table = [r[0] for r in con.sql(f"SELECT ({cond.duckdb}) FROM features ORDER BY account_id").fetchall()]
    assert table == [evaluate(cond, r) for r in rows]
    assert len({v for v in table}) > 1  # the rows tell the cases apart
