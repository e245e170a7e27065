"""Plain helpers to write small bank files from a test."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from arrears.accounts import validate as v
from arrears.accounts.tables import Account, ContactPoint, Customer, Hold, IngestIssue, IngestRun, Payment, Statement

HEADERS = {
    "customers": ["customer_id", "name", "national_id", "birth_date", "time_zone", "language"],
    "contact_points": ["contact_id", "customer_id", "kind", "value", "owner", "relation", "verified", "opted_out"],
    "accounts": ["account_id", "customer_id", "product", "credit_limit_fen", "currency", "statement_day", "due_day",
                 "status", "opened_on"],
    "statements": ["account_id", "statement_date", "due_date", "new_balance_fen", "minimum_due_fen",
                   "past_due_included_fen"],
    "payments": ["payment_id", "account_id", "amount_fen", "value_date", "channel"],
    "holds": ["hold_id", "account_id", "kind", "start_date", "end_date", "pauses_ageing", "reason", "created_by"],
}

TABLES = (Customer, ContactPoint, Account, Statement, Payment, Hold, IngestRun, IngestIssue)


def national_id(born: date, seq: str = "123", area: str = "110105") -> str:
    body = f"{area}{born:%Y%m%d}{seq}"
    return body + v.national_id_check_char(body)


ID1 = national_id(date(1985, 6, 15))
ID2 = national_id(date(1990, 2, 28), "456", "310101")

CUSTOMERS = [
    ["C1", "张三", ID1, "1985-06-15", "", ""],
    ["C2", "李四, \"小李\"", ID2, "1990-02-28", "Asia/Urumqi", "en"],
]
CONTACTS = [
    ["K1", "C1", "phone", "+86 138 0013 8000", "debtor", "", "true", "false"],
    ["K2", "C1", "address", "上海市浦东新区\n世纪大道 100 号", "debtor", "", "Y", "N"],
    ["K3", "C2", "phone", "139-1234-5678", "emergency", "配偶", "0", "0"],
    ["K4", "C2", "email", "li.si@Example.CN", "debtor", "", "1", "0"],
]
ACCOUNTS = [
    ["A1", "C1", "白金卡", "5000000", "", "5", "25", "open", "2020-01-01"],
    ["A2", "C2", "standard", "1000000", "CNY", "10", "28", "frozen", "2021-03-15"],
]
STATEMENTS = [
    ["A1", "2026-01-05", "2026-01-25", "120000", "10000", "0"],
    ["A1", "2026-02-05", "2026-02-25", "-500", "15000", "10000"],
    ["A2", "2026-01-10", "2026-01-28", "0", "0", "0"],
]
PAYMENTS = [
    ["P1", "A1", "5000", "2026-01-20", "wechat"],
    ["P2", "A1", "5000", "2026-01-28", "alipay"],
    ["P3", "A2", "100", "2026-02-01", "bank_transfer"],
]
HOLDS = [
    ["H1", "A1", "dispute", "2026-01-10", "2026-02-10", "", "持卡人对交易有异议", ""],
    ["H2", "A2", "hardship", "2026-01-01", "", "false", "", "agent-7"],
]
ALL = {
    "customers": CUSTOMERS,
    "contact_points": CONTACTS,
    "accounts": ACCOUNTS,
    "statements": STATEMENTS,
    "payments": PAYMENTS,
    "holds": HOLDS,
}


def csv_bytes(header: list[str], rows: list[list[Any]], *, bom: bool = False) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    data = out.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


def write_csv(path: Path, header: list[str], rows: list[list[Any]], *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(csv_bytes(header, rows, bom=bom))
    return path


def write_kind(folder: Path, kind: str, rows: list[list[Any]] | None = None, *, name: str | None = None,
               bom: bool = False) -> Path:
    return write_csv(folder / (name or f"{kind}.csv"), HEADERS[kind], ALL[kind] if rows is None else rows, bom=bom)


def write_portfolio(folder: Path) -> Path:
    for kind in HEADERS:
        write_kind(folder, kind)
    return folder


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every ledger table, for 'nothing changed' assertions."""
    with engine.connect() as conn:
        return {
            t.__tablename__: sorted(tuple(r) for r in conn.execute(select(t.__table__)).all())  # type: ignore[attr-defined]
            for t in TABLES
        }
