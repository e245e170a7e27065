"""Plain helpers for plan tests: the worked customer of docs/plans.md in a store, and users."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Payment, Statement
from arrears.auth.tables import User
from arrears.cases import service as case_service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Case
from arrears.delinquency.tables import CycleRun, DelinquencySnapshot
from arrears.kit.clock import utc_now
from tests.api.conftest import add_users, assign
from tests.cases.support import new_case, path_to

#: The worked customer (docs/plans.md): agreement date 31 January 2026, balance 12,000.00 of which
#: 3,600.00 overdue (the minimum due now), 95 days past due, job loss, willingness 4, 1,500.00 a month.
START = date(2026, 1, 31)
BALANCE = 1_200_000
OVERDUE = 360_000
DPD = 95
MOBILE = "13912345678"


def worked_case(
    engine: Engine, ref: str = "ACC-PLAN-0001", *, state: str = "negotiating", team: str = "east",
    investigation: bool = True, mobile: bool = True, dpd: int = DPD,
) -> int:
    """A case on the worked customer's account, in ``state``, worked by ``team``."""
    case_id = new_case(engine, ref)
    assign(engine, case_id, team)
    now = utc_now()
    with engine.begin() as conn:
        account_id, customer_id = conn.execute(
            select(Account.id, Account.customer_id).where(Account.account_ref == ref)).one()
        conn.execute(insert(Statement).values(
            account_id=account_id, statement_date=date(2026, 1, 5), due_date=date(2026, 1, 25),
            new_balance=BALANCE, minimum_due=OVERDUE, past_due_included=240_000, created_at=now))
        run_id = conn.execute(insert(CycleRun).values(
            business_date=date(2026, 1, 30), status="completed", ingest_watermark=0, accounts_assessed=1,
            delinquent_accounts=1, restated_accounts=0, snapshots_written=1, bucket_changes=0, cases_opened=0,
            cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
        conn.execute(insert(DelinquencySnapshot).values(
            account_id=account_id, business_date=date(2026, 1, 30), dpd=dpd, delinquent=True, bucket="M4",
            cycles_delinquent=3, amount_past_due=OVERDUE, past_due_c1=120_000, past_due_c2=120_000,
            past_due_c3=120_000, past_due_c4=0, past_due_c5=0, past_due_c6=0, past_due_c7p=0, charge_off=False,
            oldest_unpaid_due_date=date(2025, 10, 28), cycle_run_id=run_id))
        conn.execute(update(Case).where(Case.id == case_id).values(dpd=dpd, balance=BALANCE))
        if mobile:
            conn.execute(insert(ContactPoint).values(
                contact_ref=f"CP-{ref}-mobile", customer_id=customer_id, kind="phone", value=MOBILE,
                owner="debtor", verified=True, opted_out=False, created_at=now))
    with Session(engine) as session, session.begin():
        for target in path_to(state):
            case_service.transition(session, case_id=case_id, to_state=target, actor="user:1", reason=f"to {target}")
        if investigation:
            case_service.record_investigation(
                session, case_id=case_id, cause="job_loss", monthly_income=300_000, essential_spending=0,
                other_debt_payments=0, dependants=0, willingness=4, recorded_by="user:1",
                rules=load_default_case_rules())
    return case_id


def users(engine: Engine) -> dict[str, User]:
    """Users of every role (tests.api.conftest.ROLES), detached, keyed by name."""
    _, ids = add_users(engine)
    with Session(engine, expire_on_commit=False) as session:
        found = {u.username: u for u in session.execute(select(User).where(User.id.in_(ids.values()))).scalars()}
        session.expunge_all()
    return found


def pay(engine: Engine, ref: str, *payments: tuple[date, int]) -> None:
    """Payments on the account (value date, fen), as a file load would add them."""
    with engine.begin() as conn:
        account_id = conn.execute(select(Account.id).where(Account.account_ref == ref)).scalar_one()
        start = conn.execute(select(Payment.id).order_by(Payment.id.desc()).limit(1)).scalar_one_or_none() or 0
        for i, (value_date, amount) in enumerate(payments, start=start + 1):
            conn.execute(insert(Payment).values(
                payment_ref=f"PAY-{ref}-{i}", account_id=account_id, amount=amount, value_date=value_date,
                channel="mobile_app", created_at=utc_now()))
