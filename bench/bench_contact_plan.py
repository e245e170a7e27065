"""Benchmark of the daily contact plan on the contactability simulator (pure, one process, no database).

In one run:
- ``--cases`` synthetic customers with TRUE right-party-contact probabilities per local hour of the week
  (:mod:`arrears.sim.contactability`; 8 % in Asia/Urumqi, two hours behind the bank's clock), and
  ``--weeks`` of call history from the bank's old habit (mostly weekday office hours);
- the best-time model learned from that history (hierarchical Beta-binomial, segments bucket x age band);
- the plan for one day (``--day``, a Tuesday by default): ``--agents`` agents on 08:00–21:00 shifts,
  ``--calls-per-agent-hour`` each, 13 hours, under the ``cn`` compliance gate; solved as a min-cost flow;
- judged with the TRUE probabilities against two baselines on the same gate and capacity: "everyone at
  10:00 first" (cases in case order fill 10:00, then 11:00, … 20:00, then 08:00, 09:00) and a random
  plan; plus the oracle (the same solver given the true probabilities), an upper bound;
- a second scenario with capacity for every case (only the hour is chosen, not who is called).

    python bench/bench_contact_plan.py
    python bench/bench_contact_plan.py --record     # also append the figures to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from arrears.contact import load_default_pack
from arrears.contact.besttime import fit
from arrears.contact.plan import (
    BUSINESS_HOURS,
    DueCase,
    Shift,
    allowed_matrix,
    build_plan,
    capacity_matrix,
    fill_from,
    hour_slots,
    hour_starts,
    random_plan,
    solve,
)
from arrears.sim.contactability import simulate_customers, simulate_history

ROOT = Path(__file__).resolve().parents[1]
BANK_TZ = "Asia/Shanghai"


def true_rpc(true_p: np.ndarray, slots: np.ndarray, assignment: np.ndarray) -> float:
    rows = np.flatnonzero(assignment >= 0)
    return float(true_p[rows, slots[rows, assignment[rows]]].sum())


def scenario(name: str, *, customers, probs, cases, allowed, slots, day, agents: int, per_hour: int, pack,
             seed: int) -> dict:  # type: ignore[no-untyped-def]
    shifts = [Shift(a, None) for a in range(agents)]
    cap = capacity_matrix(shifts, BUSINESS_HOURS, per_hour, [None])
    value = np.take_along_axis(probs, slots, axis=1)
    t0 = time.perf_counter()
    assignment = solve(value, allowed, cap)
    solve_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = build_plan(cases, probs, day=day, shifts=shifts, pack=pack, calls_per_agent_hour=per_hour,
                      allowed=allowed)
    build_s = time.perf_counter() - t0
    assert np.array_equal(plan.assignment >= 0, assignment >= 0) or abs(plan.expected_rpc - float(
        value[assignment >= 0, assignment[assignment >= 0]].sum())) < 1e-3
    truth = customers.true_p
    opt = true_rpc(truth, slots, plan.assignment)
    ten = true_rpc(truth, slots, fill_from(allowed, cap[0], BUSINESS_HOURS.index(10)))
    rnd = true_rpc(truth, slots, random_plan(allowed, cap[0], np.random.default_rng(seed)))
    true_value = np.take_along_axis(truth, slots, axis=1)
    oracle = true_rpc(truth, slots, solve(true_value, allowed, cap))
    return {"name": name, "capacity": int(cap.sum()), "calls": len(plan.calls), "solve_s": solve_s,
            "build_s": build_s, "predicted": plan.expected_rpc, "opt": opt, "ten": ten, "rnd": rnd, "oracle": oracle}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=50_000)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--calls-per-agent-hour", type=int, default=12)
    ap.add_argument("--weeks", type=int, default=12)
    ap.add_argument("--calls-per-week", type=float, default=2.0)
    ap.add_argument("--day", type=date.fromisoformat, default=date(2026, 3, 10))
    ap.add_argument("--seed", type=int, default=20260310)
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()

    pack = load_default_pack("cn")
    t0 = time.perf_counter()
    customers = simulate_customers(args.cases, seed=args.seed)
    history = simulate_history(customers, weeks=args.weeks, calls_per_week=args.calls_per_week, seed=args.seed + 1)
    sim_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = fit(history, customers.segments)
    probs = model.posterior_mean()
    fit_s = time.perf_counter() - t0
    cases = [DueCase(case_id=int(c), account_ref=f"ACC{c:08d}", customer_id=int(c), time_zone=str(z),
                     contact_point_id=int(c)) for c, z in zip(customers.customer_ids, customers.time_zones)]
    starts = hour_starts(args.day, BANK_TZ)
    t0 = time.perf_counter()
    allowed = allowed_matrix(cases, starts, pack)
    gate_s = time.perf_counter() - t0
    slots = hour_slots([c.time_zone for c in cases], starts)
    mae = float(np.abs(probs - customers.true_p)[:, model.allowed].mean())
    prior_mae = float(np.abs(model.prior_mean - customers.true_p)[:, model.allowed].mean())

    results = [
        scenario(f"{args.calls_per_agent_hour} calls per agent-hour", customers=customers, probs=probs, cases=cases,
                 allowed=allowed, slots=slots, day=args.day, agents=args.agents, per_hour=args.calls_per_agent_hour,
                 pack=pack, seed=args.seed),
        scenario("capacity for every case (20 per agent-hour)", customers=customers, probs=probs, cases=cases,
                 allowed=allowed, slots=slots, day=args.day, agents=args.agents, per_hour=20, pack=pack,
                 seed=args.seed),
    ]
    machine = f"{os.cpu_count()} cores, CPython {platform.python_version()}, numpy {np.__version__}"
    lines = [
        f"### Daily contact plan, {args.cases:,} due cases, {args.agents} agents, 13 hours — {date.today().isoformat()}",
        "",
        f"Command: `python bench/bench_contact_plan.py {' '.join(sys.argv[1:])}`".rstrip() + "  ",
        f"Machine: {machine}; plan day {args.day.isoformat()} ({args.day.strftime('%A')}), bank zone {BANK_TZ}, "
        f"history {args.weeks} weeks x {args.calls_per_week:g} calls/customer/week, seed {args.seed}",
        "",
        "| measure | result |",
        "| --- | --- |",
        f"| simulate customers + history | {sim_s:.2f} s ({int(history.attempts.sum()):,} calls) |",
        f"| fit the model (50k x 168, {len(model.segments)} segments) + posterior means | {fit_s:.2f} s |",
        f"| model mean abs. error vs TRUE p (allowed hours) / prior shape alone | {mae:.3f} / {prior_mae:.3f} |",
        f"| gate mask (cases x 13 hours, real gate, memoised) | {gate_s:.2f} s |",
    ]
    for r in results:
        lines += [
            f"| **{r['name']}**: capacity / calls planned | {r['capacity']:,} / {r['calls']:,} |",
            f"| solve (min-cost flow, {args.cases:,} x 13) / whole build_plan | {r['solve_s']:.2f} s / "
            f"{r['build_s']:.2f} s |",
            f"| expected RPC (TRUE p): optimised plan | {r['opt']:,.0f} (model predicted {r['predicted']:,.0f}) |",
            f"| baseline \"everyone at 10:00 first\" | {r['ten']:,.0f} |",
            f"| baseline random plan | {r['rnd']:,.0f} |",
            f"| oracle (solver given TRUE p) | {r['oracle']:,.0f} |",
            f"| optimised / 10:00-first · optimised / random · optimised / oracle | "
            f"{r['opt'] / r['ten']:.2f}x · {r['opt'] / r['rnd']:.2f}x · {r['opt'] / r['oracle']:.2f} |",
        ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
