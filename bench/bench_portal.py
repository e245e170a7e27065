"""Benchmark of the cardholder's pages: server time per page on PostgreSQL, with a book of
``--accounts`` accounts and ``--customers`` customers using their links at the same time.

In one run, on a fresh PostgreSQL schema of its own:

- builds the book with the project's bulk paths: open cases (customers, accounts, cases) by the
  work-queue builder (:func:`arrears.sim.work_queue.create_open_cases`); then, one INSERT … SELECT
  each, every customer's mobile (and every other one's e-mail address), three monthly statements per
  account, a delinquency snapshot per account on each of ``--history-days`` + 1 business dates,
  interactions on every case (1 to 15, calls, messages and visits over the last 90 days), sent
  messages to every customer's contact points (1 to 6), an open promise on every tenth case and an
  active plan agreement with six instalments on every twentieth account;
- issues ``--links`` personal links through :func:`arrears.portal.service.issue_link` (the real path:
  each link audited);
- starts the app under a real uvicorn server (``--workers`` processes, connections kept alive 75 s as a
  reverse proxy keeps them) behind :class:`ServerTimer`, an ASGI wrapper that writes, per request, the
  SERVER's time from the request entering the app to the last byte of the response (one file per
  worker process);
- runs ``--customers`` simulated customers (httpx, asyncio, each with its own connection), arriving
  over ``--ramp`` seconds, each repeating the journey with links of its own until the run ends (in the
  middle of a journey, then): open the link (and its stylesheet, as a browser does) → a wrong answer
  first on ``--wrong`` of the journeys (401) → the right answers (303) → the account page → every page
  the account page links to (the action pages and agreement PDFs: discovered from its links, so a page
  added to the account page is measured without editing this file) → leave (303); with a pause of 0
  to 2 × ``--think`` seconds between pages (a person reading or typing). One customer in ten asks for
  English. Each customer comes through the trusted proxy with an address of its own
  (``X-Forwarded-For``), as a bank's customers do, so the per-address throttle judges each alone. Only
  the requests of the ``--duration`` seconds after ``--warmup`` are counted. Before the crowd, one
  customer alone walks the same journey without pauses for ``--alone`` seconds: each page's own cost,
  reported next to the figures under load;
- reports, per page, the server's p50 / p95 / p99 and the ratio of p50 to the baseline's p50: the
  baseline is the portal's stylesheet, a static file served by the same app on the same server under
  the same load (every journey fetches it), measured in the same run. Also the throughput (requests
  and journeys a second over the measured window) and the clients' own p95 for comparison.

    python bench/bench_portal.py --record                 # 100,000 accounts, 200 customers, 60 s
    python bench/bench_portal.py --accounts 5000 --customers 20 --duration 15 --history-days 3

The goal (issue 16): server p95 under 150 ms for every portal page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = os.environ.get("ARREARS_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = f"arrears_bench_portal_{os.getpid()}"
#: The goal: server time under 150 ms at p95 for each portal page.
GOAL_P95 = 0.150
#: The baseline: a static file of the same app (the stylesheet every portal page links).
BASELINE = "GET /static/portal.css"
#: The answers of every customer :func:`arrears.sim.work_queue.create_open_cases` makes.
RIGHT = {"id_last4": "002X", "birth_date": "1980-01-01"}
WRONG = {"id_last4": "1234", "birth_date": "1980-01-02"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_TOKEN = re.compile(r"^/p/[^/]+")


# -- the server side -------------------------------------------------------------------------------

def label(method: str, path: str) -> str:
    """A request's page: the token and any number in the path replaced by a placeholder."""
    path = _TOKEN.sub("/p/{token}", path)
    path = re.sub(r"/\d+(?=/|$|\.)", "/{n}", path)
    return f"{method} {path}"


class ServerTimer:
    """ASGI wrapper: appends ``<wall time>\\t<page>\\t<status>\\t<seconds>`` for every HTTP request, the
    seconds from the request entering the app to the last byte of its response, to a file of this
    process (line-buffered, so nothing is lost when the server is stopped)."""

    def __init__(self, app: Any, folder: Path) -> None:
        self.app = app
        self.out = open(folder / f"server-{os.getpid()}.tsv", "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        t0 = time.perf_counter()
        await self.app(scope, receive, sending)
        seconds = time.perf_counter() - t0
        page = label(scope["method"], scope["path"])
        if scope["method"] == "POST":  # an answer's kind is in its status (the identity check: 303 or 401)
            page = f"{page} → {status}"
        self.out.write(f"{time.time():.3f}\t{page}\t{status}\t{seconds:.6f}\n")


def server_app() -> Any:
    """The uvicorn factory (``bench_portal:server_app``): the app over ``BENCH_PORTAL_STORE``, timed into
    ``BENCH_PORTAL_TIMINGS``, trusting the local proxy (the load generator) for the client's address."""
    from arrears.app import create_app
    from arrears.config import Settings

    folder = Path(os.environ["BENCH_PORTAL_TIMINGS"])
    settings = Settings(database_url=os.environ["BENCH_PORTAL_STORE"], data_dir=folder,
                        portal_key_file=folder / "portal.key", trusted_proxies=["127.0.0.1"])
    return ServerTimer(create_app(settings), folder)


# -- the store ------------------------------------------------------------------------------------

def make_store() -> tuple[str, Any]:
    from sqlalchemy import text

    from arrears.kit.db import make_engine
    from arrears.kit.migrate import upgrade

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


#: The index the account page's contact record wants (messages sent to the customer's contact points,
#: newest first). Migration 0021 makes it; ``--outbox-index`` (the runs before it) makes it if missing.
OUTBOX_INDEX = ("CREATE INDEX IF NOT EXISTS ix_outbox_messages_contact_point_sent ON outbox_messages "
                "(contact_point_id, sent_at)")


def build(url: str, folder: Path, *, accounts: int, history_days: int, links: int,
          outbox_index: bool = False) -> tuple[list[str], dict[str, int]]:
    """The book (see the module's text) and ``links`` personal links of distinct accounts; returns the
    links' tokens and the rows written per table."""
    from sqlalchemy import insert, select, text

    from arrears.accounts.tables import Account
    from arrears.cases.service import business_date_of
    from arrears.config import Settings
    from arrears.delinquency.tables import CycleRun
    from arrears.kit.clock import utc_now
    from arrears.kit.db import make_engine, transaction
    from arrears.portal.service import issue_link, portal_key
    from arrears.sim.work_queue import create_open_cases, create_teams_and_agents

    engine = make_engine(url)
    rows: dict[str, int] = {}
    now = utc_now()
    today = business_date_of(now)
    try:
        crowd = create_teams_and_agents(engine, teams=4, agents=4, prefix="bench")
        agent_id = crowd[0].id
        rows["accounts"] = create_open_cases(engine, cases=accounts, team_ids=sorted({a.team_id for a in crowd
                                                                                     if a.team_id is not None}))
        p = {"now": now, "today": today, "agent": agent_id}

        def run(name: str, sql: str, **extra: Any) -> None:
            with engine.begin() as conn:
                rows[name] = rows.get(name, 0) + conn.execute(text(sql), {**p, **extra}).rowcount

        run("contact_points",
            "INSERT INTO contact_points (contact_ref, customer_id, kind, value, owner, verified, opted_out, created_at) "
            "SELECT 'm-' || id, id, 'phone', '1380000' || lpad((id % 10000)::text, 4, '0'), 'debtor', true, false, :now "
            "FROM customers")
        run("contact_points",
            "INSERT INTO contact_points (contact_ref, customer_id, kind, value, owner, verified, opted_out, created_at) "
            "SELECT 'e-' || id, id, 'email', 'c' || id || '@example.com', 'debtor', true, false, :now "
            "FROM customers WHERE id % 2 = 0")
        # three monthly statements (the 5th, due the 25th) before today
        last = date(today.year, today.month, 5) if today.day > 5 else \
            (date(today.year, today.month, 1) - timedelta(days=1)).replace(day=5)
        for back in range(3):
            day = last
            for _ in range(back):
                day = (day.replace(day=1) - timedelta(days=1)).replace(day=5)
            run("statements",
                "INSERT INTO statements (account_id, statement_date, due_date, new_balance, minimum_due, "
                "past_due_included, created_at) SELECT a.id, :day, :due, c.balance, c.balance / 10, c.balance / 20, :now "
                "FROM accounts a JOIN cases c ON c.account_id = a.id", day=day, due=day + timedelta(days=20))
        dpd = "CASE c.bucket WHEN 'M1' THEN 15 WHEN 'M2' THEN 45 WHEN 'M3' THEN 75 ELSE 120 END"
        for n in range(history_days, -1, -1):
            day = today - timedelta(days=n)
            with engine.begin() as conn:
                run_id = conn.execute(insert(CycleRun).values(
                    business_date=day, status="completed", ingest_watermark=0, accounts_assessed=0,
                    delinquent_accounts=0, restated_accounts=0, snapshots_written=0, bucket_changes=0,
                    cases_opened=0, cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
            run("delinquency_snapshots",
                "INSERT INTO delinquency_snapshots (account_id, business_date, dpd, delinquent, bucket, "
                "cycles_delinquent, amount_past_due, past_due_c1, past_due_c2, past_due_c3, past_due_c4, "
                "past_due_c5, past_due_c6, past_due_c7p, charge_off, oldest_unpaid_due_date, cycle_run_id) "
                f"SELECT c.account_id, :day, {dpd}, true, c.bucket, 1, c.balance / 10, c.balance / 10, 0, 0, 0, 0, "
                "0, 0, false, :due, :run FROM cases c", day=day, due=day - timedelta(days=30), run=run_id)
        run("interactions",
            "INSERT INTO interactions (case_id, channel, direction, party, started_at, ended_at, outcome, agent_id, "
            "created_at) SELECT c.id, (ARRAY['call','call','sms','visit'])[1 + (c.id + g) % 4], "
            "CASE WHEN (c.id + g) % 7 = 0 THEN 'inbound' ELSE 'outbound' END, 'debtor', "
            ":now - make_interval(hours => ((c.id * 7 + g * 131) % 2160)::int), "
            ":now - make_interval(hours => ((c.id * 7 + g * 131) % 2160)::int), "
            "(ARRAY['no_answer','busy','left_message','right_party_contact'])[1 + (c.id * g) % 4], :agent, :now "
            "FROM cases c CROSS JOIN LATERAL generate_series(1, 1 + (c.id % 15)::int) g")
        run("outbox_messages",
            "INSERT INTO outbox_messages (idempotency_key, channel, case_id, contact_point_id, template, locale, "
            "payload, status, attempts, next_attempt_at, created_at, sent_at) "
            "SELECT 'bench:' || p.id || ':' || g, CASE p.kind WHEN 'email' THEN 'email' ELSE 'sms' END, c.id, p.id, "
            "'reminder', 'zh_CN', '{}', 'sent', 1, :now, :now, "
            ":now - make_interval(hours => ((p.id * 11 + g * 97) % 2160)::int) "
            "FROM contact_points p JOIN accounts a ON a.customer_id = p.customer_id JOIN cases c ON c.account_id = a.id "
            "CROSS JOIN LATERAL generate_series(1, 1 + (p.id % 6)::int) g")
        run("promises",
            "INSERT INTO promises (case_id, amount, promised_date, created_on, grace_days, tolerance, status, "
            "created_by, created_at) SELECT id, balance / 10 + 1, :today + 7, :today, 3, 100, 'open', 'bench', :now "
            "FROM cases WHERE id % 10 = 0")
        run("plan_agreements",
            "INSERT INTO plan_agreements (case_id, account_id, version, product_code, kind, start_date, principal, "
            "fees, interest, waived, total, largest_instalment, annual_rate, months, status, needs_approval, "
            "created_by, code_attempts, terms_locale, terms_text, terms_sha256, pdf, pdf_sha256, created_at, "
            "updated_at) SELECT c.id, c.account_id, 1, 'standard', 'instalment', :today - 40, c.balance, 0, 0, 0, "
            "c.balance, c.balance / 6 + 1, '12.00', 6, 'active', false, :agent, 0, 'zh_CN', 'bench terms', "
            "repeat('0', 64), '\\x255044462d62656e6368'::bytea, repeat('0', 64), :now, :now "
            "FROM cases c WHERE c.id % 20 = 3")
        run("plan_instalments",
            "INSERT INTO plan_instalments (agreement_id, number, due_date, principal, fee, fee_waived, interest, "
            "amount, paid, status, updated_at) SELECT a.id, g, a.start_date + 30 * g, a.total / 6, 0, 0, 0, "
            "a.total / 6, CASE WHEN g = 1 THEN a.total / 6 ELSE 0 END, "
            "CASE WHEN g = 1 THEN 'kept' ELSE 'pending' END, :now "
            "FROM plan_agreements a CROSS JOIN generate_series(1, 6) g")
        if outbox_index:
            with engine.begin() as conn:
                conn.exec_driver_sql(OUTBOX_INDEX)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        # the links: through the real path (each audited), accounts spread over the book
        settings = Settings(database_url=url, data_dir=folder, portal_key_file=folder / "portal.key")
        key = portal_key(settings)
        with engine.connect() as conn:
            ids = list(conn.execute(select(Account.account_ref).order_by(Account.id)).scalars())
        chosen = random.Random(7).sample(ids, min(links, len(ids)))
        tokens = []
        for start in range(0, len(chosen), 500):
            with transaction(engine) as session:
                tokens += [issue_link(session, account_ref=ref, key=key, settings=settings, actor="bench").token
                           for ref in chosen[start:start + 500]]
        rows["portal_links"] = len(tokens)
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return tokens, rows
    finally:
        engine.dispose()


def explain(url: str, folder: Path, token: str, *, slow: float = 0.005) -> list[str]:
    """A verified visit in-process (the identity page, the answers, the account page and every page it
    links), the second of two: per page, its queries and their time in the store; then EXPLAIN ANALYZE of every SELECT that
    took more than ``slow`` seconds, and of the account page's queries."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from arrears.app import create_app
    from arrears.config import Settings

    settings = Settings(database_url=url, data_dir=folder, portal_key_file=folder / "portal.key")
    app = create_app(settings)
    engine = app.state.engine
    page = ["-"]
    seen: list[tuple[str, str, Any, float]] = []
    started: dict[int, float] = {}

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started[id(cursor)] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((page[0], statement, parameters, time.perf_counter() - started.pop(id(cursor), time.perf_counter())))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    out: list[str] = []
    try:
        for _ in range(2):  # the first visit warms the caches and compiles the statements: not counted
            seen.clear()
            with TestClient(app, follow_redirects=False) as client:
                page[0] = "GET /p/{token}"
                r = client.get(f"/p/{token}")
                csrf = _CSRF.search(r.text)
                assert csrf is not None
                page[0] = "POST /p/{token}"
                client.post(f"/p/{token}", data={**RIGHT, "csrf_token": csrf.group(1)})
                page[0] = "GET /p/{token}/home"
                home = client.get(f"/p/{token}/home")
                for href in dict.fromkeys(_HREF.findall(home.text)):
                    page[0] = label("GET", href)
                    client.get(href)
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        per_page: dict[str, list[float]] = defaultdict(list)
        for name, _, _, seconds in seen:
            per_page[name].append(seconds)
        out += [f"{name}: {len(v)} statements, {ms(sum(v))} in the store" for name, v in per_page.items()]
        with engine.connect() as conn:
            for name, statement, parameters, seconds in seen:
                if not statement.lstrip().upper().startswith("SELECT") or \
                        (seconds <= slow and name != "GET /p/{token}/home"):
                    continue
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {statement}", parameters).scalars().all()
                out.append(f"{name}, {ms(seconds)}: " + " ".join(statement.split())[:200] + "\n    "
                           + "\n    ".join(plan))
        return out
    finally:
        engine.dispose()


# -- the customers --------------------------------------------------------------------------------

class Journeys:
    def __init__(self) -> None:
        self.done = 0
        self.failures: list[str] = []
        self.client_times: dict[str, list[float]] = defaultdict(list)
        #: pages the account page links to that answer 404 (not built yet)
        self.missing: set[str] = set()


_HREF = re.compile(r'href="(/p/[^"?#]+)"')


class TimeUp(Exception):
    """The run is over: the customer leaves in the middle of the journey."""


async def customer(n: int, client: Any, tokens: list[str], *, customers: int, start: float, until: float,
                   think: float, wrong: float, ramp: float, out: Journeys) -> None:
    import httpx

    rng = random.Random(n)
    lang = "?lang=en" if rng.random() < 0.1 else ""  # remembered in a cookie for the rest of the journey
    own = tokens[n::customers] or [tokens[n % len(tokens)]]  # links of its own (distinct accounts)
    wrongs: dict[str, int] = defaultdict(int)

    async def pause() -> None:
        await asyncio.sleep(rng.uniform(0, 2 * think))
        if time.monotonic() >= until:
            raise TimeUp

    async def call(method: str, path: str, page: str, expect: int | None, **kw: Any) -> httpx.Response:
        t0 = time.perf_counter()
        r = await client.request(method, path, **kw)
        out.client_times[page].append(time.perf_counter() - t0)
        if expect is not None and r.status_code != expect:
            raise RuntimeError(f"{method} {page}: {r.status_code}, expected {expect}")
        return r

    await asyncio.sleep(start - time.monotonic() + rng.uniform(0, ramp))  # a crowd arrives over the ramp
    turn = 0
    while time.monotonic() < until:
        token = own[turn % len(own)]
        turn += 1
        if wrongs[token] >= 3:  # a link takes five wrong answers: leave it before that
            continue
        client.cookies.clear()
        try:
            page = await call("GET", f"/p/{token}{lang}", "GET /p/{token}", 200)
            await call("GET", "/static/portal.css", BASELINE, 200)
            csrf = _CSRF.search(page.text)
            assert csrf is not None, "no form token on the identity page"
            await pause()
            if rng.random() < wrong:
                wrongs[token] += 1
                page = await call("POST", f"/p/{token}", "POST /p/{token} → 401", 401,
                                  data={**WRONG, "csrf_token": csrf.group(1)})
                csrf = _CSRF.search(page.text)
                assert csrf is not None
                await pause()
            await call("POST", f"/p/{token}", "POST /p/{token} → 303", 303, data={**RIGHT, "csrf_token": csrf.group(1)})
            home = await call("GET", f"/p/{token}/home", "GET /p/{token}/home", 200)
            await pause()
            for href in dict.fromkeys(_HREF.findall(home.text)):
                if href.endswith("/home") or label("GET", href) in out.missing:
                    continue
                r = await call("GET", href, label("GET", href), None)
                if r.status_code == 404:  # linked but not served yet: reported, not measured again
                    out.missing.add(label("GET", href))
                elif r.status_code != 200:
                    raise RuntimeError(f"GET {label('GET', href)}: {r.status_code}, expected 200")
                await pause()
            csrf = _CSRF.search(home.text)
            assert csrf is not None, "no form token on the account page"
            await call("POST", f"/p/{token}/leave", "POST /p/{token}/leave → 303", 303,
                       data={"csrf_token": csrf.group(1)})
            out.done += 1
        except TimeUp:
            return
        except Exception as exc:  # counted and shown: a failed journey is a failed run
            out.failures.append(f"customer {n}: {exc!r}"[:300])
            await asyncio.sleep(1)
        try:
            await pause()
        except TimeUp:
            return


async def crowd(base: str, tokens: list[str], *, customers: int, seconds: float, think: float, wrong: float,
                ramp: float) -> Journeys:
    """The customers, each with an HTTP client (connections kept alive) and an address of its own behind
    the trusted proxy, made before anyone starts; they arrive over ``ramp`` seconds."""
    import httpx

    out = Journeys()
    clients = [httpx.AsyncClient(base_url=base, headers={"X-Forwarded-For": f"10.{n // 250 % 250}.{n % 250}.{n % 7 + 1}"},
                                 follow_redirects=False, timeout=60) for n in range(customers)]
    try:
        start = time.monotonic() + 0.5
        until = start + seconds
        await asyncio.gather(*(customer(n, clients[n], tokens, customers=customers, start=start, until=until,
                                        think=think, wrong=wrong, ramp=ramp, out=out) for n in range(customers)))
    finally:
        for client in clients:
            await client.aclose()
    return out


# -- the run --------------------------------------------------------------------------------------

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, folder: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "BENCH_PORTAL_STORE": url, "BENCH_PORTAL_TIMINGS": str(folder),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT / "bench"), "--factory", "bench_portal:server_app",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--log-level", "warning",
         "--no-access-log", "--lifespan", "off", "--timeout-keep-alive", "75"],
        env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    import httpx

    while True:
        try:
            if httpx.get(f"{base}/static/portal.css", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.2)
    time.sleep(2 if workers > 1 else 0)  # every worker up
    return server, base


def read_timings(folder: Path, *, since: float, until: float) -> tuple[dict[str, list[float]], dict[str, set[int]]]:
    times: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, set[int]] = defaultdict(set)
    for f in folder.glob("server-*.tsv"):
        for line in f.read_text(encoding="utf-8").splitlines():
            at, page, status, seconds = line.split("\t")
            if since <= float(at) <= until:
                times[page].append(float(seconds))
                statuses[page].add(int(status))
    return times, statuses


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--customers", type=int, default=200, help="simulated customers at the same time")
    ap.add_argument("--duration", type=float, default=60, help="seconds of the measured run")
    ap.add_argument("--alone", type=float, default=10,
                    help="seconds of one customer alone, without pauses, before the crowd (each page's own cost)")
    ap.add_argument("--ramp", type=float, default=20, help="seconds over which the customers arrive")
    ap.add_argument("--warmup", type=float, default=30,
                    help="seconds before the measured window, the ramp included (not counted)")
    ap.add_argument("--links", type=int, default=0, help="personal links issued (default: 10 per customer)")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    ap.add_argument("--think", type=float, default=5.0,
                    help="mean seconds a customer spends on a page before the next (uniform 0 to twice that)")
    ap.add_argument("--wrong", type=float, default=0.15, help="share of journeys that start with a wrong answer")
    ap.add_argument("--history-days", type=int, default=30, help="daily snapshots of every account before today")
    ap.add_argument("--outbox-index", action="store_true",
                    help="the contact record's index, if the migrations have not made it (before 0021)")
    ap.add_argument("--explain", action="store_true",
                    help="first, per page, its queries' time in the store and the plans of the slow ones")
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped (SIGTERM): the store and the server are cleaned up"))
    folder = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    uptime_before = load()
    url, drop = make_store()
    rows: list[tuple[str, str]] = []
    server = None
    try:
        t0 = time.perf_counter()
        tokens, written = build(url, folder, accounts=args.accounts, history_days=args.history_days,
                                links=args.links or 10 * args.customers, outbox_index=args.outbox_index)
        built = time.perf_counter() - t0
        if args.explain:
            for line in explain(url, folder, tokens[0]):
                print(line)
        server, base = start_server(url, folder, args.workers)
        alone: dict[str, list[float]] = {}
        if args.alone > 0:  # one customer without pauses: what each page costs with the machine to itself
            t_alone = time.time()
            asyncio.run(crowd(base, tokens[::-1], customers=1, seconds=args.alone, think=0, wrong=args.wrong, ramp=0))
            alone, _ = read_timings(folder, since=t_alone, until=time.time())
            time.sleep(1)
        began = time.time()
        journeys = asyncio.run(crowd(base, tokens, customers=args.customers, seconds=args.warmup + args.duration,
                                     think=args.think, wrong=args.wrong, ramp=args.ramp))
        ended = time.time()
        window = (began + args.warmup, began + args.warmup + args.duration)
        times, statuses = read_timings(folder, since=window[0], until=window[1])
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        drop()
    uptime_after = load()
    shutil.rmtree(folder, ignore_errors=True)

    base_p50 = percentile(times.get(BASELINE, []), 50)
    rows.append(("book", ", ".join(f"{n:,} {table}" for table, n in written.items()) + f", built in {built:.0f} s"))
    rows.append(("load", f"{args.customers} customers, pause 0–{2 * args.think:g} s between pages, "
                         f"{args.wrong:.0%} of journeys with a wrong answer first; {args.workers} uvicorn workers; "
                         f"measured {args.duration:g} s after {args.warmup:g} s of warm-up"
                         + ("; with the index `ix_outbox_messages_contact_point_sent` added (--outbox-index)"
                            if args.outbox_index else "")))
    total = sum(len(v) for v in times.values())
    rows.append(("throughput (server, measured window)", f"{total / args.duration:.1f} requests/s; "
                 f"{journeys.done / (ended - began):.1f} journeys/s over the whole run ({journeys.done} journeys)"))
    slow = []
    for page in journeys.missing:
        times.pop(page, None)
    order = sorted(times, key=lambda p: (p != BASELINE, p))
    for page in order:
        values = times[page]
        p50, p95, p99 = (percentile(values, q) for q in (50, 95, 99))
        client = journeys.client_times.get(page)
        client_p95 = f"; client p95 {ms(percentile(client, 95))}" if client else ""
        status = "/".join(str(s) for s in sorted(statuses[page]))
        solo = f"; one customer alone p50 {ms(percentile(alone[page], 50))}" if alone.get(page) else ""
        rows.append((f"{page} ({status}, {len(values)} requests) p50 / p95 / p99 / p50 ×baseline",
                     f"{ms(p50)} / {ms(p95)} / {ms(p99)} / {p50 / base_p50:.1f}x{client_p95}{solo}"))
        if page != BASELINE and p95 > GOAL_P95:
            slow.append(f"{page} {ms(p95)}")
    if journeys.missing:
        rows.append(("linked from the account page but not there yet (404)", ", ".join(sorted(journeys.missing))))
    rows.append((f"pages over the goal (server p95 > {ms(GOAL_P95)})", ", ".join(slow) or "none"))
    rows.append(("failed journeys", str(len(journeys.failures)) + (f" (first: {journeys.failures[0]})"
                                                                   if journeys.failures else "")))
    rows.append(("load average (1, 5, 15 min) before / after", f"{uptime_before} / {uptime_after}"))
    for k, v in rows:
        print(f"{k}: {v}")
    if args.record:
        cmd = "timeout 3600 .venv/bin/python bench/bench_portal.py " + " ".join(sys.argv[1:])
        lines = [f"\n### Cardholder pages, {args.accounts:,} accounts, {args.customers} customers — "
                 f"{date.today().isoformat()}\n",
                 f"Command: `{cmd}`  ",
                 f"Machine: {os.cpu_count()} cores, CPython {platform.python_version()}, PostgreSQL 127.0.0.1 on the "
                 "same machine, the load generator too, and the machine shared with other work (load averages "
                 "below); server time per request (ASGI timer around the app in each uvicorn worker)\n",
                 "| measure | result |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows]]
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    return 1 if journeys.failures and len(journeys.failures) > journeys.done // 100 else 0


if __name__ == "__main__":
    sys.exit(main())
