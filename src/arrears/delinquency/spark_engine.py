"""The delinquency engine on Apache Spark: the DuckDB SQL of :mod:`.sql_engine`, transpiled.

There is no second formulation to keep in step. :func:`spark_sql` takes the text of
:func:`arrears.delinquency.sql_engine.portfolio_sql` (written in DuckDB's dialect) and translates
it with SQLGlot (``read="duckdb", write="spark"``). The SQL was made portable for this (day
numbers with ``date_diff`` instead of date subtraction, the union of holds with a window instead of
``unnest(range(...))``), so the only Spark-specific step is dropping ``AS MATERIALIZED`` from a
CTE, which Spark does not know (it plans a CTE used twice once anyway, or recomputes it — the
answer is the same).

:func:`assess_portfolio_spark` runs it over Spark DataFrames registered as temporary views and
returns a DataFrame with exactly :data:`arrears.delinquency.engine.OUTPUT_COLUMNS`, typed as the
other engines type them (``bigint`` keys and amounts, ``int`` days and counts, ``date`` dates).
Equality with the DuckDB engine and the array engine is proved row by row in
``tests/batch/test_spark_engine.py``; both of those are proved equal to the pure reference.

PySpark is an optional dependency (``pip install arrears[spark]``); importing this module does not
need it, calling :func:`assess_portfolio_spark` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from arrears.delinquency.engine import OUTPUT_COLUMNS
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.sql_engine import portfolio_sql

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

#: (column, Spark SQL type) the engine reads from each input; other columns are ignored.
INPUT_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "statements": (("account_key", "bigint"), ("statement_date", "date"), ("due_date", "date"),
                   ("minimum_due", "bigint"), ("past_due_included", "bigint")),
    "payments": (("account_key", "bigint"), ("value_date", "date"), ("amount", "bigint")),
    "holds": (("account_key", "bigint"), ("start_date", "date"), ("end_date", "date"),
              ("pauses_ageing", "boolean")),
}


def to_spark_sql(duckdb_sql: str) -> str:
    """Translate one DuckDB statement to Spark SQL (SQLGlot, plus dropping ``AS MATERIALIZED``)."""
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree.sql(dialect="spark")


def spark_sql(
    *,
    as_of_dates: Sequence[date],
    rules: DelinquencyRules,
    statements: str = "statements",
    payments: str = "payments",
    holds: str = "holds",
    accounts: str | None = None,
) -> str:
    """The Spark SQL text of :func:`assess_portfolio_spark` over views of those names."""
    return to_spark_sql(portfolio_sql(as_of_dates=as_of_dates, rules=rules, statements=statements,
                                      payments=payments, holds=holds, accounts=accounts))


def _typed(df: DataFrame, kind: str) -> DataFrame:
    """The columns the engine reads, cast to its types; a missing column is named with the input."""
    from pyspark.sql import functions as F

    present = {c.lower(): c for c in df.columns}
    missing = [name for name, _ in INPUT_COLUMNS[kind] if name not in present]
    if missing:
        raise ValueError(f"{kind}: column {missing[0]!r} is missing (has {', '.join(df.columns) or 'no columns'})")
    return df.select(*(F.col(present[name]).cast(typ).alias(name) for name, typ in INPUT_COLUMNS[kind]))


def assess_portfolio_spark(
    spark: SparkSession,
    statements_df: DataFrame,
    payments_df: DataFrame,
    holds_df: DataFrame,
    *,
    as_of_dates: Sequence[date],
    rules: DelinquencyRules,
    accounts_df: DataFrame | None = None,
) -> DataFrame:
    """Delinquency of every account with a statement on or before each as-of date, as a DataFrame.

    Inputs have the columns of :data:`INPUT_COLUMNS` (others are ignored; integer and date columns
    are cast). ``accounts_df`` (a column ``account_key``) restricts the result to those accounts.
    One row per (account_key, as_of) with :data:`OUTPUT_COLUMNS`; lazy and unordered, like any
    DataFrame — sort it if the order matters.
    """
    tag = uuid.uuid4().hex[:12]
    names = {kind: f"arrears_{kind}_{tag}" for kind in ("statements", "payments", "holds")}
    frames = {"statements": statements_df, "payments": payments_df, "holds": holds_df}
    for kind, df in frames.items():
        _typed(df, kind).createOrReplaceTempView(names[kind])
    accounts = None
    if accounts_df is not None:
        if "account_key" not in accounts_df.columns:
            raise ValueError(f"accounts: column 'account_key' is missing (has {', '.join(accounts_df.columns)})")
        accounts = f"arrears_accounts_{tag}"
        accounts_df.selectExpr("CAST(account_key AS BIGINT) AS account_key").createOrReplaceTempView(accounts)
    try:
        sql = spark_sql(as_of_dates=as_of_dates, rules=rules, accounts=accounts, **names)
        # analysed now: the plan no longer needs the view names once spark.sql returns
        return spark.sql(sql).select(*OUTPUT_COLUMNS)
    finally:
        for name in [*names.values(), *([accounts] if accounts else [])]:
            spark.catalog.dropTempView(name)
