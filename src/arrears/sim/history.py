"""Simulated history in a store: a synthetic portfolio and N days of collections work on it.

:func:`build_history` makes a store look like one a collections department has been running for
``days`` days (the demo uses 60): every day the daily cycle, queue assignment, the strategy step (with
the champion/challenger experiment of ``examples/experiments.yaml``) and plan monitoring run exactly as
``arrears cycle`` runs them, the outbox worker delivers the day's
messages (through a simulated provider), and then the day's work is written THROUGH THE SERVICES — agents' calls (each put to the compliance gate at the time it is made),
investigations, promises, repayment agreements confirmed on a recorded call, appointments,
disputes and complaints that place holds (and the compliance reviews of them) — so audit records,
the contact gate and the case lifecycle apply as they would in production. The customers' payments
of the day become a payments file the next day's cycle ingests first.

Where the days come from
------------------------
The bank's files are generated once, as of ``end_date``, by :func:`arrears.sim.portfolio.generate_portfolio`;
the store first gets what the bank's extract held at the start date (rows dated before it), and then,
each morning, the rows dated the day before: new statements (so accounts keep falling behind and
new cases open) and the payments of accounts not in collections. Once an account has an open case,
the customer-behaviour model speaks for its customer instead (:mod:`arrears.sim.behaviour` traits,
one per account): when they answer a call (their own hour-of-week pattern, customer-local), whether
they talk, promise, can afford a plan, keep their promises and instalments, or pay unasked.

Everything random comes from one seeded generator and every list is walked in id order, so the same
arguments give the same store contents (ids and counts); only wall-clock timings and the demo users'
passwords differ.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import structlog
from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.orm import Session

from arrears.accounts.ingest import ingest_file, ingest_paths
from arrears.accounts.tables import Account, ContactPoint, Customer, Hold
from arrears.auth.service import create_user
from arrears.auth.tables import Team, User
from arrears.batch.cycle import CycleResult
from arrears.cases import service as cases
from arrears.cases.config import load_default_case_rules
from arrears.cases.model import CAUSES, OPEN_STATES, can_transition
from arrears.cases.queue import assign_cases
from arrears.cases.queue_rules import apply_queue_rules, load_queue_rules
from arrears.cases.tables import Appointment, Case, HoldReview, Promise, Task
from arrears.channels.adapters import Delivery, OutgoingMessage, Recipient
from arrears.channels.templates import Rendered
from arrears.config import get_settings
from arrears.contact.plan import BUSINESS_HOURS
from arrears.contact.service import ContactBlocked
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.tables import DelinquencySnapshot
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError
from arrears.plans import repository as plan_repo
from arrears.plans import service as plans
from arrears.plans.tables import PlanAgreement, PlanInstalment
from arrears.sim.behaviour import Customers, synthetic_customers
from arrears.sim.portfolio import KINDS, SCHEMAS, generate_portfolio

ROOT = Path(__file__).resolve().parents[3]
#: The strategies the demo's daily batch runs: early-prompt only as the challenger arm of
#: :data:`DEFAULT_EXPERIMENTS` (early-gentle takes every early account first).
DEFAULT_STRATEGIES: tuple[Path, ...] = (ROOT / "strategies" / "early-gentle.yaml", ROOT / "strategies" / "late-stage.yaml",
                                        ROOT / "strategies" / "early-prompt.yaml")
#: The champion/challenger experiments the demo's daily batch runs (early-gentle against early-prompt).
DEFAULT_EXPERIMENTS = ROOT / "examples" / "experiments.yaml"
DEFAULT_QUEUE_FILE = ROOT / "examples" / "queue.yaml"
BANK_TZ = "Asia/Shanghai"

#: One demo user per role: (username, role, team). Agents and team leads need a team (examples/queue.yaml).
DEMO_USERS: tuple[tuple[str, str, str | None], ...] = (
    ("agent", "agent", "early"), ("team_lead", "team_lead", "early"), ("supervisor", "supervisor", None),
    ("compliance", "compliance", None), ("admin", "admin", None), ("auditor", "auditor", None),
)
#: Accounts per simulated agent of a team (early and late each get at least one besides the demo agent).
ACCOUNTS_PER_AGENT = 1_000
#: Calls one agent makes in a day at most.
CALLS_PER_AGENT = 40
#: Bank-time hour of the morning batch (ingest, cycle, strategy, monitoring).
BATCH_HOUR = 2
#: Bank-time hour at which the outbox worker delivers the day's messages.
MESSAGE_HOUR = 10
#: Chance an unanswered call is recorded as busy / left a message instead of no answer.
BUSY_P, MESSAGE_P = 0.10, 0.15
#: On a right-party contact: chance of a dispute, a complaint, a call-back request.
DISPUTE_P, COMPLAINT_P, CALLBACK_P = 0.006, 0.004, 0.05
#: A promise is due this many days after the call (uniform).
PROMISE_DAYS = (1, 7)
#: Pending hold reviews are looked at by compliance after this many days.
REVIEW_AFTER_DAYS = 2
#: Share of plan talks where the customer takes the cheapest option even when it needs approval.
APPROVAL_SHARE = 0.25
#: Plan kinds a customer may agree on a call (pay in full and the minimum are promises instead).
PLAN_KINDS = ("deferral", "instalment", "personalised", "settlement")

Progress = Callable[[str, int, int], None]


@dataclasses.dataclass
class HistoryResult:
    start: date
    end_date: date
    days: int
    accounts: int
    #: what was written: calls, rpc, blocked, promises, promises_kept, agreements, appointments, holds,
    #: payments, cycle_runs …
    counts: Counter[str]
    #: demo username → (role, team, password)
    users: dict[str, tuple[str, str | None, str]]
    seconds: float = 0.0
    #: seconds spent per phase over all days (files, cycle, strategy, monitor, work)
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    #: calls a service refused (rolled back, the history went on): should stay empty
    errors: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        c = self.counts
        return (f"{self.days} days ({self.start} – {self.end_date - timedelta(days=1)}) on {self.accounts:,} accounts: "
                f"{c['calls']:,} calls ({c['rpc']:,} right-party contacts, {c['blocked']:,} refused by the gate), "
                f"{c['investigations']:,} investigations, {c['promises']:,} promises ({c['promises_kept']:,} kept, "
                f"{c['promises_broken']:,} broken), {c['agreements']:,} plan agreements, {c['appointments']:,} "
                f"appointments, {c['holds']:,} disputes and complaints, {c['payments']:,} customer payments; "
                f"messages queued {c['messages']:,}: {c['messages_delivered']:,} delivered, "
                f"{c['messages_dead']:,} dead-lettered ({self.seconds:.0f} s)")


def bank_time(day: date, hour: float, tz: str = BANK_TZ) -> datetime:
    """Aware UTC instant of ``hour`` (fractions allowed) on ``day`` in the bank's zone."""
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)) + timedelta(hours=hour)
    return local.astimezone(UTC)


def slot_of_local(moment: datetime, tz: str) -> int:
    """Customer-local hour of the week, Monday 00:00 = 0 (the behaviour model's answer_p index)."""
    local = moment.astimezone(ZoneInfo(tz))
    return local.weekday() * 24 + local.hour


# -- the bank's files, split by day --------------------------------------------------------------

_DATE_COLUMN = {"statements": "statement_date", "payments": "value_date", "holds": "start_date"}


def _split_portfolio(full: Path, initial: Path, *, start: date) -> dict[str, pa.Table]:
    """Write the rows dated before ``start`` as the initial extract (CSV, the bank's format) and
    return the later statements and payments (ordered) for the daily files."""
    initial.mkdir(parents=True, exist_ok=True)
    later: dict[str, pa.Table] = {}
    for kind in KINDS:
        table = pq.read_table(full / f"{kind}.parquet", schema=SCHEMAS[kind])
        col = _DATE_COLUMN.get(kind)
        if col is not None:
            before = pc.less(table[col], pa.scalar(start, pa.date32()))
            if kind in ("statements", "payments"):
                later[kind] = table.filter(pc.invert(before)).sort_by([(col, "ascending"), ("account_id", "ascending")])
            table = table.filter(before)
        pa_csv.write_csv(table, initial / f"{kind}.csv")
    return later


def _rows_on(table: pa.Table, column: str, day: date) -> pa.Table:
    return table.filter(pc.equal(table[column], pa.scalar(day, pa.date32())))


# -- users ---------------------------------------------------------------------------------------

def create_demo_users(session: Session, *, actor: str = "demo") -> dict[str, tuple[str, str | None, str]]:
    """One user per role with a fresh random password; returns username → (role, team, password)."""
    out = {}
    for username, role, team in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        create_user(session, username=username, password=password, role=role, team=team,
                    display_name=f"Demo {role.replace('_', ' ')}", actor=actor, new_team=True)
        out[username] = (role, team, password)
    return out


def _create_agents(session: Session, *, accounts: int, actor: str) -> dict[str, list[User]]:
    """Simulated agents of each team (passwords random and never shown): the demo agent works too."""
    per_team = max(1, round(accounts / ACCOUNTS_PER_AGENT))
    agents: dict[str, list[User]] = {"early": [], "late": [], "english": []}
    for team, n in (("early", per_team), ("late", per_team), ("english", 1)):
        for i in range(1, n + 1):
            agents[team].append(create_user(session, username=f"{team}.{i:02d}", password=secrets.token_urlsafe(12),
                                            role="agent", team=team, display_name=f"{team} agent {i}", actor=actor,
                                            new_team=True))
    return agents


# -- the history -----------------------------------------------------------------------------------

@dataclasses.dataclass
class _World:
    engine: Engine
    rng: np.random.Generator
    traits: Customers
    #: store account id → trait row
    row: dict[int, int]
    #: store account id → (bank account ref, customer zone, debtor phone contact point id or None)
    account: dict[int, tuple[str, str, int | None]]
    agents: dict[int, list[User]]  # team id → agents
    approver: User
    reviewer: User
    case_rules: object
    counts: Counter[str]
    timings: Counter[str]
    files: Path
    quarantine: Path
    later: dict[str, pa.Table]
    #: services' refusals of a simulated call (each call rolled back; a test asserts there are none)
    errors: list[str] = dataclasses.field(default_factory=list)
    #: the simulated customers' payments of each day, delivered the next morning
    paid: dict[date, list[dict[str, object]]] = dataclasses.field(default_factory=dict)


def build_history(
    engine: Engine,
    files_dir: Path,
    *,
    accounts: int,
    days: int = 60,
    end_date: date,
    seed: int,
    strategy_files: Sequence[Path] = DEFAULT_STRATEGIES,
    experiments_file: Path | None = DEFAULT_EXPERIMENTS,
    queue_file: Path = DEFAULT_QUEUE_FILE,
    rules: DelinquencyRules | None = None,
    progress: Progress | None = None,
) -> HistoryResult:
    """Fill an empty, migrated store with ``days`` days of history ending the day before ``end_date``
    (see the module docstring). The cycle of ``end_date`` itself is left to the caller
    (:func:`run_daily_batch`), so "today" starts with the morning batch and no work done yet."""
    if days < 1:
        raise ArrearsError("days must be at least 1")
    t0 = time.perf_counter()
    rules = rules or DelinquencyRules()
    tick = progress or (lambda _what, _done, _total: None)
    start = end_date - timedelta(days=days)
    files_dir = Path(files_dir)
    full = files_dir / "generated"
    generate_portfolio(full, accounts=accounts, seed=seed, as_of=end_date, months=6, fmt="parquet")
    later = _split_portfolio(full, files_dir / "initial", start=start)
    quarantine = files_dir / "quarantine"
    counts: Counter[str] = Counter()
    with frozen_at(bank_time(start, BATCH_HOUR - 1)):
        ingest_paths(engine, [files_dir / "initial"], quarantine_dir=quarantine)
        with transaction(engine) as session:
            users = create_demo_users(session)
            queue = load_queue_rules(queue_file)
            apply_queue_rules(session, dataclasses.replace(queue, agents=()), actor="demo")
            by_team = _create_agents(session, accounts=accounts, actor="demo")
            demo_agent = session.scalars(select(User).where(User.username == "agent")).one()
            by_team["early"].insert(0, demo_agent)
            teams = dict(session.execute(select(Team.code, Team.id)).all())
            agents = {teams[code]: members for code, members in by_team.items()}
            approver = session.scalars(select(User).where(User.username == "supervisor")).one()
            reviewer = session.scalars(select(User).where(User.username == "compliance")).one()
        ids, refs, zones, phones = _accounts(engine)
    traits = synthetic_customers(len(ids), seed=seed)
    timings: Counter[str] = Counter()
    world = _World(
        engine=engine, rng=np.random.default_rng(seed), traits=traits, row={a: i for i, a in enumerate(ids)},
        account={a: (r, z, p) for a, r, z, p in zip(ids, refs, zones, phones)}, agents=agents, approver=approver,
        reviewer=reviewer, case_rules=load_default_case_rules(), counts=counts, timings=timings, files=files_dir / "daily",
        quarantine=quarantine, later=later)
    for n in range(days):
        day = start + timedelta(days=n)
        t1 = time.perf_counter()
        if n:
            _deliver_files(world, day)
        t2 = time.perf_counter()
        run_daily_batch(engine, day, rules=rules, strategy_files=strategy_files, experiments_file=experiments_file,
                        counts=counts, timings=timings)
        t3 = time.perf_counter()
        _work_day(world, day)
        timings["files"] += t2 - t1
        timings["work"] += time.perf_counter() - t3
        tick("history", n + 1, days)
    _deliver_files(world, end_date)
    return HistoryResult(start=start, end_date=end_date, days=days, accounts=len(ids), counts=counts, users=users,
                         seconds=time.perf_counter() - t0, timings=dict(timings), errors=world.errors)


def _accounts(engine: Engine) -> tuple[list[int], list[str], list[str], list[int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Account.id, Account.account_ref, Customer.time_zone, Customer.id)
                            .join(Customer, Customer.id == Account.customer_id).order_by(Account.id)).all()
        phones = dict(conn.execute(
            select(ContactPoint.customer_id, func.min(ContactPoint.id))
            .where(ContactPoint.kind == "phone", ContactPoint.owner == "debtor")
            .group_by(ContactPoint.customer_id)).all())
    return ([r[0] for r in rows], [r[1] for r in rows], [r[2] or BANK_TZ for r in rows],
            [phones.get(r[3]) for r in rows])


def run_daily_batch(engine: Engine, day: date, *, rules: DelinquencyRules | None = None,
                    strategy_files: Sequence[Path] = DEFAULT_STRATEGIES,
                    experiments_file: Path | None = DEFAULT_EXPERIMENTS,
                    counts: Counter[str] | None = None, timings: Counter[str] | None = None,
                    at: datetime | None = None) -> CycleResult:
    """The morning batch of ``day`` as ``arrears cycle --strategy …`` runs it: the delinquency cycle,
    queue assignment, the strategy step and plan monitoring (one transaction each), then yesterday's
    promises judged and ended appointment windows settled. It runs at ``at``, by default the bank's
    batch hour of ``day``."""
    from arrears.batch.cycle import run_cycle
    from arrears.strategy.step import run_strategy_step

    counts = counts if counts is not None else Counter()
    timings = timings if timings is not None else Counter()
    moment = at if at is not None else bank_time(day, BATCH_HOUR)
    with frozen_at(moment):
        t0 = time.perf_counter()
        settings = get_settings()
        result = run_cycle(engine, business_date=day, rules=rules or DelinquencyRules(),
                           threads=settings.batch_threads, memory_limit=settings.batch_memory_limit,
                           engine_name=settings.batch_engine)
        counts["cycle_runs"] += 1
        with transaction(engine) as session:
            assign_cases(session)
        t1 = time.perf_counter()
        step = run_strategy_step(engine, business_date=day, strategy_files=list(strategy_files),
                                 experiments_file=experiments_file, actor="cycle", time_zone=BANK_TZ)
        counts["messages"] += step.messages_enqueued
        counts["strategy_tasks"] += step.tasks_created
        t2 = time.perf_counter()
        timings["cycle"] += t1 - t0
        timings["strategy"] += t2 - t1
        with transaction(engine) as session:
            plans.monitor_plans(session, business_date=day, actor=plans.MONITOR_ACTOR)
            judged = cases.judge_due_promises(session, as_of=day - timedelta(days=1))
            for j in judged:
                counts[f"promises_{j.judgement.status}"] += 1
            cases.settle_ended_appointments(session, at=moment)
        timings["monitor"] += time.perf_counter() - t2
    return result


def _deliver_files(world: _World, day: date) -> None:
    """The bank's morning files for ``day``: yesterday's statements and the payments of accounts
    not in collections (generated), plus the payments the simulated customers made yesterday."""
    yesterday = day - timedelta(days=1)
    folder = world.files / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    statements = _rows_on(world.later["statements"], "statement_date", yesterday)
    payments = _rows_on(world.later["payments"], "value_date", yesterday)
    with world.engine.connect() as conn:
        in_collections = set(conn.execute(
            select(Account.account_ref).join(Case, Case.account_id == Account.id)
            .where(Case.status.in_(OPEN_STATES))).scalars())
    if in_collections and payments.num_rows:
        payments = payments.filter(pc.invert(pc.is_in(payments["account_id"], pa.array(sorted(in_collections)))))
    simulated = world.paid.pop(yesterday, [])
    if simulated:
        payments = pa.concat_tables([payments, pa.Table.from_pylist(simulated, schema=SCHEMAS["payments"])])
    with frozen_at(bank_time(day, BATCH_HOUR - 1)):
        for kind, table in (("statements", statements), ("payments", payments)):
            if table.num_rows:
                path = folder / f"{kind}_{yesterday.strftime('%Y%m%d')}.csv"
                pa_csv.write_csv(table, path)
                ingest_file(world.engine, path, kind=kind, quarantine_dir=world.quarantine)


# -- a working day -------------------------------------------------------------------------------

def _past_due(session: Session, day: date) -> dict[int, tuple[int, int]]:
    """account id → (amount past due, DPD) of every account with an open case, from its latest snapshot."""
    latest = (select(DelinquencySnapshot.account_id, func.max(DelinquencySnapshot.business_date).label("d"))
              .join(Case, and_(Case.account_id == DelinquencySnapshot.account_id, Case.status.in_(OPEN_STATES)))
              .where(DelinquencySnapshot.business_date <= day, DelinquencySnapshot.superseded_by_run_id.is_(None))
              .group_by(DelinquencySnapshot.account_id).subquery())
    rows = session.execute(
        select(DelinquencySnapshot.account_id, DelinquencySnapshot.amount_past_due, DelinquencySnapshot.dpd)
        .join(latest, and_(latest.c.account_id == DelinquencySnapshot.account_id,
                           latest.c.d == DelinquencySnapshot.business_date))
        .where(DelinquencySnapshot.superseded_by_run_id.is_(None)))
    return {a: (int(p), int(d)) for a, p, d in rows}


def _work_day(world: _World, day: date) -> None:
    rng, t, counts = world.rng, world.traits, world.counts
    payments: list[dict[str, object]] = []

    def pay(account_id: int, amount: int, source: str) -> None:
        if amount <= 0:
            return
        ref = world.account[account_id][0]
        payments.append({"payment_id": f"SIMPAY-{day.strftime('%Y%m%d')}-{len(payments) + 1:06d}-{ref}",
                         "account_id": ref, "amount_fen": int(amount), "value_date": day, "channel": source})
        counts["payments"] += 1

    t0 = time.perf_counter()
    with transaction(world.engine) as session:
        _review_holds(world, session, day)
        calls = _call_list(world, session, day)
        owed = _past_due(session, day)
    world.timings["call list"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    delivered = _deliver_messages(world, day)
    world.timings["messages"] += time.perf_counter() - t0
    # the agents' day, in time order: one transaction per call (as the web UI records them)
    for at, case_id, account_id, agent, appointment_id in calls:
        try:
            with frozen_at(at), transaction(world.engine) as session:
                _call(world, session, day, at, case_id, account_id, agent, appointment_id,
                      owed.get(account_id, (0, 0)))
        except ArrearsError as exc:  # a service refused something: that call is not written, the day goes on
            counts["call_errors"] += 1
            world.errors.append(f"{at.isoformat()} case {case_id}: {exc}")
    # the customers' side: promises and instalments falling due, and payments unasked
    with transaction(world.engine) as session:
        due = session.execute(
            select(Promise.id, Case.account_id, Promise.amount).join(Case, Case.id == Promise.case_id)
            .where(Promise.status == "open", Promise.promised_date == day).order_by(Promise.id)).all()
        for _pid, account_id, amount in due:
            if rng.random() < t.keep_p[world.row[account_id]]:
                pay(account_id, int(amount), "mobile_app")
        instalments = session.execute(
            select(PlanAgreement.account_id, PlanInstalment.amount, PlanInstalment.paid)
            .join(PlanAgreement, PlanAgreement.id == PlanInstalment.agreement_id)
            .where(PlanAgreement.status == "active", PlanInstalment.due_date == day)
            .order_by(PlanInstalment.id)).all()
        for account_id, amount, paid in instalments:
            if rng.random() < min(0.98, t.keep_p[world.row[account_id]] + 0.1):
                pay(account_id, int(amount) - int(paid), "bank_transfer")
        # a message read and acted on: the past-due amount, as far as this month's budget goes
        read_p = {"sms": t.sms_read_p, "email": t.email_read_p, "letter": t.letter_read_p}
        case_account = dict(session.execute(select(Case.id, Case.account_id).where(
            Case.id.in_(sorted({c for c, _ in delivered if c is not None})))).all()) if delivered else {}
        for case_id, channel in delivered:
            account_id = case_account.get(case_id)  # type: ignore[arg-type]
            if account_id is None or owed.get(account_id, (0, 0))[0] <= 0:
                continue
            i = world.row[account_id]
            if rng.random() < read_p[channel][i] * t.respond_p[i] and \
                    world.account[account_id][0] not in {p["account_id"] for p in payments}:
                pay(account_id, min(owed[account_id][0], int(t.affordable[i])), "mobile_app")
                counts["paid_after_message"] += 1
        paying = {p["account_id"] for p in payments}
        for account_id, (past_due, dpd) in sorted(owed.items()):
            i = world.row[account_id]
            if world.account[account_id][0] in paying or past_due <= 0:
                continue
            if rng.random() < t.self_cure_p[i] * 3 * math.exp(-dpd / 90):
                pay(account_id, min(past_due, max(int(t.affordable[i]), past_due // 2)), "mobile_app")
    world.paid[day] = payments


class SimulatedProvider:
    """Stands in for the SMS gateway, the mail server and the print house: accepts every message
    the worker hands it, and remembers (case, channel) so the customers can read them."""

    def __init__(self) -> None:
        self.sent: list[tuple[int | None, str]] = []

    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery:
        self.sent.append((message.case_id, message.channel))
        return Delivery("sent", provider_ref=f"sim-{message.id}")


def _deliver_messages(world: _World, day: date) -> list[tuple[int | None, str]]:
    """The outbox worker's round at MESSAGE_HOUR: the strategy's messages of the day (and any held
    back earlier) go through the gate and the simulated providers, each delivery logged on its case."""
    from arrears.channels.worker import run_worker

    at = bank_time(day, MESSAGE_HOUR)
    provider = SimulatedProvider()
    with frozen_at(at), _quiet_log():
        stats = run_worker(world.engine, adapters={"sms": provider, "email": provider, "letter": provider},
                           now=lambda: at, once=True, batch=500, rng=random.Random(day.toordinal()))
    world.counts["messages_delivered"] += stats.sent
    world.counts["messages_dead"] += stats.dead
    world.counts["messages_blocked"] += stats.blocked
    world.counts["worker_errors"] += len(stats.errors)
    return provider.sent


@contextmanager
def _quiet_log() -> Iterator[None]:
    """The worker logs every message it dead-letters or holds back; over days of history that is
    thousands of lines, so below ERROR its log is dropped while it runs here (the counts are kept)."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    try:
        yield
    finally:
        structlog.configure(**previous)


def _review_holds(world: _World, session: Session, day: date) -> None:
    """Compliance looks at hold reviews waiting for REVIEW_AFTER_DAYS: complaints are resolved (the
    hold lifted), disputes stay on hold pending the investigation of the dispute."""
    cutoff = bank_time(day - timedelta(days=REVIEW_AFTER_DAYS), 24)
    pending = session.execute(select(HoldReview.id, HoldReview.outcome, HoldReview.created_at)
                              .where(HoldReview.status == "pending", HoldReview.created_at < cutoff)
                              .order_by(HoldReview.id)).all()
    with frozen_at(bank_time(day, 9)):
        for review_id, outcome, _created in pending:
            lift = day if outcome == "complaint" else None
            cases.review_hold(session, review_id=review_id, reviewer_id=world.reviewer.id,
                              note="complaint answered and closed" if lift else "dispute confirmed: hold kept "
                              "until the dispute is resolved", lift_hold_on=lift)
            counts_key = "reviews_lifted" if lift else "reviews_kept"
            world.counts[counts_key] += 1


def _call_list(world: _World, session: Session, day: date) -> list[tuple[datetime, int, int, User, int | None]]:
    """Today's calls: due appointments first, then follow-ups and the strategy's call tasks (highest
    balance first), up to the team's capacity, each at an hour the agent picks within working hours."""
    rng = world.rng
    held = select(Hold.account_id).where(Hold.start_date <= day, (Hold.end_date.is_(None)) | (Hold.end_date >= day))
    suppressed = select(Promise.case_id).where(Promise.status == "open")
    reviews = select(HoldReview.case_id).where(HoldReview.status == "pending")
    base = (select(Case.id, Case.account_id, Case.team_id, Case.balance)
            .where(Case.status.in_(OPEN_STATES), Case.team_id.is_not(None), Case.account_id.not_in(held),
                   Case.id.not_in(suppressed), Case.id.not_in(reviews)))
    first, last = bank_time(day, 0), bank_time(day, 24)
    appts = {cid: (aid, ws, we, owner) for aid, cid, ws, we, owner in session.execute(
        select(Appointment.id, Appointment.case_id, Appointment.window_start, Appointment.window_end,
               Appointment.owner_id).where(Appointment.status == "scheduled", Appointment.window_start >= first,
                                           Appointment.window_start < last).order_by(Appointment.id))}
    tasked = set(session.execute(select(Task.case_id).where(Task.status == "open", Task.kind.in_(
        ("call", "broken_promise", "missed_instalment", "promise_short")))).scalars())
    follow = set(session.execute(select(Case.id).where(Case.status.in_(("follow_up", "new")))).scalars())
    rows = session.execute(base.order_by(Case.balance.desc(), Case.id)).all()
    by_team: dict[int, list[tuple[int, int, int | None]]] = {}
    for case_id, account_id, team_id, _balance in rows:
        if case_id in appts or case_id in tasked or case_id in follow:
            rank = 0 if case_id in appts else 1
            by_team.setdefault(team_id, []).append((rank, case_id, account_id))
    hours = list(BUSINESS_HOURS)
    out = []
    for team_id in sorted(by_team):
        agents = world.agents.get(team_id) or []
        if not agents:
            continue
        todo = sorted(by_team[team_id], key=lambda r: r[0])[: len(agents) * CALLS_PER_AGENT]
        owners = {a.id: a for a in agents}
        for n, (rank, case_id, account_id) in enumerate(todo):
            agent = agents[n % len(agents)]
            appointment_id = None
            if rank == 0:
                appointment_id, ws, we, owner = appts[case_id]
                agent = owners.get(owner, agent)
                at = ws + (we - ws) * float(rng.uniform(0.05, 0.6))
            else:
                at = bank_time(day, int(rng.choice(hours)) + float(rng.uniform(0, 0.9)))
            out.append((at.replace(microsecond=0), case_id, account_id, agent, appointment_id))
    out.sort(key=lambda c: (c[0], c[1]))
    return out


def _call(world: _World, session: Session, day: date, at: datetime, case_id: int, account_id: int, agent: User,
          appointment_id: int | None, owed: tuple[int, int]) -> None:
    rng, t, counts, rules = world.rng, world.traits, world.counts, world.case_rules
    i = world.row[account_id]
    _ref, tz, phone = world.account[account_id]
    case = session.get(Case, case_id)
    if case is None or case.status not in OPEN_STATES:
        return
    answered = rng.random() < t.answer_p[i, slot_of_local(at, tz)]
    talks = answered and rng.random() < 0.25 + 0.12 * int(t.willingness[i])
    roll = rng.random()
    if not answered:
        outcome = "busy" if roll < BUSY_P else "left_message" if roll < BUSY_P + MESSAGE_P else "no_answer"
    elif roll < DISPUTE_P:
        outcome = "dispute"
    elif roll < DISPUTE_P + COMPLAINT_P:
        outcome = "complaint"
    elif roll < DISPUTE_P + COMPLAINT_P + CALLBACK_P:
        outcome = "callback_requested"
    elif not talks:
        outcome = "refused"
    else:
        outcome = "right_party_contact"  # settled below: a promise, a plan or hardship
    past_due = owed[0]
    affordable = int(t.affordable[i])
    promise = past_due
    if outcome == "right_party_contact" and past_due > 0:
        # what they can find this month: all of it, or a part they promise now and a plan for the rest
        if affordable < past_due and affordable * 2 >= past_due and rng.random() < 0.5:
            promise = affordable
        if affordable >= promise:
            outcome = "promise_to_pay"
        else:  # cannot pay it: says why (hardship), or talks without committing to anything yet
            outcome = "hardship" if rng.random() < 0.6 else "right_party_contact"
    minutes = float(rng.uniform(3, 12)) if answered else 0.5
    try:
        recorded = cases.record_interaction(
            session, case_id=case_id, channel="call", direction="outbound", party="debtor" if answered else "nobody",
            started_at=at, ended_at=at + timedelta(minutes=minutes), outcome=outcome, rules=rules,  # type: ignore[arg-type]
            agent_id=agent.id, contact_point_id=phone, recording_ref=f"rec/{day.isoformat()}/{case_id}/{agent.id}",
            notes=None)
    except ContactBlocked:
        counts["blocked"] += 1  # the refusal is logged by the gate; the agent moves on
        return
    counts["calls"] += 1
    counts[f"outcome_{outcome}"] += 1
    interaction = recorded.interaction
    if recorded.hold is not None:
        counts["holds"] += 1
    _close_call_tasks(session, case_id)
    if appointment_id is not None:
        appt = session.get(Appointment, appointment_id)
        if appt is not None and appt.status == "scheduled" and appt.window_start <= at <= appt.window_end:
            cases.complete_appointment(session, appointment_id=appointment_id, interaction_id=interaction.id)
    _move(session, case, "contacting", agent, "call made")
    if not answered:
        return
    counts["rpc"] += 1
    if outcome == "callback_requested":
        best = _best_window(t.answer_p[i], tz, day + timedelta(days=int(rng.integers(1, 4))))
        if best is not None:
            cases.schedule_appointment(session, case_id=case_id, owner_id=agent.id, window_start=best,
                                       window_end=best + timedelta(hours=1), created_by=f"user:{agent.id}",
                                       notes="customer asked to be called back")
            counts["appointments"] += 1
        return
    if outcome not in ("promise_to_pay", "hardship", "right_party_contact") or past_due <= 0:
        return
    if cases.current_investigation(session, case_id=case_id) is None:
        income = int(t.income[i])
        cases.record_investigation(
            session, case_id=case_id, cause=str(CAUSES[int(rng.integers(0, len(CAUSES) - 2))]),
            # shares of income drawn in basis points: money stays whole fen
            monthly_income=income, essential_spending=income * int(rng.integers(2_500, 4_501)) // 10_000,
            other_debt_payments=income * int(rng.integers(0, 2_501)) // 10_000, dependants=int(rng.integers(0, 3)),
            willingness=int(t.willingness[i]), recorded_by=f"user:{agent.id}", rules=rules)  # type: ignore[arg-type]
        counts["investigations"] += 1
        _move(session, case, "investigating", agent, "investigation recorded")
    if outcome == "promise_to_pay":
        promised = day + timedelta(days=int(rng.integers(PROMISE_DAYS[0], PROMISE_DAYS[1] + 1)))
        cases.record_promise(session, case_id=case_id, amount=promise, promised_date=promised,
                             created_by=f"user:{agent.id}", rules=rules, created_on=day,  # type: ignore[arg-type]
                             interaction_id=interaction.id)
        counts["promises"] += 1
        _move(session, case, "negotiating", agent, f"promise to pay by {promised}")
        return
    # hardship: the options side by side; the customer takes the cheapest that fits their budget
    if outcome != "hardship" or plan_repo.live_agreements(session, case_id):
        return
    if rng.random() >= 0.05 + 0.05 * int(t.willingness[i]) + 0.2:
        return
    found = plans.options_for_case(session, case_id=case_id, user=agent, affordable=affordable, business_date=day)
    fits = [o for o in found.options
            if o.kind in PLAN_KINDS and o.offered and o.fits_affordable and o.principal > 0]
    if not fits:
        return
    # the agent offers what is within their own authority first; now and then the cheapest option
    # needs a supervisor's approval (four eyes) and the customer takes that
    own = [o for o in fits if not o.needs_approval]
    pool = fits if not own or rng.random() < APPROVAL_SHARE else own
    option = min(pool, key=lambda o: (o.total, len(o.schedule), o.code))
    _move(session, case, "negotiating", agent, "repayment options discussed")
    agreement = plans.create_agreement(
        session, case_id=case_id, user=agent, option_code=option.code, affordable=affordable, business_date=day,
        reason="income fell: instalments within the customer's budget" if option.kind == "personalised" else None)
    counts["agreements"] += 1
    if agreement.status == "pending_approval":
        try:
            plans.approve_agreement(session, agreement_id=agreement.id, user=world.approver,
                                    note="within the settlement policy")
        except ArrearsError:
            return  # above the supervisor's authority: it waits for someone who has it
    plans.confirm_agreement(session, agreement_id=agreement.id, user=agent, method="recorded_call",
                            reference_=interaction.recording_ref, business_date=day)
    counts["agreements_confirmed"] += 1


def _move(session: Session, case: Case, to_state: str, agent: User, reason: str) -> None:
    if case.status != to_state and can_transition(case.status, to_state):
        cases.transition(session, case_id=case.id, to_state=to_state, actor=f"user:{agent.id}", reason=reason)


def _close_call_tasks(session: Session, case_id: int) -> None:
    session.execute(update(Task).where(Task.case_id == case_id, Task.status == "open", Task.kind.in_(
        ("call", "broken_promise", "missed_instalment", "promise_short"))).values(status="done")
        .execution_options(synchronize_session=False))


def _best_window(answer_p: np.ndarray, tz: str, day: date) -> datetime | None:
    """The start of the customer's best hour on ``day`` within the agents' working hours."""
    best, best_p = None, 0.0
    for hour in range(9, 20):
        at = bank_time(day, hour)
        p = float(answer_p[slot_of_local(at, tz)])
        if p > best_p:
            best, best_p = at, p
    return best
