"""Benchmark of the web pages: server time per page over a store of 100,000 open cases.

In one run, on a fresh store (a PostgreSQL schema of its own, or ``--sqlite``):

- builds ``--cases`` open cases over ``--teams`` teams with the work-queue builder
  (:func:`arrears.sim.work_queue.create_open_cases`) and one user per role (agents and the team
  lead in the first team);
- starts the app in-process (:func:`arrears.app.create_app` under Starlette's TestClient) wrapped in an
  ASGI timer, so what is measured is the SERVER's time for a request — from the request entering the
  app to the last byte of the response — not the client's;
- signs in as each role through the login form (``POST /login``, with the form's CSRF token);
- requests every page of :data:`PAGES` that the role may see ``--repeat`` times (after one request
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
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = os.environ.get("ARREARS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = f"arrears_bench_pages_{os.getpid()}"

ROLES = ("agent", "team_lead", "supervisor", "compliance", "admin", "auditor")
#: The pages measured: (path, roles that request it). ``{case_id}`` is a case of the first team.
#: Add a page here when it is built; a 404 is reported as "not there yet".
PAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/queue", ("agent", "team_lead")),
    ("/case/{case_id}", ("agent", "team_lead", "supervisor")),
    ("/case/{case_id}/best-hours", ("agent",)),
    ("/team", ("team_lead",)),
    ("/supervisor", ("supervisor",)),
    ("/compliance", ("compliance",)),
    ("/admin", ("admin",)),
    ("/admin/packs", ("admin",)),
    ("/admin/strategies", ("admin",)),
    ("/admin/templates", ("admin",)),
    ("/audit", ("auditor",)),
)
#: Baselines measured in the same run: a static file (no store, no template) and the login form (a
#: template, no store).
STATIC_BASELINE = "/static/app.css"
LOGIN_BASELINE = "/login"
PASSWORD = "bench-password-0123"


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


def build(url: str, *, cases: int, teams: int, agents: int) -> int:
    """Open cases, teams, a crowd of agents, and one bench user per role; returns a case of the first team."""
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
        return int(case_id)
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


def measure(client: Any, timer: Timed, path: str, repeat: int) -> tuple[list[float], int]:
    times, status = [], 0
    warm = client.get(path, follow_redirects=False)  # compiles the template and warms the caches: not counted
    if warm.status_code == 404:
        return [], 404
    for _ in range(repeat):
        r = client.get(path, follow_redirects=False)
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
    try:
        t0 = time.perf_counter()
        case_id = build(url, cases=args.cases, teams=args.teams, agents=args.agents)
        built = time.perf_counter() - t0
        app = create_app(Settings(database_url=url))
        timer = Timed(app)
        with TestClient(timer, base_url="http://127.0.0.1") as anonymous:
            static, _ = measure(anonymous, timer, STATIC_BASELINE, args.repeat)
            login, _ = measure(anonymous, timer, LOGIN_BASELINE, args.repeat)
        base = percentile(static, 50)
        rows.append(("build", f"{args.cases:,} open cases, {args.teams} teams in {built:.1f} s"))
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
                for path, roles in PAGES:
                    if role not in roles:
                        continue
                    real = path.format(case_id=case_id)
                    times, status = measure(client, timer, real, args.repeat)
                    if not times:
                        missing.append(f"{path} ({role})")
                        continue
                    p50 = percentile(times, 50)
                    rows.append((f"{role}: GET {path} ({status}) p50 / p95 / ×static",
                                 f"{ms(p50)} / {ms(percentile(times, 95))} / {p50 / base:.1f}x"))
        app.state.engine.dispose()
    finally:
        cleanup()
    if missing:
        rows.append(("not there yet (404)", ", ".join(missing)))
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
