"""``arrears.sim.history``: days of simulated collections work written through the services, and
the ``demo`` command that builds (and here, with --no-serve, only prints) the demo store."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from arrears.accounts.tables import Account, Customer, Payment
from arrears.auth.service import verify
from arrears.auth.tables import AuditRecord, User
from arrears.cases.tables import Appointment, Case, Interaction, Investigation, Promise
from arrears.channels.tables import OutboxMessage
from arrears.contact.tables import ContactDecision
from arrears.delinquency.tables import CycleRun
from arrears.kit.db import make_engine
from arrears.plans.tables import PlanAgreement
from arrears.sim.history import DEMO_USERS, HistoryResult, build_history

END = date(2026, 11, 30)  # a Monday: the history covers two weekends
ACCOUNTS, DAYS, SEED = 300, 10, 7


def _build(engine: Engine, folder: Path, seed: int = SEED) -> HistoryResult:
    return build_history(engine, folder, accounts=ACCOUNTS, days=DAYS, end_date=END, seed=seed)


def _table_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        out = {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
               for t in (CycleRun, Case, Interaction, Investigation, Promise, PlanAgreement, Appointment,
                         ContactDecision, AuditRecord)}
        out["simulated_payments"] = conn.execute(
            select(func.count()).where(Payment.payment_ref.like("SIMPAY-%"))).scalar_one()
        out["simulated_paid_fen"] = int(conn.execute(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.payment_ref.like("SIMPAY-%"))).scalar_one())
    return out


def test_history_is_a_working_store(engine: Engine, tmp_path: Path) -> None:
    result = _build(engine, tmp_path / "files")
    start = END - timedelta(days=DAYS)
    assert result.start == start and result.accounts == ACCOUNTS
    assert result.errors == [] and result.counts["worker_errors"] == 0
    with Session(engine) as session:
        # the morning batch ran on every day of the history
        runs = set(session.scalars(select(CycleRun.business_date).where(CycleRun.status == "completed")))
        assert runs == {start + timedelta(days=n) for n in range(DAYS)}
        counts = _table_counts(engine)
        for table in ("cases", "interactions", "investigations", "promises", "plan_agreements"):
            assert counts[table] > 0, table
        assert counts["appointments"] == result.counts["appointments"]
        assert counts["simulated_payments"] == result.counts["payments"] > 0
        assert result.counts["calls"] == session.scalar(select(func.count()).where(Interaction.channel == "call"))
        # the outbox worker went through every message the strategy step queued before the last day
        last_day = datetime(END.year, END.month, END.day, tzinfo=ZoneInfo("Asia/Shanghai")) - timedelta(days=1)
        assert result.counts["messages"] > 0
        assert session.scalar(select(func.count()).where(OutboxMessage.status == "pending",
                                                         OutboxMessage.created_at < last_day)) == 0
        assert result.counts["rpc"] > 0 and result.counts["rpc"] < result.counts["calls"]
        # agreements were confirmed on recorded calls and are running
        confirmed = session.execute(select(PlanAgreement.status, PlanAgreement.confirmation_method)
                                    .where(PlanAgreement.confirmed_at.is_not(None))).all()
        assert confirmed and all(m == "recorded_call" for _, m in confirmed)
        # one user per role, agents and the team lead in a team
        roles = dict(session.execute(select(User.username, User.role)).all())
        assert {u: roles[u] for u, _, _ in DEMO_USERS} == {u: r for u, r, _ in DEMO_USERS}
        assert set(result.users) == {u for u, _, _ in DEMO_USERS}
        # the audit chain is intact
        assert verify(session) == []
        # every contact passed the gate: none in the quiet hours 22:00-08:00 customer-local
        contacts = session.execute(
            select(Interaction.started_at, Customer.time_zone).join(Case, Case.id == Interaction.case_id)
            .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
            .where(Interaction.direction == "outbound")).all()
        assert contacts
        for at, tz in contacts:
            local = at.astimezone(ZoneInfo(tz or "Asia/Shanghai"))
            assert 8 <= local.hour < 22, (at, tz)
        # the customers' contact patterns show: weekday daytime answers least (office workers)
        calls = session.execute(
            select(Interaction.started_at, Interaction.party, Customer.time_zone)
            .join(Case, Case.id == Interaction.case_id).join(Account, Account.id == Case.account_id)
            .join(Customer, Customer.id == Account.customer_id).where(Interaction.channel == "call")).all()
        reached: dict[bool, list[bool]] = {True: [], False: []}
        for at, party, tz in calls:
            local = at.astimezone(ZoneInfo(tz or "Asia/Shanghai"))
            reached[local.weekday() < 5 and local.hour < 18].append(party == "debtor")
        assert all(reached.values())
        rate = {k: sum(v) / len(v) for k, v in reached.items()}
        assert rate[True] < rate[False], rate
        # interactions happened in the simulated days, not today
        first = min(at for at, _ in contacts)
        last = max(at for at, _ in contacts)
        assert first >= datetime(start.year, start.month, start.day, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert last < datetime(END.year, END.month, END.day, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_history_is_deterministic_for_a_seed(sqlite_template: Path, tmp_path: Path) -> None:
    seen = []
    for n in range(2):
        path = tmp_path / f"store{n}.sqlite"
        shutil.copyfile(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        try:
            # determinism does not need the module's size: a smaller book, built twice
            result = build_history(engine, tmp_path / f"files{n}", accounts=120, days=4, end_date=END, seed=SEED)
            seen.append((dict(result.counts), _table_counts(engine)))
        finally:
            engine.dispose()
    assert seen[0] == seen[1]


def test_demo_command_builds_and_prints_without_serving(tmp_path: Path) -> None:
    from arrears.cli import app

    folder = tmp_path / "demo"
    r = CliRunner().invoke(app, ["demo", "--no-serve", "--accounts", "80", "--days", "3", "--seed", "3",
                                 "--date", "2026-11-30", "--folder", str(folder)])
    assert r.exit_code == 0, r.output
    assert (folder / "arrears.sqlite").exists()
    assert (folder / "delinquency-2026-11-30.csv").exists()
    for username, role, _team in DEMO_USERS:
        assert username in r.output and role in r.output
    assert "http://127.0.0.1:8000/login" in r.output
    assert "LOCAL ONLY" in r.output
    engine = make_engine(f"sqlite:///{folder / 'arrears.sqlite'}")
    try:
        with engine.connect() as conn:
            days = set(conn.execute(select(CycleRun.business_date)).scalars())
        assert days == {date(2026, 11, 27), date(2026, 11, 28), date(2026, 11, 29), date(2026, 11, 30)}
    finally:
        engine.dispose()
