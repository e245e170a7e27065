"""Benchmark of behaviour scoring: ``--accounts`` accounts from a features file to a scores file.

In one run:
- a model is trained on a synthetic history (``--history-accounts`` × ``--months``, fixed seed) —
  its training time and hold-out AUC are reported, not the subject;
- a features file of ``--accounts`` accounts (Parquet, synthetic, fixed seed) is written;
- the measure: the ``arrears score apply`` path — read and validate the file, score
  (LightGBM, ``--threads``), write account_ref, month, behaviour_score as Parquet;
- baseline 1 (the I/O floor): read and validate the same file, write the same output table with a
  constant score — everything but the model;
- baseline 2: a logistic regression (scikit-learn, standardised numeric features, trained on the
  same months) scoring the same feature matrix — the cheapest model that would do the job.

Each timing is the best of ``--repeat`` runs in this process.

    python bench/bench_score.py
    python bench/bench_score.py --accounts 1000000 --record   # also append to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from arrears.score.fileformat import read_features_file, write_table
from arrears.score.model import SCORE_COLUMN, feature_matrix, probability_to_bp
from arrears.score.training import TrainingConfig, split_by_time, train
from arrears.sim.score_history import feature_snapshot, score_history

ROOT = Path(__file__).resolve().parents[1]


def best_of(repeat: int, fn):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--history-accounts", type=int, default=20_000)
    ap.add_argument("--months", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()
    import lightgbm  # after arrears.score, which sets OMP_WAIT_POLICY before libgomp loads
    import sklearn

    history = score_history(args.history_accounts, args.months, seed=args.seed)
    config = TrainingConfig(num_boost_round=args.rounds, num_threads=args.threads, seed=args.seed)
    t0 = time.perf_counter()
    model, report = train(history, name="bench", version="1", config=config)
    train_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        features_path = write_table(feature_snapshot(args.accounts, seed=args.seed + 1), Path(tmp) / "features.parquet")
        out_path = Path(tmp) / "scores.parquet"
        needed = model.features

        def floor() -> int:
            table = read_features_file(features_path, features=needed)
            out = table.select(["account_ref", "month"]).append_column(
                SCORE_COLUMN, pa.array(np.zeros(table.num_rows, dtype=np.int32)))
            write_table(out, out_path)
            return table.num_rows

        def apply() -> int:
            table = read_features_file(features_path, features=needed)
            write_table(model.score_table(table), out_path)
            return table.num_rows

        floor_s, rows = best_of(args.repeat, floor)
        apply_s, _ = best_of(args.repeat, apply)
        table = read_features_file(features_path, features=needed)
        predict_s, _ = best_of(args.repeat, lambda: model.score(table))

        # Baseline 2: logistic regression on the numeric features, same training months.
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        train_m, _, hold_m = split_by_time(history, holdout_months=config.holdout_months,
                                           gap_months=config.gap_months)
        import pyarrow.compute as pc
        tr = history.filter(pc.is_in(history["month"], value_set=pa.array(train_m)))
        ho = history.filter(pc.is_in(history["month"], value_set=pa.array(hold_m)))
        numeric = model.numeric
        t0 = time.perf_counter()
        lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        lr.fit(feature_matrix(tr, numeric, {}), tr["paid_next"].to_numpy())
        lr_train_s = time.perf_counter() - t0
        lr_auc = roc_auc_score(ho["paid_next"].to_numpy(), lr.predict_proba(feature_matrix(ho, numeric, {}))[:, 1])
        lr_s, _ = best_of(args.repeat, lambda: probability_to_bp(
            lr.predict_proba(feature_matrix(table, numeric, {}))[:, 1]))

    rate = rows / apply_s
    rows_out = [
        ("model", f"LightGBM {lightgbm.__version__}, {args.rounds} rounds, {config.num_leaves} leaves, "
                  f"{args.threads} threads; trained on {report.train_rows:,} rows in {train_s:.1f} s"),
        ("hold-out AUC / Brier (LightGBM)", f"{report.auc:.4f} / {report.brier:.4f} "
                                            f"({report.holdout_rows:,} rows, {report.holdout_months[0]}.."
                                            f"{report.holdout_months[-1]})"),
        ("accounts scored", f"{rows:,}"),
        ("apply: read + validate + score + write", f"{apply_s:.2f} s ({rate:,.0f} rows/s)"),
        ("scoring alone (LightGBM predict → bp), timed separately", f"{predict_s:.2f} s ({rows / predict_s:,.0f} rows/s)"),
        ("baseline 1: read + validate + write, no model", f"{floor_s:.2f} s ({rows / floor_s:,.0f} rows/s)"),
        ("apply / baseline 1", f"{apply_s / floor_s:.2f}x"),
        ("baseline 2: logistic regression predict → bp", f"{lr_s:.2f} s ({rows / lr_s:,.0f} rows/s); "
                                                         f"hold-out AUC {lr_auc:.4f}, trained in {lr_train_s:.1f} s"),
        ("LightGBM scoring / logistic regression scoring", f"{predict_s / lr_s:.1f}x"),
    ]
    title = f"### Behaviour score, {rows:,} accounts — {date.today().isoformat()}"
    machine = (f"Machine: {os.cpu_count()} cores, CPython {platform.python_version()}, LightGBM {lightgbm.__version__}, "
               f"scikit-learn {sklearn.__version__}, PyArrow {pa.__version__}; best of {args.repeat}")
    cmd = "python bench/bench_score.py " + " ".join(sys.argv[1:])
    lines = [title, "", f"Command: `{cmd.strip()}`  ", machine, "", "| measure | result |", "| --- | --- |",
             *[f"| {k} | {v} |" for k, v in rows_out]]
    print("\n".join(lines))
    if args.record:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
