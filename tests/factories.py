"""Plain helpers that put a ledger into a store the way a file load would (one ingest run per call)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import ModuleType

from sqlalchemy import Engine, insert, select

from arrears.accounts.tables import Account, Customer, Hold, IngestRun, Payment, Statement
from arrears.kit.clock import utc_now


@dataclass
class LedgerLoad:
    """Rows of one simulated file delivery; accounts are referred to by the bank's account id."""

    accounts: list[str] = field(default_factory=list)
    statements: list[tuple[str, date, date, int, int]] = field(default_factory=list)  # ref, stmt, due, min, carried
    payments: list[tuple[str, str, date, int]] = field(default_factory=list)  # payment ref, account ref, value, fen
    holds: list[tuple[str, str, date, date | None, bool]] = field(default_factory=list)  # ref, acct, start, end, pause


def load(engine: Engine, batch: LedgerLoad) -> int:
    """Insert one delivery in one transaction; returns its ingest run id."""
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(IngestRun).values(kind="test", file_name="factory", sha256="0" * 64, status="loaded",
                                     started_at=utc_now(), finished_at=utc_now()).returning(IngestRun.id)
        ).scalar_one()
        for ref in batch.accounts:
            cust = conn.execute(
                insert(Customer).values(customer_ref=f"C-{ref}", name="测试客户", national_id="11010519491231002X",
                                        birth_date=date(1949, 12, 31), time_zone="Asia/Shanghai", language="zh_CN",
                                        created_at=utc_now()).returning(Customer.id)
            ).scalar_one()
            conn.execute(insert(Account).values(
                account_ref=ref, customer_id=cust, product="standard", credit_limit=5_000_000, currency="CNY",
                statement_day=5, due_day=25, status="open", opened_on=date(2024, 1, 1), created_at=utc_now()))
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        for ref, stmt, due, minimum, carried in batch.statements:
            conn.execute(insert(Statement).values(
                account_id=ids[ref], statement_date=stmt, due_date=due, new_balance=minimum * 10,
                minimum_due=minimum, past_due_included=carried, ingest_run_id=run_id, created_at=utc_now()))
        for pref, ref, value, amount in batch.payments:
            conn.execute(insert(Payment).values(
                payment_ref=pref, account_id=ids[ref], amount=amount, value_date=value, channel="mobile_app",
                ingest_run_id=run_id, created_at=utc_now()))
        for href, ref, start, end, pauses in batch.holds:
            conn.execute(insert(Hold).values(
                hold_ref=href, account_id=ids[ref], kind="dispute" if pauses else "complaint", start_date=start,
                end_date=end, pauses_ageing=pauses, reason="test", created_by="test", ingest_run_id=run_id,
                created_at=utc_now()))
    return run_id


MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"


def migration_module(file_name: str) -> ModuleType:
    """One migration file of ``migrations/versions`` loaded as a module, to run its backfill SQL or
    functions against a test store."""
    spec = importlib.util.spec_from_file_location(file_name.removesuffix(".py"), MIGRATIONS / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
