"""Benchmark of the repayment-plan options generator (pure, one process, no database).

In one run:
- ``--cases`` random cases (balances from 100.00 to 500,000.00 yuan, affordable amounts, willingness,
  causes, roles, days past due; fixed ``--seed``) with the default products;
- the measure: ``generate_options`` for each case (every product, schedules, IRRs, the personalised
  term search), per case, p50 / p99 / max;
- baseline 1: building one 12-month fee schedule for the same case, no IRR;
- baseline 2: the IRR alone of that 12-month schedule (``annual_rate``).

The goal is p99 under 20 ms a case. Timings are per call with ``time.perf_counter``; the first
``--warmup`` cases are run and not counted.

    python bench/bench_plans.py
    python bench/bench_plans.py --record     # also append the figures to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import scipy

from arrears.auth.model import ROLES
from arrears.plans.config import load_default_plan_products
from arrears.plans.model import PlanInputs, annual_rate, build_schedule, generate_options

ROOT = Path(__file__).resolve().parents[1]
CAUSES = ("job_loss", "illness", "business_trouble", "over_indebted", "forgot", "dispute", "other")
GOAL_MS = 20.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def random_case(rng: random.Random) -> PlanInputs:
    balance = int(10 ** rng.uniform(4, 7.7))  # 100.00 .. ~500,000.00 yuan, in fen
    overdue = rng.randint(0, balance // 3)
    minimum = min(balance, overdue + balance // 10)
    affordable = None if rng.random() < 0.2 else int(balance * rng.uniform(0.005, 1.2))
    return PlanInputs(
        today=date(2026, 1, 1) + timedelta(days=rng.randrange(365)),
        balance=balance, overdue=overdue, minimum_due=minimum, affordable=affordable,
        willingness=None if rng.random() < 0.15 else rng.randint(1, 5),
        cause=None if rng.random() < 0.15 else rng.choice(CAUSES),
        role=rng.choice(ROLES), dpd=rng.randint(0, 360),
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20260131)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()

    products = load_default_plan_products()
    rng = random.Random(args.seed)
    cases = [random_case(rng) for _ in range(args.cases + args.warmup)]
    fee = Decimal("0.60")

    options_t, schedule_t, irr_t = [], [], []
    counted = offered = fitting = 0
    for n, case in enumerate(cases):
        t0 = time.perf_counter()
        opts = generate_options(case, products)
        t1 = time.perf_counter()
        schedule = build_schedule(case.balance, start=case.today, months=12, monthly_fee_rate=fee)
        t2 = time.perf_counter()
        annual_rate(case.balance, schedule, start=case.today)
        t3 = time.perf_counter()
        if n < args.warmup:
            continue
        options_t.append(t1 - t0)
        schedule_t.append(t2 - t1)
        irr_t.append(t3 - t2)
        counted += len(opts)
        offered += sum(o.offered for o in opts)
        fitting += sum(bool(o.fits_affordable) for o in opts)

    p50, p99 = percentile(options_t, 50), percentile(options_t, 99)
    rows = [
        ("cases / options built / offered / fitting",
         f"{args.cases:,} / {counted:,} / {offered:,} / {fitting:,} ({len(products.products)} products)"),
        ("generate_options per case, p50 / p99 / max",
         f"{ms(p50)} / {ms(p99)} / {ms(max(options_t))} (goal: p99 < {GOAL_MS:.0f} ms)"),
        ("baseline 1: one 12-month schedule, no IRR, p50 / p99",
         f"{ms(percentile(schedule_t, 50))} / {ms(percentile(schedule_t, 99))}"),
        ("baseline 2: the IRR of that schedule alone, p50 / p99",
         f"{ms(percentile(irr_t, 50))} / {ms(percentile(irr_t, 99))}"),
        ("generate_options / (schedule + IRR), p50",
         f"{p50 / (percentile(schedule_t, 50) + percentile(irr_t, 50)):.1f}x"),
        ("total time for all cases", f"{sum(options_t):.2f} s"),
    ]
    title = f"### Plan options, {args.cases:,} random cases — {date.today().isoformat()}"
    machine = (f"Machine: {os.cpu_count()} cores, CPython {platform.python_version()}, SciPy {scipy.__version__}, "
               f"one process, seed {args.seed}")
    cmd = "python bench/bench_plans.py " + " ".join(sys.argv[1:])
    lines = [title, "", f"Command: `{cmd.strip()}`  ", machine, "", "| measure | result |", "| --- | --- |",
             *[f"| {k} | {v} |" for k, v in rows]]
    print("\n".join(lines))
    if args.record:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + "\n".join(lines) + "\n")
    return 0 if p99 < GOAL_MS / 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
