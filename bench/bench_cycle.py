"""Benchmark of the daily cycle on a synthetic portfolio.

Measures, in one run on one machine:
- the whole cycle (`arrears cycle`, in a child process): wall time and peak memory;
- the delinquency step (the cycle's engine on the ledger already in Arrow, as the cycle calls it)
  against
  - the floor: a bare DuckDB query that reads the same inputs and groups them by account;
  - the baseline: the pure reference model applied account by account, timed on a sample, scaled;
- for comparison, the same step with the SQL formulation of the engine (ARREARS_BATCH_ENGINE=sql).

    python bench/bench_cycle.py --accounts 1000000 --record

``--record`` appends the figures and the command to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


def best_of(n: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--date", type=date.fromisoformat, default=date(2026, 11, 28))
    parser.add_argument("--sample", type=int, default=20_000, help="accounts the pure baseline is timed on")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the step and the floor")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--record", action="store_true", help="append the results to bench/RESULTS.md")
    args = parser.parse_args()

    from arrears.accounts.ingest import ingest_paths
    from arrears.delinquency import repository as repo
    from arrears.delinquency.engine import assess_arrays, floor_query
    from arrears.delinquency.model import DelinquencyRules, Hold, Payment, Statement, assess
    from arrears.delinquency.sql_engine import assess_portfolio_sql
    from arrears.kit.arrowdb import ArrowReader
    from arrears.kit.db import make_engine
    from arrears.kit.migrate import upgrade
    from arrears.sim.portfolio import generate_portfolio

    work = args.work / f"{args.accounts}-{args.seed}-{args.date.isoformat()}"
    files, store = work / "files", work / "store.sqlite"
    rules = DelinquencyRules()
    figures: dict[str, str] = {}

    if not (files / ".complete").exists():
        t = time.perf_counter()
        generate_portfolio(files, accounts=args.accounts, seed=args.seed, as_of=args.date, fmt="parquet")
        (files / ".complete").touch()
        figures["generate portfolio"] = f"{time.perf_counter() - t:.1f} s"
    if not (work / ".ingested").exists():
        for p in work.glob("store.sqlite*"):
            p.unlink()
        engine = make_engine(f"sqlite:///{store}")
        upgrade(engine)
        ingest_paths(engine, [files], quarantine_dir=work / "quarantine")
        (work / ".ingested").touch()
        engine.dispose()

    # -- the whole cycle, in a child process (fresh store state: drop earlier runs' results) --------
    engine = make_engine(f"sqlite:///{store}")
    with engine.begin() as conn:
        for table in ("cases", "bucket_changes", "delinquency_snapshots", "cycle_runs"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    env = dict(os.environ, ARREARS_DATABASE_URL=f"sqlite:///{store}")
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "arrears.cli", "cycle", "--date", args.date.isoformat()],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    cycle_wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    figures["cycle wall time (read, assess, compare, write)"] = f"{cycle_wall:.1f} s"
    figures["cycle peak memory (RSS)"] = f"{peak:,.0f} MiB"

    # -- the delinquency step against the floor and the baseline ------------------------------------
    with engine.connect() as conn:
        ctx = repo.cycle_context(conn)
        for kind, rows, secs in conn.exec_driver_sql(
            "SELECT kind, rows_read, (julianday(finished_at) - julianday(started_at)) * 86400 FROM ingest_runs "
            "ORDER BY id"
        ):
            figures[f"ingest {kind} (SQLite)"] = f"{rows:,} rows in {secs:.1f} s ({rows / max(secs, 1e-9):,.0f} rows/s)"
    with ArrowReader(engine) as reader:
        statements, payments, holds = repo.read_ledger(reader, watermark=ctx.current_watermark)
    con = duckdb.connect()
    con.execute("SET memory_limit = '6GB'")
    con.register("statements", statements)
    con.register("payments", payments)
    con.register("holds", holds)
    step = best_of(args.repeat, lambda: assess_arrays(statements, payments, holds, as_of_dates=[args.date],
                                                      rules=rules))
    floor = best_of(args.repeat, lambda: floor_query(con, statements="statements", payments="payments"))
    sql_step = best_of(1, lambda: assess_portfolio_sql(con, as_of_dates=[args.date], rules=rules))

    by_account: dict[int, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    keys = statements.column("account_key").unique().to_pylist()
    sample = set(random.Random(args.seed).sample(keys, min(args.sample, len(keys))))
    for row in statements.to_pylist():
        if row["account_key"] in sample:
            by_account[row["account_key"]][0].append(
                Statement(row["statement_date"], row["due_date"], row["minimum_due"], row["past_due_included"]))
    for row in payments.to_pylist():
        if row["account_key"] in sample:
            by_account[row["account_key"]][1].append(Payment(row["value_date"], row["amount"]))
    for row in holds.to_pylist():
        if row["account_key"] in sample:
            by_account[row["account_key"]][2].append(Hold(row["start_date"], row["end_date"], row["pauses_ageing"]))

    def reference() -> None:
        for s, p, h in by_account.values():
            assess(s, p, h, as_of=args.date, rules=rules)

    ref_sample = best_of(1, reference)
    baseline = ref_sample / len(by_account) * len(keys)
    figures["statements / payments / holds"] = f"{statements.num_rows:,} / {payments.num_rows:,} / {holds.num_rows:,}"
    figures["delinquency step (array engine, the cycle's default)"] = f"{step:.2f} s"
    figures["floor (DuckDB: read the same inputs + group by account)"] = f"{floor:.2f} s"
    figures["step / floor"] = f"{step / floor:.2f}x (goal: 3x or less)"
    figures["SQL formulation on DuckDB / floor"] = f"{sql_step / floor:.1f}x ({sql_step:.2f} s, one run)"
    figures["baseline (pure reference, scaled from sample)"] = (
        f"{baseline:.1f} s ({len(by_account):,} accounts took {ref_sample:.2f} s)")
    figures["baseline / step"] = f"{baseline / step:.1f}x (goal: 20x or more)"

    command = "python bench/bench_cycle.py " + " ".join(sys.argv[1:])
    lines = [f"### Cycle, {args.accounts:,} accounts — {date.today().isoformat()}", "",
             f"Command: `{command}`  ", f"Machine: {os.cpu_count()} cores, {platform.python_implementation()} "
             f"{platform.python_version()}, DuckDB {duckdb.__version__}", "", "| measure | result |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in figures.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.record:
        results = ROOT / "bench" / "RESULTS.md"
        with results.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
