"""Simulated agents working the queue concurrently: a portfolio of open cases, a crowd of agents
each taking the next case, working it and releasing it, and checks of what they did.

Used by the concurrency test and by ``bench/bench_queue.py``.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer
from arrears.auth.tables import Team, User
from arrears.cases import queue
from arrears.cases.tables import Case
from arrears.delinquency.tables import CycleRun
from arrears.kit.clock import utc_now

BUCKETS = ("M1", "M1", "M1", "M2", "M2", "M3", "M4", "M5", "M6", "M7+")


@dataclass(frozen=True)
class Agent:
    """What the queue needs to know about a user."""

    id: int
    team_id: int | None
    role: str = "agent"


def create_teams_and_agents(engine: Engine, *, teams: int, agents: int, capacity: int = 1,
                            prefix: str = "sim") -> list[Agent]:
    """``teams`` teams and ``agents`` agents spread over them round robin (no usable password)."""
    now = utc_now()
    with engine.begin() as conn:
        team_ids = [conn.execute(insert(Team).values(code=f"{prefix}-t{i}", name=f"{prefix} team {i}", created_at=now)
                                 .returning(Team.id)).scalar_one() for i in range(teams)]
        out = []
        for i in range(agents):
            team = team_ids[i % teams]
            uid = conn.execute(insert(User).values(
                username=f"{prefix}-a{i}", password_hash="!", role="agent", team_id=team, capacity=capacity,
                active=True, password_changed_at=now, created_at=now).returning(User.id)).scalar_one()
            out.append(Agent(uid, team))
    return out


def create_open_cases(engine: Engine, *, cases: int, team_ids: list[int], seed: int = 1,
                      chunk: int = 10_000) -> int:
    """``cases`` open cases (customers, accounts, cases) spread over ``team_ids``, with random
    buckets and balances (fen). Returns the number created."""
    rng = random.Random(seed)
    now = utc_now()
    opened = date(2026, 2, 10)
    with engine.begin() as conn:
        run_id = conn.execute(insert(CycleRun).values(
            business_date=opened, status="completed", ingest_watermark=0, accounts_assessed=cases,
            delinquent_accounts=cases, restated_accounts=0, snapshots_written=0, bucket_changes=0,
            cases_opened=cases, cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
    tag = f"{seed}-{rng.randrange(10**9)}"
    for start in range(0, cases, chunk):
        refs = [f"Q{tag}-{i}" for i in range(start, min(start + chunk, cases))]
        with engine.begin() as conn:
            conn.execute(insert(Customer), [
                {"customer_ref": r, "name": "模拟客户", "national_id": "11010519491231002X",
                 "birth_date": date(1980, 1, 1), "time_zone": "Asia/Shanghai",
                 "language": "en" if rng.random() < 0.1 else "zh_CN", "created_at": now} for r in refs])
            cust = dict(conn.execute(select(Customer.customer_ref, Customer.id)
                                     .where(Customer.customer_ref.in_(refs))).all())
            conn.execute(insert(Account), [
                {"account_ref": r, "customer_id": cust[r], "product": rng.choice(("standard", "gold")),
                 "credit_limit": 5_000_000, "currency": "CNY", "statement_day": 5, "due_day": 25, "status": "open",
                 "opened_on": date(2024, 1, 1), "created_at": now} for r in refs])
            acct = dict(conn.execute(select(Account.account_ref, Account.id)
                                     .where(Account.account_ref.in_(refs))).all())
            rows = []
            for r in refs:
                bucket = rng.choice(BUCKETS)
                rows.append({"account_id": acct[r], "status": "new", "opened_on": opened, "open_bucket": bucket,
                             "bucket": bucket, "dpd": 30, "opened_by_run_id": run_id, "reopen_count": 0,
                             "created_at": now, "updated_at": now, "team_id": rng.choice(team_ids),
                             "balance": rng.randrange(10_000, 10_000_000), "claims": 0})
            conn.execute(insert(Case), rows)
    return cases


@dataclass
class Claim:
    case_id: int
    agent_id: int
    #: perf_counter just after the claim committed / just before the release committed
    start: float
    end: float


@dataclass
class AgentRun:
    claims: list[Claim] = field(default_factory=list)
    #: seconds per next_case transaction (claim + commit), including the empty ones
    latencies: list[float] = field(default_factory=list)
    #: seconds since the run started at which each of ``latencies`` began
    started: list[float] = field(default_factory=list)
    empty: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def claim_count(self) -> int:
        return len(self.claims)


def run_agents(engine: Engine, agents: list[Agent], *, seconds: float, work_seconds: float = 0.0,
               ramp_seconds: float = 0.0, seed: int = 1) -> AgentRun:
    """Each agent, in its own thread with its own connection from ``engine``'s pool, repeatedly
    takes the next case, holds it ``work_seconds`` (random 0..2× that), and releases it.

    With ``ramp_seconds`` the agents start their day at random moments over that many seconds (as
    a shift logs in); with 0 they all ask for their first case at the same instant."""
    result = AgentRun()
    lock = threading.Lock()
    barrier = threading.Barrier(len(agents))

    def work(agent: Agent, rnd: random.Random) -> None:
        barrier.wait()
        deadline = time.perf_counter() + seconds
        if ramp_seconds:
            time.sleep(rnd.uniform(0, ramp_seconds))
        mine: list[Claim] = []
        lat: list[float] = []
        began: list[float] = []
        empty = 0
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                with Session(engine, expire_on_commit=False) as s, s.begin():
                    got = queue.next_case(s, user=agent)  # type: ignore[arg-type]
                    case_id = got.id if got is not None else None
                start = time.perf_counter()
                lat.append(start - t0)
                began.append(t0 - origin)
                if case_id is None:
                    empty += 1
                    time.sleep(0.005)
                    continue
                if work_seconds:
                    time.sleep(rnd.uniform(0, 2 * work_seconds))
                with Session(engine, expire_on_commit=False) as s, s.begin():
                    queue.release(s, case_id=case_id, user=agent)  # type: ignore[arg-type]
                    end = time.perf_counter()
                mine.append(Claim(case_id, agent.id, start, end))
        except Exception as exc:  # recorded, the run is then a failure
            with lock:
                result.errors.append(f"agent {agent.id}: {exc!r}")
        with lock:
            result.claims.extend(mine)
            result.latencies.extend(lat)
            result.started.extend(began)
            result.empty += empty

    rng = random.Random(seed)
    origin = time.perf_counter()
    threads = [threading.Thread(target=work, args=(a, random.Random(rng.random()))) for a in agents]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    result.elapsed = time.perf_counter() - t
    return result


def overlapping_claims(claims: list[Claim]) -> list[tuple[Claim, Claim]]:
    """Pairs of claims of the same case whose holding intervals overlap (must be empty)."""
    by_case: dict[int, list[Claim]] = defaultdict(list)
    for c in claims:
        by_case[c.case_id].append(c)
    bad = []
    for items in by_case.values():
        items.sort(key=lambda c: c.start)
        for a, b in zip(items, items[1:], strict=False):
            if b.start < a.end:
                bad.append((a, b))
    return bad


def counted_claims(engine: Engine) -> int:
    """The claims the store counted (each claim increments its case's counter)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(Case.claims), 0))).scalar_one())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
