"""Benchmark of the web pages: server time per page over a store of 100,000 open cases.

In one run, on a fresh store (a PostgreSQL schema of its own, or ``--sqlite``):

- builds ``--cases`` open cases over ``--teams`` teams with the work-queue builder
  (:func:`arrears.sim.work_queue.create_open_cases`), a completed cycle and a current delinquency
  snapshot of every case's account on each day of the ``--history-days`` before today and today
  (what the dashboards read), an experiment in two arms treating every case's account on each of
  those dates with the cohort and the read-out's sums the strategy step writes (:func:`add_experiment`),
  and one user per role (agents and the team lead in the first team);
- starts the app in-process (:func:`arrears.app.create_app` under Starlette's TestClient) wrapped in an
  ASGI timer, so what is measured is the SERVER's time for a request — from the request entering the
  app to the last byte of the response — not the client's;
- signs in as each role through the login form (``POST /login``, with the form's CSRF token);
- requests every page of :data:`PAGES` that the role may see ``--repeat`` times (the call script's
  steps and the best hours as the HTMX fragments the case page loads) (after one request
  not counted, which compiles the template), and the baselines
  (a static file, and ``/login``: a page that reads nothing from the store) as often;
- reports p50 / p95 per page and role, and p50 against the static-file baseline's p50.

A page that answers 404 is listed as "not there yet": add pages to :data:`PAGES` as they are built
and they are measured from then on.

    python bench/bench_pages.py --record
    python bench/bench_pages.py --cases 20000 --repeat 50 --sqlite
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = os.environ.get("ARREARS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = f"arrears_bench_pages_{os.getpid()}"

ROLES = ("agent", "team_lead", "supervisor", "compliance", "admin", "auditor")
#: The call script's steps (``web.labels.SCRIPT_STEPS``), each requested as the HTMX fragment it is.
SCRIPT_STEPS = ("greeting", "explain", "reason", "investigation", "options", "agreement", "next")
#: The pages measured: (path, roles that request it, HTMX request?). ``{case_id}`` is a case of the first
#: team. Add a page here when it is built; a 404 is reported as "not there yet".
PAGES: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("/queue", ("agent", "team_lead"), False),
    ("/case/{case_id}", ("agent", "team_lead", "supervisor"), False),
    *((f"/case/{{case_id}}/script/{step}", ("agent",), True) for step in SCRIPT_STEPS),
    ("/case/{case_id}/best-hours", ("agent",), True),
    ("/team", ("team_lead",), False),
    ("/supervisor", ("supervisor", "admin"), False),
    ("/approvals", ("team_lead", "supervisor", "compliance"), False),
    ("/compliance", ("compliance", "auditor"), False),
    ("/audit", ("compliance", "auditor"), False),
    ("/admin", ("admin",), False),
    ("/admin/packs", ("admin",), False),
    ("/admin/strategies", ("admin",), False),
    ("/admin/templates", ("admin",), False),
)
#: Baselines measured in the same run: a static file (no store, no template) and the login form (a
#: template, no store).
STATIC_BASELINE = "/static/app.css"
LOGIN_BASELINE = "/login"
PASSWORD = "bench-password-0123"
#: The goal: server time under 300 ms at p95 for each page.
GOAL_P95 = 0.300


class Timed:
    """ASGI wrapper: the seconds the wrapped app took for the last HTTP request (through the response's end)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = 0.0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        await self.app(scope, receive, send)
        self.last = time.perf_counter() - t0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def make_store(sqlite_dir: Path | None) -> tuple[str, Callable[[], None]]:
    from arrears.kit.db import make_engine
    from arrears.kit.migrate import upgrade

    if sqlite_dir is not None:
        url = f"sqlite:///{sqlite_dir / 'bench.sqlite'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url, lambda: shutil.rmtree(sqlite_dir, ignore_errors=True)
    admin = make_engine(BASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    url = f"{BASE_URL}?options=-csearch_path%3D{SCHEMA}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()

    def drop() -> None:
        admin = make_engine(BASE_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        admin.dispose()

    return url, drop


def add_snapshots(engine: Any, *, days: int) -> int:
    """A completed cycle run and one current delinquency snapshot per open case's account on each of
    the ``days`` + 1 business dates ending today (the bank's zone), written by one INSERT … SELECT per
    date, so that the dashboards' figures (by bucket, roll rates, cure trend) read a book of this size;
    each date's book figures refreshed in the same transaction, as the cycle does. Returns the
    snapshots written."""
    from arrears.cases.service import business_date_of
    from arrears.delinquency.repository import refresh_book_figures
    from arrears.delinquency.tables import CycleRun
    from arrears.kit.clock import utc_now

    now = utc_now()
    today = business_date_of(now)
    dpd = "CASE c.bucket WHEN 'M1' THEN 15 WHEN 'M2' THEN 45 WHEN 'M3' THEN 75 ELSE 120 END"
    written = 0
    for n in range(days, -1, -1):
        day = today - timedelta(days=n)
        with engine.begin() as conn:
            run_id = conn.execute(insert(CycleRun).values(
                business_date=day, status="completed", ingest_watermark=0, accounts_assessed=0,
                delinquent_accounts=0, restated_accounts=0, snapshots_written=0, bucket_changes=0, cases_opened=0,
                cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
            written += conn.execute(text(
                "INSERT INTO delinquency_snapshots (account_id, business_date, dpd, delinquent, bucket, "
                "cycles_delinquent, amount_past_due, past_due_c1, past_due_c2, past_due_c3, past_due_c4, "
                "past_due_c5, past_due_c6, past_due_c7p, charge_off, oldest_unpaid_due_date, cycle_run_id) "
                f"SELECT c.account_id, :day, {dpd}, :yes, c.bucket, 1, c.balance / 10, c.balance / 10, 0, 0, 0, 0, "
                "0, 0, :no, :due, :run FROM cases c"),
                {"day": day, "yes": True, "no": False, "due": day - timedelta(days=30), "run": run_id}).rowcount
            refresh_book_figures(conn, [day])
    return written


#: The benchmark's experiment: every case's account treated daily, 80 % champion, 20 % challenger.
EXPERIMENT = "bench-exp"


def add_experiment(engine: Any, *, days: int) -> tuple[int, float]:
    """The strategy step's experiment rows for every open case's account on each of the ``days`` + 1
    business dates ending today: the decisions by one INSERT … SELECT per date (arm by the case id:
    80 % ``champion``, 20 % ``challenger``), then in the same transaction, as the step does, the date's
    new entries and its precomputed read-out sums through the step's own functions. Returns the
    decisions written and the seconds the last date's entries and sums took (one cycle's cost)."""
    from sqlalchemy import bindparam
    from sqlalchemy.orm import Session

    from arrears.cases.service import business_date_of
    from arrears.kit.clock import utc_now
    from arrears.kit.db import UTCDateTime
    from arrears.reports.experiments import refresh_arm_stats
    from arrears.strategy.repository import add_experiment_entries

    now = utc_now()
    today = business_date_of(now)
    first = today - timedelta(days=days)
    decisions = text(
        "INSERT INTO strategy_decisions (business_date, account_id, case_id, strategy, strategy_version, segment, "
        "segment_since, days_in_segment, experiment, arm, actions, created_by, created_at) "
        "SELECT :day, c.account_id, c.id, 'bench', 1, c.bucket, :first, :n, :exp, "
        "CASE WHEN c.id % 10 < 8 THEN 'champion' ELSE 'challenger' END, '[]', 'bench', :now FROM cases c"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    written, last = 0, 0.0
    for n in range(days, -1, -1):
        day = today - timedelta(days=n)
        with engine.begin() as conn:
            written += conn.execute(decisions, {"day": day, "first": first, "n": days - n, "exp": EXPERIMENT,
                                                "now": now}).rowcount
            t0 = time.perf_counter()
            session = Session(bind=conn)
            add_experiment_entries(session, business_date=day)
            refresh_arm_stats(session, business_date=day)
            last = time.perf_counter() - t0
    return written, last


def build(url: str, *, cases: int, teams: int, agents: int, history_days: int) -> tuple[int, float | None]:
    """Open cases, teams, a crowd of agents, the history and the experiment, and one bench user per role;
    returns a case of the first team and the seconds one cycle date's experiment entries and sums took."""
    from arrears.auth.service import create_user
    from arrears.auth.tables import Team
    from arrears.cases.tables import Case
    from arrears.kit.db import make_engine, transaction
    from arrears.sim.work_queue import create_open_cases, create_teams_and_agents

    engine = make_engine(url)
    try:
        crowd = create_teams_and_agents(engine, teams=teams, agents=agents, prefix="bench")
        team_ids = sorted({a.team_id for a in crowd if a.team_id is not None})
        create_open_cases(engine, cases=cases, team_ids=team_ids)
        refresh: float | None = None
        if history_days >= 0:
            add_snapshots(engine, days=history_days)
            _, refresh = add_experiment(engine, days=history_days)
        with transaction(engine) as session:
            team_code = session.scalars(select(Team.code).where(Team.id == team_ids[0])).one()
            for role in ROLES:
                create_user(session, username=f"bench.{role}", password=PASSWORD, role=role,
                            team=team_code if role in ("agent", "team_lead") else None, actor="bench")
            case_id = session.scalars(select(Case.id).where(Case.team_id == team_ids[0]).order_by(Case.id)
                                      .limit(1)).one()
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        return int(case_id), refresh
    finally:
        engine.dispose()


def sign_in(client: Any, username: str) -> None:
    form = client.get("/login")
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    if form.status_code != 200 or match is None:
        raise SystemExit(f"/login has no form with a csrf_token (status {form.status_code})")
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": match.group(1),
                                    "next": "/"}, follow_redirects=False)
    if r.status_code != 303:
        raise SystemExit(f"signing in as {username} failed: {r.status_code}")


def measure(client: Any, timer: Timed, path: str, repeat: int, *, htmx: bool = False) -> tuple[list[float], int]:
    times, status = [], 0
    headers = {"HX-Request": "true"} if htmx else None
    warm = client.get(path, follow_redirects=False, headers=headers)  # compiles the template and warms the caches: not counted
    if warm.status_code == 404:
        return [], 404
    for _ in range(repeat):
        r = client.get(path, follow_redirects=False, headers=headers)
        status = r.status_code
        if status == 404:
            return [], status
        times.append(timer.last)
    return times, status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--teams", type=int, default=4)
    ap.add_argument("--agents", type=int, default=40, help="other agents in the teams (they hold nothing)")
    ap.add_argument("--history-days", type=int, default=30,
                    help="daily delinquency snapshots of every case over this many days before today, for the "
                         "dashboards (-1: none)")
    ap.add_argument("--repeat", type=int, default=100, help="requests per page and role")
    ap.add_argument("--sqlite", action="store_true", help="a SQLite store instead of PostgreSQL")
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from arrears.app import create_app
    from arrears.config import Settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-")) if args.sqlite else None
    url, cleanup = make_store(tmp)
    rows: list[tuple[str, str]] = []
    missing: list[str] = []
    slow: list[str] = []
    try:
        t0 = time.perf_counter()
        case_id, refresh = build(url, cases=args.cases, teams=args.teams, agents=args.agents,
                                 history_days=args.history_days)
        built = time.perf_counter() - t0
        app = create_app(Settings(database_url=url))
        timer = Timed(app)
        with TestClient(timer, base_url="http://127.0.0.1") as anonymous:
            static, _ = measure(anonymous, timer, STATIC_BASELINE, args.repeat)
            login, _ = measure(anonymous, timer, LOGIN_BASELINE, args.repeat)
        base = percentile(static, 50)
        history = (f", a current snapshot and an experiment decision of each on {args.history_days + 1} business "
                   "dates" if args.history_days >= 0 else "")
        rows.append(("build", f"{args.cases:,} open cases{history}, {args.teams} teams in {built:.1f} s"))
        if refresh is not None:
            rows.append(("the strategy step's experiment entries and read-out sums for one cycle date "
                         "(the last, in the build)", ms(refresh)))
        rows.append((f"baseline: GET {STATIC_BASELINE} p50 / p95",
                     f"{ms(base)} / {ms(percentile(static, 95))}"))
        rows.append((f"baseline: GET {LOGIN_BASELINE} (template, no store) p50 / p95 / ×static",
                     f"{ms(percentile(login, 50))} / {ms(percentile(login, 95))} / {percentile(login, 50) / base:.1f}x"))
        for role in ROLES:
            with TestClient(timer, base_url="http://127.0.0.1") as client:
                sign_in(client, f"bench.{role}")
                home, status = measure(client, timer, "/", args.repeat)
                rows.append((f"{role}: GET / (redirect to the start page, {status}) p50 / p95",
                             f"{ms(percentile(home, 50))} / {ms(percentile(home, 95))}"))
                for path, roles, htmx in PAGES:
                    if role not in roles:
                        continue
                    real = path.format(case_id=case_id)
                    times, status = measure(client, timer, real, args.repeat, htmx=htmx)
                    if not times:
                        missing.append(f"{path} ({role})")
                        continue
                    p50, p95 = percentile(times, 50), percentile(times, 95)
                    kind = ", HTMX" if htmx else ""
                    rows.append((f"{role}: GET {path} ({status}{kind}) p50 / p95 / ×static",
                                 f"{ms(p50)} / {ms(p95)} / {p50 / base:.1f}x"))
                    if p95 > GOAL_P95:
                        slow.append(f"{path} ({role}) {ms(p95)}")
        app.state.engine.dispose()
    finally:
        cleanup()
    if missing:
        rows.append(("not there yet (404)", ", ".join(missing)))
    rows.append((f"pages over the goal (p95 > {ms(GOAL_P95)})", ", ".join(slow) or "none"))
    for k, v in rows:
        print(f"{k}: {v}")
    if args.record:
        cmd = "python bench/bench_pages.py " + " ".join(sys.argv[1:])
        store = "SQLite" if args.sqlite else "PostgreSQL 127.0.0.1"
        lines = [f"\n### Web pages, {args.cases:,} open cases — {date.today().isoformat()}\n",
                 f"Command: `{cmd}`  ",
                 f"Machine: {os.cpu_count()} cores, CPython {platform.python_version()}, {store}; server time "
                 f"per request (ASGI timer around the app, in-process TestClient), {args.repeat} requests each\n",
                 "| measure | result |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows]]
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
