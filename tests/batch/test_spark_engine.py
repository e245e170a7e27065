"""The Spark engine gives DuckDB's answer, row by row: on random histories and file to file.

One SparkSession (local[2]) for the whole module; each test runs only a few Spark jobs.
"""

from __future__ import annotations

import random
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pyspark  # noqa: F401  (in the test extra: without it the suite fails, it never skips)
import pytest
from sqlalchemy import select

from arrears.accounts.ingest import ingest_paths
from arrears.accounts.tables import Account
from arrears.batch.cycle import run_cycle
from arrears.batch.spark import SparkInputError, run_spark_delinquency
from arrears.delinquency import repository as repo
from arrears.delinquency.engine import OUTPUT_COLUMNS, OUTPUT_SCHEMA, assess_arrays
from arrears.delinquency.model import DelinquencyRules, Hold, Payment, Statement
from arrears.delinquency.spark_engine import assess_portfolio_spark, spark_sql
from arrears.delinquency.sql_engine import assess_portfolio_sql
from arrears.delinquency.tables import DelinquencySnapshot
from arrears.kit.arrowdb import ArrowReader
from arrears.kit.db import make_engine
from arrears.sim.portfolio import generate_portfolio
from tests.delinquency.test_engine_matches_reference import BASE, TABLES, _expected, _tables

pytestmark = [pytest.mark.spark,
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")]


def random_history(rnd: random.Random) -> tuple[list[Statement], list[Payment], list[Hold]]:
    """The delinquency tests' ``account_history`` strategy, drawn from a seeded ``random.Random``
    (Hypothesis cannot draw 300 accounts in one example): same ranges, same special values."""
    def amount(special: list[int], top: int) -> int:
        return rnd.choice(special) if rnd.random() < 0.5 else rnd.randint(0, top)

    statements: list[Statement] = []
    day, carried = rnd.randint(0, 20), 0
    for _ in range(rnd.randint(0, 9)):
        gap_to_due = rnd.randint(1, 45)
        own = amount([0, 500, 1000, 1001, 3000], 20_000)
        included = rnd.randint(0, carried) if carried else 0
        statements.append(Statement(BASE + timedelta(day), BASE + timedelta(day + gap_to_due), own + included, included))
        carried = min(carried + own, 50_000)
        day += rnd.randint(1, 40)
    payments = [Payment(BASE + timedelta(rnd.randint(0, 300)), amount([1, 999, 1000, 5000], 30_000))
                for _ in range(rnd.randint(0, 9))]
    holds = []
    for _ in range(rnd.randint(0, 3)):
        start = BASE + timedelta(rnd.randint(0, 300))
        length = None if rnd.random() < 0.3 else rnd.randint(0, 60)
        holds.append(Hold(start, None if length is None else start + timedelta(length), rnd.random() < 0.5))
    return statements, payments, holds


def _sorted(table: pa.Table, key: str = "account_key") -> list[dict]:
    return table.sort_by([("as_of", "ascending"), (key, "ascending")]).to_pylist()


def _spark_arrow(df) -> pa.Table:  # type: ignore[no-untyped-def]
    return df.toArrow()


@pytest.mark.parametrize("seed", [1, 2])
def test_spark_equals_duckdb_and_arrays_on_random_histories(spark, seed: int) -> None:
    rnd = random.Random(seed)
    portfolio = {rnd.randint(1, 2**40): random_history(rnd) for _ in range(300)}
    as_ofs = sorted({BASE + timedelta(rnd.randint(0, 420)) for _ in range(5)})
    rules = DelinquencyRules(tolerance=rnd.choice([0, 1000, 2500]), grace_days=rnd.randint(0, 10),
                             charge_off_dpd=rnd.randint(30, 200), buckets=TABLES[seed % len(TABLES)])
    tables = _tables(portfolio, "shuffled", seed)
    con = duckdb.connect()
    for name, tbl in tables.items():
        con.register(name, tbl)
    duck = assess_portfolio_sql(con, as_of_dates=as_ofs, rules=rules)
    arrays = assess_arrays(tables["statements"], tables["payments"], tables["holds"], as_of_dates=as_ofs, rules=rules)
    frames = [spark.createDataFrame(tables[k]) for k in ("statements", "payments", "holds")]
    got = _spark_arrow(assess_portfolio_spark(spark, *frames, as_of_dates=as_ofs, rules=rules))

    assert tuple(got.column_names) == OUTPUT_COLUMNS
    assert got.schema.remove_metadata().equals(OUTPUT_SCHEMA, check_metadata=False) or [
        f.type for f in got.schema] == [f.type for f in OUTPUT_SCHEMA]
    assert duck.num_rows > 300  # several dates, most accounts have a statement
    rows = _sorted(got)
    assert rows == _sorted(duck)  # every column of every row
    assert rows == _sorted(arrays)
    # and both are the pure reference's answer (a sample keeps this quick)
    exp = _expected(portfolio, as_ofs, rules)
    assert len(exp) == len(rows)
    for r in rows[::7]:
        state = exp[(r["account_key"], r["as_of"])]
        assert (r["dpd"], r["bucket"], r["amount_past_due"], r["oldest_unpaid_due_date"]) == (
            state.dpd, state.bucket, state.amount_past_due, state.oldest_unpaid_due_date)

    # the accounts filter restricts to exactly those accounts
    wanted = sorted(rnd.sample(sorted(portfolio), 40))
    got = _spark_arrow(assess_portfolio_spark(
        spark, *frames, as_of_dates=as_ofs[:2], rules=rules,
        accounts_df=spark.createDataFrame(pa.table({"account_key": pa.array(wanted, pa.int64())}))))
    con.register("wanted", pa.table({"account_key": pa.array(wanted, pa.int64())}))
    assert _sorted(got) == _sorted(assess_portfolio_sql(con, as_of_dates=as_ofs[:2], rules=rules, accounts="wanted"))


def test_spark_sql_is_transpiled_not_hand_written() -> None:
    sql = spark_sql(as_of_dates=[date(2024, 3, 1), date(2024, 4, 1)], rules=DelinquencyRules())
    assert "MATERIALIZED" not in sql.upper() and "`statements`" in sql and "DATEDIFF" in sql.upper()


BUSINESS_DATE = date(2026, 3, 2)
FIGURES = [c for c in OUTPUT_COLUMNS if c not in ("account_key", "as_of")]


def test_file_to_file_batch_equals_the_duckdb_cycle(spark, tmp_path: Path, sqlite_template: Path) -> None:
    files = tmp_path / "files"
    generate_portfolio(files, accounts=2_000, seed=5, as_of=BUSINESS_DATE, fmt="parquet")
    rules = DelinquencyRules()

    # the embedded daily cycle on the SQL engine, through the store
    shutil.copyfile(sqlite_template, tmp_path / "store.sqlite")
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    ingest_paths(engine, [files], quarantine_dir=tmp_path / "quarantine")
    run_cycle(engine, business_date=BUSINESS_DATE, rules=rules, engine_name="sql")
    s = DelinquencySnapshot
    with engine.connect() as conn:
        refs = dict(conn.execute(select(Account.id, Account.account_ref)).all())
        stored = [dict(r._mapping) for r in conn.execute(
            select(Account.account_ref.label("account_id"), *(getattr(s, c) for c in FIGURES))
            .join(Account, Account.id == s.account_id)
            .where(s.business_date == BUSINESS_DATE, s.superseded_by_run_id.is_(None)))]
        ctx = repo.cycle_context(conn)
    with ArrowReader(engine) as reader:
        ledger = repo.read_ledger(reader, watermark=ctx.current_watermark)
    engine.dispose()
    con = duckdb.connect()
    for name, tbl in zip(("statements", "payments", "holds"), ledger):
        con.register(name, tbl)
    duck = assess_portfolio_sql(con, as_of_dates=[BUSINESS_DATE], rules=rules).to_pylist()
    for r in duck:
        r["account_id"] = refs[r.pop("account_key")]
        del r["as_of"]

    # the Spark batch, file to file; a re-run overwrites the date's files
    out = tmp_path / "out"
    for validate in (True, False):
        result = run_spark_delinquency(ledger_dir=files, out_dir=out, business_date=BUSINESS_DATE, rules=rules,
                                       spark=spark, validate=validate)
    written = pq.read_table(out / f"as_of={BUSINESS_DATE.isoformat()}")
    assert written.column_names == ["account_id", *FIGURES]
    got = sorted(written.to_pylist(), key=lambda r: r["account_id"])

    assert result.accounts == len(got) == len(duck) > 1_900
    assert got == sorted(duck, key=lambda r: r["account_id"])  # every account, every column
    # the store keeps the accounts in arrears; Spark's rows for those are the same, row by row
    in_arrears = [r for r in got if r["dpd"] > 0 or r["amount_past_due"] > 0 or r["charge_off"]]
    assert len(in_arrears) > 100
    assert in_arrears == sorted(stored, key=lambda r: r["account_id"])
    assert result.delinquent_accounts == sum(r["delinquent"] for r in got) > 0

    # the same files as CSV give the same result
    csv_files = tmp_path / "csv"
    generate_portfolio(csv_files, accounts=2_000, seed=5, as_of=BUSINESS_DATE, fmt="csv")
    run_spark_delinquency(ledger_dir=csv_files, out_dir=tmp_path / "out_csv", business_date=BUSINESS_DATE,
                          rules=rules, spark=spark)
    again = pq.read_table(tmp_path / "out_csv" / f"as_of={BUSINESS_DATE.isoformat()}").to_pylist()
    assert sorted(again, key=lambda r: r["account_id"]) == got


def _write_csv(path: Path, header: str, *rows: str) -> None:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")


def _one_account_ledger(tmp_path: Path, *payments: str) -> Path:
    """A ledger folder: account A1's statement and the given payments rows (CSV)."""
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    _write_csv(ledger / "statements_20260301.csv",
               "account_id,statement_date,due_date,new_balance_fen,minimum_due_fen,past_due_included_fen",
               "A1,2026-01-05,2026-01-25,100000,5000,0")
    _write_csv(ledger / "payments_20260301.csv", "payment_id,account_id,amount_fen,value_date,channel", *payments)
    return ledger


def test_bad_input_names_the_file_and_the_column(spark, tmp_path: Path) -> None:
    ledger = _one_account_ledger(tmp_path, "P1,A1,1000,2026-01-20,wechat", "P2,A1,12.50,2026-01-21,wechat")
    with pytest.raises(SparkInputError, match=r"payments_20260301\.csv, column 'amount_fen': cannot read '12.50'"):
        run_spark_delinquency(ledger_dir=ledger, out_dir=tmp_path / "out", business_date=BUSINESS_DATE,
                              rules=DelinquencyRules(), spark=spark)

    _write_csv(ledger / "payments_20260301.csv", "payment_id,account_id,amount_fen,channel", "P1,A1,1000,wechat")
    with pytest.raises(SparkInputError, match=r"payments_20260301\.csv, column 'value_date': missing required"):
        run_spark_delinquency(ledger_dir=ledger, out_dir=tmp_path / "out", business_date=BUSINESS_DATE,
                              rules=DelinquencyRules(), spark=spark)

    (ledger / "payments_20260301.csv").unlink()
    pq.write_table(pa.table({"payment_id": ["P1"], "account_id": ["A1"], "amount_fen": ["1000"],
                             "value_date": [date(2026, 1, 20)], "channel": ["wechat"]}), ledger / "payments.parquet")
    with pytest.raises(SparkInputError, match=r"payments\.parquet, column 'amount_fen': type string, expected integer"):
        run_spark_delinquency(ledger_dir=ledger, out_dir=tmp_path / "out", business_date=BUSINESS_DATE,
                              rules=DelinquencyRules(), spark=spark)
    assert not (tmp_path / "out").exists()  # nothing written on a rejected input


def test_amounts_beyond_the_maximum_are_refused_naming_the_file(spark, tmp_path: Path) -> None:
    """Eleven payments of 9e17 fen would wrap a 64-bit sum: the file is refused, as ingestion refuses it."""
    ledger = _one_account_ledger(tmp_path, *(f"P{i},A1,900000000000000000,2026-01-{10 + i},wechat" for i in range(11)))
    with pytest.raises(SparkInputError, match=r"payments_20260301\.csv, column 'amount_fen': 900000000000000000 fen "
                                              r"is beyond the maximum amount"):
        run_spark_delinquency(ledger_dir=ledger, out_dir=tmp_path / "out", business_date=BUSINESS_DATE,
                              rules=DelinquencyRules(), spark=spark)
    assert not (tmp_path / "out").exists()
