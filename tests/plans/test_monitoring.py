"""Monitoring running plans in the store, and re-ages honoured by the daily cycle and every engine
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.auth.tables import AuditRecord, User
from arrears.batch.cycle import run_cycle
from arrears.cases import service as case_service
from arrears.cases.tables import Case, Task
from arrears.channels.tables import OutboxMessage
from arrears.delinquency import repository as ledger
from arrears.delinquency.engine import assess_arrays
from arrears.delinquency.model import DelinquencyRules, Payment, Statement, assess
from arrears.delinquency.sql_engine import assess_portfolio_sql
from arrears.delinquency.tables import DelinquencySnapshot
from arrears.kit.arrowdb import ArrowReader
from arrears.kit.clock import utc_now
from arrears.plans import service
from arrears.plans.tables import PlanAgreement, PlanInstalment, ReAge
from tests.factories import LedgerLoad, load
from tests.plans.support import START, pay, users, worked_case

REF = "ACC-PLAN-0001"
RULES = DelinquencyRules()


@pytest.fixture
def agent(engine: Engine) -> User:
    return users(engine)["agent_east"]


def _active(engine: Engine, agent: User, code: str) -> tuple[int, int]:
    case_id = worked_case(engine, REF)
    with Session(engine) as s, s.begin():
        agreement_id = service.create_agreement(s, case_id=case_id, user=agent, option_code=code,
                                                business_date=START).id
        assert service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="recorded_call",
                                         reference_="REC-1", business_date=START).error is None
    return case_id, agreement_id


def _monitor(engine: Engine, day: date) -> service.MonitorResult:
    with Session(engine) as s, s.begin():
        return service.monitor_plans(s, business_date=day)


def _statuses(engine: Engine, agreement_id: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(PlanInstalment.status).where(PlanInstalment.agreement_id == agreement_id)
                                 .order_by(PlanInstalment.number)).scalars())


def _case(engine: Engine, case_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Case.status).where(Case.id == case_id)).scalar_one()


def _audit_actions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(AuditRecord.action).where(AuditRecord.actor == service.MONITOR_ACTOR)
                                 .order_by(AuditRecord.seq)).scalars())


def test_the_worked_monitoring_example(engine: Engine, agent: User) -> None:
    """docs/plans.md, "Watching the plan": 12 instalments of 1,072.00 from 31 January 2026."""
    case_id, agreement_id = _active(engine, agent, "inst_12")
    pay(engine, REF, (date(2026, 2, 27), 107_200), (date(2026, 4, 2), 107_200), (date(2026, 5, 10), 50_000))

    # reminders go 3 days before the due date, once, however often monitoring runs
    for _ in range(2):
        assert _monitor(engine, date(2026, 2, 25)).reminders in (0, 1)
    with engine.connect() as conn:
        sent = conn.execute(select(OutboxMessage.idempotency_key, OutboxMessage.template,
                                   OutboxMessage.payload)).all()
    assert [(k, t) for k, t, _ in sent] == [(f"plan-reminder:{agreement_id}:1", "plan.reminder")]
    assert sent[0][2] == {"agreement": f"C{case_id}-V1", "instalment": 1, "due_date": "2026-02-28", "amount": 107_200}

    first = _monitor(engine, date(2026, 5, 3))
    assert (first.kept, first.missed, first.tasks) == (2, 0, 0)
    assert _statuses(engine, agreement_id)[:4] == ["kept", "kept", "pending", "pending"]  # #2 paid 2 days late: kept
    assert _case(engine, case_id) == "plan_active"

    miss = _monitor(engine, date(2026, 5, 4))
    assert (miss.missed, miss.tasks, miss.broken) == (1, 1, [])
    assert _statuses(engine, agreement_id)[:4] == ["kept", "kept", "missed", "pending"]
    assert _case(engine, case_id) == "follow_up"
    again = _monitor(engine, date(2026, 5, 4))  # the same day again: nothing new
    assert (again.missed, again.tasks, again.reminders) == (0, 0, 0)

    broken = _monitor(engine, date(2026, 6, 4))
    assert broken.broken == [agreement_id] and broken.tasks == 2  # the missed #4 and the broken plan
    assert _statuses(engine, agreement_id)[:5] == ["kept", "kept", "missed", "missed", "pending"]
    with engine.connect() as conn:
        a = conn.execute(select(PlanAgreement.status, PlanAgreement.ended_on, PlanAgreement.end_reason)).one()
        tasks = conn.execute(select(Task.kind, Task.due_on).where(Task.case_id == case_id).order_by(Task.id)).all()
        paid3 = conn.execute(select(PlanInstalment.paid).where(PlanInstalment.number == 3)).scalar_one()
    assert tuple(a) == ("broken", date(2026, 6, 4), "2 instalments missed at once (limit 2)")
    assert [tuple(t) for t in tasks] == [("missed_instalment", date(2026, 5, 4)),
                                         ("missed_instalment", date(2026, 6, 4)), ("broken_plan", date(2026, 6, 4))]
    assert paid3 == 50_000  # 500.00 towards #3 does not make it kept
    assert _case(engine, case_id) == "follow_up"  # for the strategy, with its history
    assert _monitor(engine, date(2026, 6, 5)).agreements == 0  # a broken plan stays broken
    assert _audit_actions(engine) == [
        "plan.reminder", "plan.instalment_kept", "plan.instalment_kept", "plan.instalment_missed",
        "plan.follow_up", "plan.instalment_missed", "plan.follow_up", "plan.agreement_broken"]


def test_a_completed_plan_cures_the_case_and_re_ages_the_account(engine: Engine, agent: User) -> None:
    case_id, agreement_id = _active(engine, agent, "inst_3")
    pay(engine, REF, (date(2026, 2, 26), 409_600), (date(2026, 3, 30), 409_600), (date(2026, 4, 29), 409_600))
    done = _monitor(engine, date(2026, 4, 29))
    assert done.completed == [agreement_id] and done.kept == 3
    with engine.connect() as conn:
        a = conn.execute(select(PlanAgreement.status, PlanAgreement.ended_on)).one()
        reage = conn.execute(select(ReAge.account_id, ReAge.reage_date, ReAge.agreement_id, ReAge.reason)).one()
        account_id = conn.execute(select(Account.id).where(Account.account_ref == REF)).scalar_one()
    assert tuple(a) == ("completed", date(2026, 4, 29))
    assert tuple(reage) == (account_id, date(2026, 4, 29), agreement_id,
                            "plan completed: the account is re-aged to current")
    assert _case(engine, case_id) == "cured"
    assert _monitor(engine, date(2026, 4, 30)).agreements == 0
    assert _audit_actions(engine)[-2:] == ["plan.agreement_completed", "plan.reage"]


def test_a_plan_paid_late_in_one_lump_completes_without_re_ageing(engine: Engine, agent: User) -> None:
    case_id, agreement_id = _active(engine, agent, "inst_3")
    pay(engine, REF, (date(2026, 5, 10), 1_228_800))
    done = _monitor(engine, date(2026, 5, 10))
    assert done.completed == [agreement_id] and (done.late, done.reaged) == (3, [])
    assert _statuses(engine, agreement_id) == ["late", "late", "late"]
    with engine.connect() as conn:
        assert conn.execute(select(ReAge.id)).all() == []
        end = conn.execute(select(PlanAgreement.end_reason)).scalar_one()
    assert end == "paid in full on 2026-05-10; re-age: only 0 instalments were kept on time; 3 needed"
    assert _case(engine, case_id) == "cured"
    assert _audit_actions(engine)[-1] == "plan.reage_refused"


# -- re-ages in the ledger ------------------------------------------------------------------------

def _arrears_ledger(engine: Engine) -> int:
    """Account R1: three unpaid minimums of 500.00 (carried over), the oldest due 25 January."""
    load(engine, LedgerLoad(accounts=["R1"], statements=[
        ("R1", date(2026, 1, 5), date(2026, 1, 25), 50_000, 0),
        ("R1", date(2026, 2, 5), date(2026, 2, 25), 100_000, 50_000),
        ("R1", date(2026, 3, 5), date(2026, 3, 25), 150_000, 100_000),
        ("R1", date(2026, 4, 5), date(2026, 4, 25), 200_000, 150_000),
    ]))
    with engine.connect() as conn:
        return conn.execute(select(Account.id).where(Account.account_ref == "R1")).scalar_one()


def _reage(engine: Engine, account_id: int, on: date) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ReAge).values(account_id=account_id, reage_date=on, reason="test", created_by="test",
                                          created_at=utc_now()))


def _snapshot(engine: Engine, account_id: int, day: date) -> int | None:
    with engine.connect() as conn:
        return conn.execute(select(DelinquencySnapshot.dpd).where(
            DelinquencySnapshot.account_id == account_id, DelinquencySnapshot.business_date == day,
            DelinquencySnapshot.superseded_by_run_id.is_(None))).scalar_one_or_none()


def test_the_cycle_honours_a_re_age_and_the_case_stays_cured(engine: Engine) -> None:
    account_id = _arrears_ledger(engine)
    first = run_cycle(engine, business_date=date(2026, 3, 30), rules=RULES)
    assert first.cases_opened == 1 and _snapshot(engine, account_id, date(2026, 3, 30)) == 64
    with engine.connect() as conn:
        case_id = conn.execute(select(Case.id)).scalar_one()
    # the plan completed on 30 March: re-aged that day, the case cured by the monitoring
    _reage(engine, account_id, date(2026, 3, 30))
    with Session(engine) as s, s.begin():
        case_service.transition(s, case_id=case_id, to_state="cured", actor=service.MONITOR_ACTOR,
                                reason="plan completed")
    nxt = run_cycle(engine, business_date=date(2026, 3, 31), rules=RULES)
    assert (nxt.cases_opened, nxt.delinquent_accounts) == (0, 0)
    assert _snapshot(engine, account_id, date(2026, 3, 31)) is None  # DPD 0: current
    assert nxt.restated_from == date(2026, 3, 30)  # the re-age restated the day it took effect
    assert _snapshot(engine, account_id, date(2026, 3, 30)) is None
    assert _case(engine, case_id) == "cured"
    # the April statement is not covered: unpaid, it ages from its own due date
    later = run_cycle(engine, business_date=date(2026, 4, 30), rules=RULES)
    assert later.cases_opened == 1 and _snapshot(engine, account_id, date(2026, 4, 30)) == 5


def test_without_the_re_age_the_same_account_stays_delinquent(engine: Engine) -> None:
    account_id = _arrears_ledger(engine)
    run_cycle(engine, business_date=date(2026, 3, 30), rules=RULES)
    run_cycle(engine, business_date=date(2026, 3, 31), rules=RULES)
    assert _snapshot(engine, account_id, date(2026, 3, 31)) == 65


RAW_PAYMENTS = [("EP1", "E1", date(2026, 2, 20), 10_000), ("EP2", "E2", date(2026, 3, 1), 45_000),
                ("EP3", "E2", date(2026, 3, 10), 5_000), ("EP4", "E3", date(2026, 1, 20), 30_000)]
#: E1 between two statements; E2 on a statement date (that statement is not covered); E3 never
REAGES = {"E1": date(2026, 3, 10), "E2": date(2026, 4, 5)}


def test_engines_and_reference_agree_with_re_ages(engine: Engine) -> None:
    load(engine, LedgerLoad(
        accounts=["E1", "E2", "E3"],
        statements=[(ref, date(2026, m, 5), date(2026, m, 25), 30_000 * m, 30_000 * (m - 1))
                    for ref in ("E1", "E2", "E3") for m in range(1, 6)],
        payments=RAW_PAYMENTS,
    ))
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
    for ref, on in REAGES.items():
        _reage(engine, ids[ref], on)
    as_ofs = [date(2026, 3, 9), date(2026, 3, 10), date(2026, 4, 28), date(2026, 5, 28)]
    with ArrowReader(engine) as reader:
        statements, payments, holds = ledger.read_ledger(reader, watermark=10**9)
    got = payments.to_pylist()
    assert {"account_key": ids["E1"], "value_date": date(2026, 3, 10), "amount": 90_000} in got
    assert {"account_key": ids["E2"], "value_date": date(2026, 4, 5), "amount": 90_000} in got
    assert len(got) == 6
    keys = [(p["account_key"], p["value_date"]) for p in got]
    assert keys == sorted(keys)

    arrays = {(r["account_key"], r["as_of"]): r for r in assess_arrays(
        statements, payments, holds, as_of_dates=as_ofs, rules=RULES).to_pylist()}
    con = duckdb.connect()
    for name, tbl in (("statements", statements), ("payments", payments), ("holds", holds)):
        con.register(name, tbl)
    sql = {(r["account_key"], r["as_of"]): r for r in assess_portfolio_sql(
        con, as_of_dates=as_ofs, rules=RULES).to_pylist()}
    assert arrays == sql and len(arrays) == 12
    for key, row in arrays.items():
        account, as_of = key
        st = [Statement(s["statement_date"], s["due_date"], s["minimum_due"], s["past_due_included"])
              for s in statements.to_pylist() if s["account_key"] == account]
        # the documented rule, independently of the reader: the account's own payments, and on the
        # re-age date a payment of every minimum issued before it
        ref_name = next(r for r, i in ids.items() if i == account)
        pays = [Payment(v, a) for _, r, v, a in RAW_PAYMENTS if r == ref_name]
        if ref_name in REAGES:
            on = REAGES[ref_name]
            pays.append(Payment(on, sum(x.own_minimum for x in st if x.statement_date < on)))
        ref = assess(st, pays, [], as_of=as_of, rules=RULES)
        assert (row["dpd"], row["amount_past_due"]) == (ref.dpd, ref.amount_past_due), key
    dpd = {(ref, d): arrays[(ids[ref], d)]["dpd"] for ref in ids for d in as_ofs}
    assert (dpd[("E1", date(2026, 3, 9))], dpd[("E1", date(2026, 3, 10))]) == (43, 0)
    assert dpd[("E2", date(2026, 4, 28))] == 3  # April's own minimum, due 25 April, is unpaid
    assert dpd[("E3", date(2026, 4, 28))] == 62  # never re-aged: February unpaid since 25 February
