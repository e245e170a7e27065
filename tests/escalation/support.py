"""Plain helpers for escalation tests: accounts with cases in a chosen state, contact points, holds,
payments and tasks, written the way the ledger load and the strategy step would."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, select, update

from arrears.accounts.tables import Account, ContactPoint, Hold, Payment
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case, Task
from arrears.channels.tables import OutboxMessage
from arrears.config import get_settings
from arrears.contact.policy import local_instant, zone
from arrears.escalation.config import load_agencies
from arrears.escalation.model import Agencies
from arrears.escalation.register import notice_days, notice_state, save_agency
from arrears.escalation.repository import cases_to_place
from arrears.escalation.tables import CollectionAgency
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from tests.cases.support import case_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agencies.yaml"


def agencies() -> Agencies:
    return load_agencies(EXAMPLE)


def escalated(engine: Engine, ref: str, state: str, *, dpd: int = 120, balance: int = 1_000_000,
              phone: str | None = "13912345678", address: str | None = None) -> int:
    """An account ``ref`` with a case in ``state``, the given DPD and balance, and debtor contacts."""
    case_id = case_in(engine, ref, state)
    with engine.begin() as conn:
        conn.execute(update(Case).where(Case.id == case_id).values(dpd=dpd, balance=balance))
        customer_id = conn.execute(select(Account.customer_id).where(Account.account_ref == ref)).scalar_one()
        for kind, value in (("phone", phone), ("address", address)):
            if value is not None:
                conn.execute(insert(ContactPoint).values(
                    contact_ref=f"CP-{ref}-{kind}", customer_id=customer_id, kind=kind, value=value, owner="debtor",
                    verified=True, opted_out=False, created_at=utc_now()))
    return case_id


def account_id(engine: Engine, ref: str) -> int:
    with engine.connect() as conn:
        return conn.execute(select(Account.id).where(Account.account_ref == ref)).scalar_one()


def hold(engine: Engine, ref: str, kind: str, start: date, end: date | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Hold).values(
            hold_ref=f"H-{ref}-{kind}-{start}", account_id=account_id(engine, ref), kind=kind, start_date=start,
            end_date=end, pauses_ageing=kind == "dispute", reason="test", created_by="test", created_at=utc_now()))


def pay(engine: Engine, ref: str, *payments: tuple[date, int]) -> None:
    acc = account_id(engine, ref)
    with engine.begin() as conn:
        for n, (value_date, amount) in enumerate(payments):
            conn.execute(insert(Payment).values(
                payment_ref=f"P-{ref}-{value_date}-{n}-{amount}", account_id=acc, amount=amount, value_date=value_date,
                channel="bank_transfer", created_at=utc_now()))


def task(engine: Engine, case_id: int, kind: str, due_on: date = date(2026, 3, 1)) -> int:
    with engine.begin() as conn:
        return conn.execute(insert(Task).values(
            case_id=case_id, kind=kind, due_on=due_on, status="open", created_by="strategy:late-stage v1",
            created_at=utc_now()).returning(Task.id)).scalar_one()


def audits(engine: Engine, action: str) -> list[AuditRecord]:
    with engine.connect() as conn:
        return list(conn.execute(select(AuditRecord).where(AuditRecord.action == action)
                                 .order_by(AuditRecord.seq)).all())


def status(engine: Engine, case_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Case.status).where(Case.id == case_id)).scalar_one()


def ready_to_place(engine: Engine, code: str, on: date) -> None:
    """Agency ``code`` in the register (active, under contract and reviewed through 2027) and every case
    waiting for placement told: its notice letter queued and sent the pack's notice days before ``on``."""
    with transaction(engine) as s:
        if s.get(CollectionAgency, code) is None:
            save_agency(s, code=code, name=agencies().get(code).name, licence=f"REG-{code}",
                        contract_start=date(2025, 1, 1), contract_end=date(2027, 12, 31),
                        next_review=date(2027, 12, 31), status="active", actor="test")
        row = s.get(CollectionAgency, code)
        assert row is not None
        days = notice_days()
        for c in cases_to_place(s):
            told = notice_state(s, case_id=c.case_id, customer_id=c.customer_id, agency=row, days=days, actor="test")
            message = s.get(OutboxMessage, told.notice.outbox_message_id)
            if message is not None and message.sent_at is None:
                message.status = "sent"
                message.sent_at = local_instant(zone(get_settings().timezone), on - timedelta(days=days), 10 * 3600)
