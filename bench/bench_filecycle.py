"""Benchmark of the whole daily cycle file to file (``arrears cycle --engine …``).

Two measurements, each in a child process of its own so that its peak memory is its own:

1. **DuckDB, the full cycle** on ``--accounts`` synthetic accounts (default 10,000,000): wall time,
   peak resident memory, accounts per second, and each stage. The cost of strategy and scoring is
   reported against the delinquency step of the same run: (features + scoring + segmentation and
   treatment) / delinquency; the goal is under 0.5.
2. **Spark local vs DuckDB** (``--spark-accounts``, default 1,000,000): the same cycle on the same
   files with both engines; the ratio of their wall times (Spark's session start shown apart).

The portfolio is ``arrears sim portfolio`` (Parquet), kept under ``--work`` between runs; the
behaviour model is trained once on synthetic history. Both engines use the two example strategies.

    python bench/bench_filecycle.py --record
    python bench/bench_filecycle.py --accounts 1000000 --spark-accounts 200000

``--record`` appends the figures and the command to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = [str(ROOT / "strategies" / "early-gentle.yaml"), str(ROOT / "strategies" / "late-stage.yaml")]
DAY = date(2026, 11, 28)


def _ledger(work: Path, accounts: int, seed: int) -> Path:
    from arrears.sim.portfolio import generate_portfolio

    folder = work / f"ledger-{accounts}-{seed}-{DAY.isoformat()}"
    if not (folder / ".complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        generate_portfolio(folder, accounts=accounts, seed=seed, as_of=DAY, fmt="parquet")
        (folder / ".complete").write_text(f"{time.perf_counter() - t:.1f}\n")
    return folder


def _model(work: Path) -> Path:
    from arrears.score.model import save_model
    from arrears.score.training import TrainingConfig, train
    from arrears.sim.score_history import score_history

    target = work / "models" / "behaviour" / "bench-1"
    if not target.is_dir():
        model, _ = train(score_history(20_000, 18, seed=5), name="behaviour", version="bench-1",
                         config=TrainingConfig(num_threads=2))
        save_model(model, work / "models")
    return target


def child(args: argparse.Namespace) -> int:
    """One cycle in this process; prints a JSON line with the result and the peak memory."""
    from arrears.batch.filecycle import run_file_cycle

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    kw = {}
    start = 0.0
    if args.engine == "spark":
        from arrears.batch.spark import spark_session

        kw["spark"] = spark_session("local[2]", conf={"spark.driver.memory": args.spark_memory,
                                                      "spark.ui.enabled": "false"})
        start = time.perf_counter() - t
    result = run_file_cycle(engine=args.engine, ledger_dir=args.ledger, out_dir=out, business_date=DAY,
                            strategy_files=STRATEGIES, model_dir=args.model, **kw)
    wall = time.perf_counter() - t
    if start:
        result.timings["start spark"] = start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if args.engine == "spark":  # the JVM is a child of this process
        peak += resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"wall": wall, "peak": peak, "accounts": result.accounts, "in_collections": result.in_collections,
                      "scored": result.scored, "treated": result.treated, "actions": result.actions,
                      "timings": result.timings}))
    return 0


def _measure(engine: str, ledger: Path, model: Path, out: Path, spark_memory: str) -> dict:  # type: ignore[type-arg]
    cmd = [sys.executable, __file__, "--child", "--engine", engine, "--ledger", str(ledger), "--model", str(model),
           "--out", str(out), "--spark-memory", spark_memory]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{engine} run failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000_000)
    parser.add_argument("--spark-accounts", type=int, default=1_000_000, help="0 to skip the Spark comparison")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench" / "filecycle")
    parser.add_argument("--spark-memory", default="6g")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--ledger", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import duckdb

    args.work.mkdir(parents=True, exist_ok=True)
    model = _model(args.work)
    rows: list[tuple[str, str]] = []

    ledger = _ledger(args.work, args.accounts, args.seed)
    with duckdb.connect() as con:
        n = {k: con.sql(f"SELECT count(*) FROM read_parquet('{ledger}/{k}.parquet')").fetchall()[0][0]
             for k in ("statements", "payments", "holds")}
    rows.append(("statements / payments / holds", " / ".join(f"{v:,}" for v in n.values())))
    d = _measure("duckdb", ledger, model, args.work / "out-duckdb", args.spark_memory)
    t = d["timings"]
    strategy = t["features"] + t["scoring"] + t["segmentation and treatment"]
    rows += [
        (f"DuckDB full cycle, {d['accounts']:,} accounts: wall time", f"{d['wall']:.1f} s"),
        ("peak memory (RSS)", _mib(d["peak"])),
        ("accounts per second", f"{d['accounts'] / d['wall']:,.0f}"),
        ("accounts in collections / scored / treated / actions due",
         f"{d['in_collections']:,} / {d['scored']:,} / {d['treated']:,} / {d['actions']:,}"),
        ("stages", ", ".join(f"{k} {v:.1f} s" for k, v in t.items() if k != "total")),
        ("features + scoring + strategy / delinquency step",
         f"{strategy / t['delinquency']:.2f} ({strategy:.1f} s / {t['delinquency']:.1f} s; goal under 0.5)"),
    ]

    if args.spark_accounts:
        small = _ledger(args.work, args.spark_accounts, args.seed)
        dd = _measure("duckdb", small, model, args.work / "out-duckdb-small", args.spark_memory)
        sp = _measure("spark", small, model, args.work / "out-spark-small", args.spark_memory)
        if (dd["accounts"], dd["treated"], dd["actions"]) != (sp["accounts"], sp["treated"], sp["actions"]):
            raise SystemExit(f"engines disagree: duckdb {dd} spark {sp}")
        start = sp["timings"].get("start spark", 0.0)
        rows += [
            (f"same {dd['accounts']:,} accounts: DuckDB wall time", f"{dd['wall']:.1f} s"),
            ("Spark local[2] wall time (session start included)", f"{sp['wall']:.1f} s (start {start:.1f} s)"),
            ("Spark / DuckDB", f"{sp['wall'] / dd['wall']:.1f}x ({(sp['wall'] - start) / dd['wall']:.1f}x without "
                               "the session start)"),
            ("Spark stages", ", ".join(f"{k} {v:.1f} s" for k, v in sp["timings"].items() if k != "total")),
        ]

    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    if args.record:
        import pyspark

        cmd = "python bench/bench_filecycle.py " + " ".join(a for a in sys.argv[1:])
        text = (f"\n### Full cycle file to file, {args.accounts:,} accounts (DuckDB) — {date.today().isoformat()}\n\n"
                f"Command: `{cmd}`  \nMachine: {os.cpu_count()} cores, CPython {platform.python_version()}, "
                f"DuckDB {duckdb.__version__}, PySpark {pyspark.__version__}\n\n| measure | result |\n| --- | --- |\n"
                + "".join(f"| {k} | {v} |\n" for k, v in rows))
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
