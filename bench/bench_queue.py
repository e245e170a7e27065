"""Benchmark of the agents' work queue on PostgreSQL.

In one run, on a fresh schema:
- builds ``--cases`` open cases over ``--teams`` teams and ``--agents`` agents;
- baseline 1: a plain ``SELECT … ORDER BY expected value LIMIT 1`` for one team, no locking, no
  suppression checks, one thread;
- baseline 2: one agent alone taking the next case and releasing it;
- the crowd: ``--agents`` agents (threads sharing a pool of ``--pool`` connections, as an API server
  would) log in at random moments over ``--ramp`` seconds, then take, hold ``--work`` seconds
  (random 0..2×), release, for ``--seconds``; reports "next case" latency p50/p99 (the claim
  transaction including commit) and claims/s, and checks that no case was held twice and no claim
  was lost;
- the burst: the same agents all asking for their first case at the same instant (the worst case,
  not a working day), for ``--burst-seconds``;
- flat out: the same agents with no time between cases (the claim throughput the store can give).

``--concurrency-check`` instead runs the exclusivity check alone: 50 agents for 30 s on a few cases
(they collide constantly), and exits non-zero on any overlap or lost update.

    python bench/bench_queue.py --record
    python bench/bench_queue.py --concurrency-check
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from arrears.cases import queue
from arrears.cases.model import OPEN_STATES
from arrears.cases.tables import Case
from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade
from arrears.sim.work_queue import (
    counted_claims,
    create_open_cases,
    create_teams_and_agents,
    overlapping_claims,
    percentile,
    run_agents,
)

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = os.environ.get("ARREARS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = f"arrears_bench_queue_{os.getpid()}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def store(pool: int):  # type: ignore[no-untyped-def]
    admin = make_engine(BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    url = f"{BASE_URL}?options=-csearch_path%3D{SCHEMA}"
    engine = make_engine(url, pool_size=pool, max_overflow=0, pool_timeout=120)
    upgrade(engine)
    return engine


def drop() -> None:
    admin = make_engine(BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    admin.dispose()


def concurrency_check(agents: int, seconds: float) -> int:
    engine = store(agents)
    try:
        crowd = create_teams_and_agents(engine, teams=2, agents=agents)
        create_open_cases(engine, cases=agents // 2, team_ids=sorted({a.team_id for a in crowd}))
        run = run_agents(engine, crowd, seconds=seconds)
        overlaps = overlapping_claims(run.claims)
        counted = counted_claims(engine)
        print(f"{agents} agents, {seconds:.0f} s: {run.claim_count} claims ({run.claim_count / run.elapsed:.0f}/s), "
              f"{len(overlaps)} overlapping holds, store counted {counted} claims, errors {len(run.errors)}")
        ok = not overlaps and counted == run.claim_count and not run.errors
        print("PASS" if ok else "FAIL")
        for e in run.errors[:5]:
            print(" ", e)
        return 0 if ok else 1
    finally:
        engine.dispose()
        drop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--teams", type=int, default=4)
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--pool", type=int, default=40, help="database connections shared by the agents")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--work", type=float, default=10.0, help="mean seconds an agent holds a case")
    ap.add_argument("--ramp", type=float, default=10.0, help="seconds over which the agents log in")
    ap.add_argument("--burst-seconds", type=float, default=5.0)
    ap.add_argument("--samples", type=int, default=300, help="repetitions of each baseline")
    ap.add_argument("--concurrency-check", action="store_true")
    ap.add_argument("--check-seconds", type=float, default=30.0)
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()
    if args.concurrency_check:
        return concurrency_check(50, args.check_seconds)

    engine = store(args.pool)
    try:
        t = time.perf_counter()
        crowd = create_teams_and_agents(engine, teams=args.teams, agents=args.agents)
        team_ids = sorted({a.team_id for a in crowd if a.team_id is not None})
        create_open_cases(engine, cases=args.cases, team_ids=team_ids)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        build = time.perf_counter() - t

        plain = []
        stmt = (select(Case.id).where(Case.team_id == team_ids[0], Case.status.in_(OPEN_STATES))
                .order_by(queue._ev_sql().desc(), Case.id).limit(1))
        with engine.connect() as conn:
            for _ in range(args.samples):
                t0 = time.perf_counter()
                conn.execute(stmt).scalar_one()
                conn.commit()
                plain.append(time.perf_counter() - t0)

        alone = []
        solo = crowd[0]
        for _ in range(args.samples):
            t0 = time.perf_counter()
            with Session(engine) as s, s.begin():
                got = queue.next_case(s, user=solo)  # type: ignore[arg-type]
                assert got is not None
                case_id = got.id
            alone.append(time.perf_counter() - t0)
            with Session(engine) as s, s.begin():
                queue.release(s, case_id=case_id, user=solo)  # type: ignore[arg-type]
        before = counted_claims(engine)

        run = run_agents(engine, crowd, seconds=args.seconds, work_seconds=args.work, ramp_seconds=args.ramp)
        overlaps = overlapping_claims(run.claims)
        lost = run.claim_count - (counted_claims(engine) - before)
        before = counted_claims(engine)
        burst = run_agents(engine, crowd, seconds=args.burst_seconds, work_seconds=args.work)
        overlaps += overlapping_claims(burst.claims)
        lost += burst.claim_count - (counted_claims(engine) - before)
        run.errors += burst.errors
        before = counted_claims(engine)
        flat_out = run_agents(engine, crowd, seconds=args.burst_seconds, work_seconds=0.0, ramp_seconds=0.0)
        overlaps += overlapping_claims(flat_out.claims)
        lost += flat_out.claim_count - (counted_claims(engine) - before)
        run.errors += flat_out.errors
    finally:
        engine.dispose()
        drop()

    p50, p99 = percentile(run.latencies, 50), percentile(run.latencies, 99)
    first = [lat for lat, at in zip(burst.latencies, burst.started, strict=True) if at < args.work]
    rows = [
        ("build (cases, accounts, customers, agents)", f"{args.cases:,} cases in {build:.1f} s"),
        ("baseline 1: plain SELECT … ORDER BY EV LIMIT 1, one thread, p50 / p99",
         f"{ms(percentile(plain, 50))} / {ms(percentile(plain, 99))}"),
        ("baseline 2: next case alone (claim + commit), p50 / p99",
         f"{ms(percentile(alone, 50))} / {ms(percentile(alone, 99))}"),
        (f"{args.agents} agents, pool {args.pool}, logging in over {args.ramp:g} s: next case p50 / p99 "
         f"({len(run.latencies):,} takes)", f"{ms(p50)} / {ms(p99)} (goal: p99 < 50 ms)"),
        ("p99 / baseline 2 p50", f"{p99 / percentile(alone, 50):.1f}x"),
        ("claims per second (crowd)", f"{run.claim_count / args.seconds:.1f} ({run.claim_count:,} in {args.seconds:g} s)"),
        ("empty takes (nothing available)", f"{run.empty:,}"),
        (f"burst: all {args.agents} ask at the same instant, first takes p50 / p99",
         f"{ms(percentile(first, 50))} / {ms(percentile(first, 99))}"),
        (f"flat out: {args.agents} agents with no time between cases, claims per second / p99",
         f"{flat_out.claim_count / args.burst_seconds:.0f} / {ms(percentile(flat_out.latencies, 99))}"),
        ("cases held twice / lost claim updates / errors (all runs)", f"{len(overlaps)} / {lost} / {len(run.errors)}"),
    ]
    for k, v in rows:
        print(f"{k}: {v}")
    if args.record:
        cmd = "python bench/bench_queue.py " + " ".join(sys.argv[1:])
        lines = [f"\n### Work queue, {args.cases:,} open cases, {args.agents} agents — {date.today().isoformat()}\n",
                 f"Command: `{cmd}`  ",
                 f"Machine: {os.cpu_count()} cores, CPython {platform.python_version()}, PostgreSQL 127.0.0.1, "
                 f"agents are threads holding a case {args.work:g} s on average, {args.seconds:g} s run\n",
                 "| measure | result |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows]]
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return 1 if overlaps or lost or run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
