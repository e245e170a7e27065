"""Benchmark of the delinquency step on Spark (local mode) against DuckDB and the array engine.

One synthetic ledger (``arrears sim portfolio``, Parquet), one business date, three engines, each
file to file where it can be:

- Spark: ``run_spark_delinquency`` (read the Parquet files, check them, assess with the transpiled
  SQL, write Parquet), on ``local[N]``; the session start is timed apart. Timed once with the
  input checks (the CLI default) and once without.
- DuckDB SQL engine: the same SQL text (``portfolio_sql``) over views of the same Parquet files,
  results written with ``COPY … TO`` Parquet.
- Array engine: the files read into Arrow through DuckDB (sorted, as the engine scans), then
  ``assess_arrays``; results written with pyarrow.

The results are checked equal (row count and column sums) before any figure is printed.

    python bench/bench_spark.py --accounts 200000 --record

``--record`` appends the figures and the command to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SUMS = "count(*), sum(dpd), sum(amount_past_due), sum(past_due_c7p), sum(delinquent::INT), sum(charge_off::INT)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 28))
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--spark-memory", default="3g", help="spark.driver.memory (local mode runs in the driver)")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args()

    import pyspark

    from arrears.batch.spark import run_spark_delinquency, spark_session
    from arrears.delinquency.engine import OUTPUT_COLUMNS, assess_arrays
    from arrears.delinquency.model import DelinquencyRules
    from arrears.delinquency.sql_engine import portfolio_sql
    from arrears.sim.portfolio import generate_portfolio

    work = args.work / f"{args.accounts}-{args.seed}-{args.date.isoformat()}-parquet"
    files, out = work / "files", work / "out"
    rules = DelinquencyRules()
    figures: dict[str, str] = {}
    if not (files / ".complete").exists():
        t = time.perf_counter()
        generate_portfolio(files, accounts=args.accounts, seed=args.seed, as_of=args.date, fmt="parquet")
        (files / ".complete").touch()
        figures["generate portfolio"] = f"{time.perf_counter() - t:.1f} s"
    shutil.rmtree(out, ignore_errors=True)
    counts = {k: pq.ParquetFile(files / f"{k}.parquet").metadata.num_rows for k in ("statements", "payments", "holds")}
    figures["statements / payments / holds"] = " / ".join(f"{v:,}" for v in counts.values())

    # -- DuckDB: the SQL engine, file to file -----------------------------------------------------
    con = duckdb.connect()
    con.execute("SET memory_limit = '3GB'")
    con.execute("SET preserve_insertion_order = false")
    f = {k: str(files / f"{k}.parquet") for k in ("statements", "payments", "holds")}
    t = time.perf_counter()
    con.execute(f"CREATE TEMP TABLE keys AS SELECT account_id, row_number() OVER () AS account_key "
                f"FROM (SELECT DISTINCT account_id FROM read_parquet('{f['statements']}'))")
    con.execute(f"""CREATE VIEW statements AS SELECT k.account_key, statement_date, due_date,
        minimum_due_fen AS minimum_due, past_due_included_fen AS past_due_included
        FROM read_parquet('{f['statements']}') JOIN keys k USING (account_id)""")
    con.execute(f"""CREATE VIEW payments AS SELECT k.account_key, value_date, amount_fen AS amount
        FROM read_parquet('{f['payments']}') JOIN keys k USING (account_id)""")
    con.execute(f"""CREATE VIEW holds AS SELECT k.account_key, start_date, end_date,
        coalesce(pauses_ageing, kind = 'dispute') AS pauses_ageing
        FROM read_parquet('{f['holds']}') JOIN keys k USING (account_id)""")
    sql = portfolio_sql(as_of_dates=[args.date], rules=rules)
    duck_out = work / "duck.parquet"
    con.execute(f"COPY (SELECT k.account_id, r.* EXCLUDE (account_key) FROM ({sql}) r JOIN keys k USING (account_key)) "
                f"TO '{duck_out}' (FORMAT parquet)")
    duck = time.perf_counter() - t
    duck_sums = con.sql(f"SELECT {SUMS} FROM read_parquet('{duck_out}')").fetchall()[0]

    # -- the array engine: read to Arrow (sorted) with DuckDB, assess, write --------------------------
    t = time.perf_counter()
    st = con.sql("SELECT * FROM statements ORDER BY account_key, statement_date").to_arrow_table()
    py = con.sql("SELECT * FROM payments ORDER BY account_key, value_date").to_arrow_table()
    ho = con.sql("SELECT * FROM holds").to_arrow_table()
    read_arrays = time.perf_counter() - t
    t = time.perf_counter()
    arrays_result = assess_arrays(st, py, ho, as_of_dates=[args.date], rules=rules)
    arrays_step = time.perf_counter() - t
    pq.write_table(arrays_result, work / "arrays.parquet")
    arrays_total = time.perf_counter() - t + read_arrays
    con.register("arrays_result", arrays_result)
    arrays_sums = con.sql(f"SELECT {SUMS} FROM arrays_result").fetchall()[0]
    del st, py, ho, arrays_result

    # -- Spark, file to file ----------------------------------------------------------------------------
    t = time.perf_counter()
    spark = spark_session(args.master, app_name="arrears-bench", conf={"spark.driver.memory": args.spark_memory,
                                                                        "spark.ui.enabled": "false"})
    spark_start = time.perf_counter() - t
    checked = run_spark_delinquency(ledger_dir=files, out_dir=out, business_date=args.date, rules=rules, spark=spark)
    unchecked = run_spark_delinquency(ledger_dir=files, out_dir=out, business_date=args.date, rules=rules,
                                      spark=spark, validate=False)
    spark.stop()
    spark_sums = con.sql(f"SELECT {SUMS} FROM read_parquet('{out}/*/*.parquet')").fetchall()[0]
    if not (duck_sums == arrays_sums == spark_sums):
        print(f"MISMATCH duckdb {duck_sums} arrays {arrays_sums} spark {spark_sums}", file=sys.stderr)
        return 1
    assert len(OUTPUT_COLUMNS) == 16

    spark_run = unchecked.timings["total"]
    figures["accounts assessed (all three engines agree: rows and column sums)"] = f"{duck_sums[0]:,}"
    figures["DuckDB SQL engine, file to file (read Parquet, assess, write Parquet)"] = f"{duck:.2f} s"
    figures["array engine: read to Arrow / assess / total with write"] = (
        f"{read_arrays:.2f} s / {arrays_step:.2f} s / {arrays_total:.2f} s")
    figures[f"Spark {args.master}: session start"] = f"{spark_start:.1f} s"
    figures["Spark file to file, with input checks (CLI default)"] = (
        f"{checked.timings['total']:.2f} s (" + ", ".join(f"{k} {v:.1f}" for k, v in checked.timings.items()
                                                           if k != "total") + ")")
    figures["Spark file to file, checks off (--no-validate), warm session"] = f"{spark_run:.2f} s"
    figures["Spark / DuckDB (checks off, warm)"] = f"{spark_run / duck:.1f}x"
    figures["Spark / array engine (file to file)"] = f"{spark_run / arrays_total:.1f}x"

    command = "python bench/bench_spark.py " + " ".join(sys.argv[1:])
    lines = [f"### Delinquency on Spark vs DuckDB, {args.accounts:,} accounts — {date.today().isoformat()}", "",
             f"Command: `{command}`  ", f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} "
             f"{platform.python_version()}, DuckDB {duckdb.__version__}, PySpark {pyspark.__version__} "
             f"({args.master}, driver memory {args.spark_memory})", "", "| measure | result |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in figures.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
