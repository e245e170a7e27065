"""A small hand-built store for feature-view tests, and the feature values worked out by hand.

Business date 2026-03-01, bank time zone Asia/Shanghai (UTC+8).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, insert, inspect, select, update

from arrears.accounts.tables import Account, Customer, Hold, Statement
from arrears.auth.tables import User
from arrears.cases.tables import Case, HoldReview, Interaction, Promise
from arrears.delinquency.tables import CycleRun, DelinquencySnapshot
from arrears.kit.clock import utc_now
from tests.cases.support import new_case
from tests.factories import LedgerLoad, load

BD = date(2026, 3, 1)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _run(conn, day: date) -> int:  # type: ignore[no-untyped-def]
    now = utc_now()
    return conn.execute(insert(CycleRun).values(
        business_date=day, status="completed", ingest_watermark=0, accounts_assessed=1, delinquent_accounts=1,
        restated_accounts=0, snapshots_written=1, bucket_changes=0, cases_opened=0, cases_closed=0, started_at=now,
        finished_at=now).returning(CycleRun.id)).scalar_one()


def _snapshot(conn, account_id: int, day: date, *, dpd: int, bucket: str, cycles: int, past_due: int,  # type: ignore[no-untyped-def]
              run_id: int, superseded_by: int | None = None, charge_off: bool = False) -> None:
    conn.execute(insert(DelinquencySnapshot).values(
        account_id=account_id, business_date=day, dpd=dpd, delinquent=True, bucket=bucket, cycles_delinquent=cycles,
        amount_past_due=past_due, past_due_c1=past_due, past_due_c2=0, past_due_c3=0, past_due_c4=0, past_due_c5=0,
        past_due_c6=0, past_due_c7p=0, charge_off=charge_off, oldest_unpaid_due_date=date(2026, 1, 25),
        cycle_run_id=run_id, superseded_by_run_id=superseded_by))


def _interaction(conn, case_id: int, at: datetime, *, direction: str, party: str, outcome: str) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(insert(Interaction).values(
        case_id=case_id, channel="call", direction=direction, party=party, started_at=at, outcome=outcome,
        created_at=utc_now()).returning(Interaction.id)).scalar_one()


def _promise(conn, case_id: int, *, created_on: date, promised: date, status: str) -> None:  # type: ignore[no-untyped-def]
    conn.execute(insert(Promise).values(
        case_id=case_id, amount=50_000, promised_date=promised, created_on=created_on, grace_days=3, tolerance=1_000,
        status=status, created_by="test", created_at=utc_now()))


def _plan(conn, case_id: int, account_id: int, user_id: int, *, version: int, status: str, start: date) -> None:  # type: ignore[no-untyped-def]
    from arrears.plans.tables import PlanAgreement

    conn.execute(insert(PlanAgreement).values(
        case_id=case_id, account_id=account_id, version=version, product_code="inst_12", kind="instalment",
        start_date=start, principal=100_000, fees=0, interest=0, waived=0, total=100_000, largest_instalment=10_000,
        months=12, status=status, needs_approval=False, created_by=user_id, terms_locale="zh_CN",
        terms_text="terms", terms_sha256="0" * 64, pdf=b"%PDF", pdf_sha256="0" * 64, code_attempts=0,
        created_at=utc_now(), updated_at=utc_now()))


def build_portfolio(engine: Engine) -> dict[str, int]:
    """Four accounts; returns {account_ref: account id}. See :func:`expected_features` for what the view says."""
    case_a = new_case(engine, "ACC-S1", opened_on=date(2026, 2, 10))
    case_c = new_case(engine, "ACC-S3", opened_on=date(2026, 2, 10))
    load(engine, LedgerLoad(
        accounts=["ACC-S2", "ACC-S4"],
        statements=[
            ("ACC-S1", date(2026, 1, 5), date(2026, 1, 25), 60_000, 0),
            ("ACC-S1", date(2026, 2, 5), date(2026, 2, 25), 100_000, 60_000),
            ("ACC-S1", date(2026, 3, 5), date(2026, 3, 25), 150_000, 100_000),  # after the business date
        ],
        payments=[
            ("P-1", "ACC-S1", date(2025, 11, 20), 50_000),  # before the 90-day window
            ("P-2", "ACC-S1", date(2026, 2, 4), 10_000),    # in the window, before the latest statement
            ("P-3", "ACC-S1", date(2026, 2, 10), 30_000),
            ("P-4", "ACC-S1", date(2026, 2, 20), 20_000),
            ("P-5", "ACC-S1", date(2026, 3, 2), 99_000),    # after the business date
        ],
    ))
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        a, b, c, d = ids["ACC-S1"], ids["ACC-S2"], ids["ACC-S3"], ids["ACC-S4"]
        # statements of the factory: new_balance = minimum × 10 → 600,000 / 1,000,000 / 1,500,000
        conn.execute(insert(Statement).values(
            account_id=c, statement_date=date(2026, 2, 5), due_date=date(2026, 2, 25), new_balance=-5_000,
            minimum_due=0, past_due_included=0, created_at=utc_now()))
        # B: no limit, an English-speaking customer whose ID does not start with digits
        cust_b = conn.execute(select(Account.customer_id).where(Account.id == b)).scalar_one()
        conn.execute(update(Customer).where(Customer.id == cust_b).values(language="en", national_id="AB0000000000000000"))
        conn.execute(update(Account).where(Account.id == b).values(credit_limit=0, product="platinum"))

        run = _run(conn, BD)
        later = _run(conn, BD)
        _snapshot(conn, a, BD, dpd=45, bucket="M2", cycles=2, past_due=160_000, run_id=run)
        _snapshot(conn, b, BD, dpd=95, bucket="M4", cycles=4, past_due=400_000, run_id=run)
        _snapshot(conn, c, date(2026, 2, 28), dpd=10, bucket="M1", cycles=1, past_due=10_000, run_id=run)
        _snapshot(conn, c, BD, dpd=11, bucket="M1", cycles=1, past_due=10_000, run_id=run, superseded_by=later)
        _snapshot(conn, d, date(2026, 2, 28), dpd=5, bucket="M1", cycles=1, past_due=5_000, run_id=run)

        # holds on A: complaint and hardship active (complaint is the more serious), dispute ended
        for kind, start, end in (("complaint", date(2026, 2, 25), None), ("hardship", date(2026, 2, 1), BD),
                                 ("dispute", date(2026, 1, 1), date(2026, 1, 31)), ("fraud", date(2026, 3, 2), None)):
            conn.execute(insert(Hold).values(account_id=a, kind=kind, start_date=start, end_date=end,
                                             pauses_ageing=False, reason="t", created_by="test", created_at=utc_now()))

        # contact on A (UTC times; the bank's dates are UTC+8)
        rpc = _interaction(conn, case_a, _utc(2026, 2, 27, 2, 0), direction="outbound", party="debtor",
                           outcome="promise_to_pay")
        _interaction(conn, case_a, _utc(2026, 2, 28, 17, 30), direction="outbound", party="nobody",
                     outcome="no_answer")                      # 2026-03-01 01:30 in Shanghai: the latest
        _interaction(conn, case_a, _utc(2026, 3, 1, 16, 30), direction="outbound", party="debtor",
                     outcome="refused")                        # 2026-03-02 in Shanghai: after the date
        _interaction(conn, case_a, _utc(2026, 2, 20, 3, 0), direction="inbound", party="debtor",
                     outcome="right_party_contact")
        _interaction(conn, case_a, _utc(2026, 2, 22, 15, 0), direction="outbound", party="nobody",
                     outcome="busy")                           # 2026-02-22 23:00: one day before the 7-day window
        _interaction(conn, case_a, _utc(2026, 1, 15, 3, 0), direction="outbound", party="debtor",
                     outcome="right_party_contact")            # before the 30-day window
        conn.execute(insert(HoldReview).values(case_id=case_a, interaction_id=rpc, outcome="complaint",
                                               status="pending", created_at=utc_now()))
        _promise(conn, case_a, created_on=date(2026, 2, 27), promised=date(2026, 3, 5), status="open")
        _promise(conn, case_a, created_on=date(2025, 12, 28), promised=date(2026, 1, 10), status="broken")
        # C: reopened after a cure; an old broken promise outside 90 days, a kept one inside
        conn.execute(update(Case).where(Case.id == case_c).values(reopened_on=date(2026, 2, 25), status="contacting"))
        _promise(conn, case_c, created_on=date(2025, 11, 1), promised=date(2025, 11, 30), status="broken")
        _promise(conn, case_c, created_on=date(2026, 2, 1), promised=date(2026, 2, 3), status="kept")
        _interaction(conn, case_c, _utc(2026, 2, 26, 1, 0), direction="inbound", party="debtor",
                     outcome="callback_requested")
        # B: only a case closed by decision
        conn.execute(insert(Case).values(
            account_id=b, status="closed", opened_on=date(2025, 12, 1), closed_on=date(2026, 1, 15),
            close_reason="decision", open_bucket="M1", bucket="M3", dpd=70, opened_by_run_id=run, reopen_count=0,
            created_at=utc_now(), updated_at=utc_now()))

        if "plan_agreements" in inspect(conn).get_table_names():
            user = conn.execute(insert(User).values(
                username="planner", password_hash="x", role="agent", capacity=3, active=True,
                password_changed_at=utc_now(), created_at=utc_now()).returning(User.id)).scalar_one()
            _plan(conn, case_a, a, user, version=1, status="active", start=date(2026, 2, 15))
            _plan(conn, case_a, a, user, version=2, status="cancelled", start=date(2026, 2, 20))
            _plan(conn, case_c, c, user, version=1, status="broken", start=date(2026, 2, 1))
            _plan(conn, case_c, c, user, version=2, status="awaiting_confirmation", start=date(2026, 3, 3))
    return ids


def expected_features(ids: dict[str, int], cases: dict[str, int | None], *, plans: bool = True) -> list[dict[str, Any]]:
    """The view on 2026-03-01, worked out by hand (see the comments in :func:`build_portfolio`)."""
    a = {
        "account_id": ids["ACC-S1"], "account_ref": "ACC-S1", "product": "standard", "account_status": "open",
        "language": "zh_CN", "region_code": "11", "months_on_book": 26,  # 2024-01-01 → 2026-03-01
        "credit_limit": 5_000_000,
        "balance": 1_000_000 - 30_000 - 20_000,        # Feb statement less the payments valued after it
        "utilisation_bp": 950_000 * 10_000 // 5_000_000,
        "dpd": 45, "bucket": "M2", "cycles_delinquent": 2, "amount_past_due": 160_000, "charge_off": False,
        "payments_90d_fen": 10_000 + 30_000 + 20_000, "payments_count_90d": 3, "last_payment_days_ago": 9,
        "behaviour_score": None,
        "hold_active": True, "hold_kind": "complaint", "hold_review_pending": True,
        "case_id": cases["ACC-S1"], "case_status": "new", "days_in_case": 19,
        "last_contact_outcome": "no_answer", "days_since_last_contact": 0,
        "contact_attempts_7d": 2,                       # 02-27 and 03-01 (02-22 and 03-02 fall outside)
        "rpc_30d": 2,                                   # 02-27 and 02-20
        "open_promise": True, "promise_broken_90d": True,
        "plan_status": "active" if plans else None,     # version 2 was cancelled
    }
    b = {
        "account_id": ids["ACC-S2"], "account_ref": "ACC-S2", "product": "platinum", "account_status": "open",
        "language": "en", "region_code": None, "months_on_book": 26, "credit_limit": 0, "balance": 0,
        "utilisation_bp": None, "dpd": 95, "bucket": "M4", "cycles_delinquent": 4, "amount_past_due": 400_000,
        "charge_off": False, "payments_90d_fen": 0, "payments_count_90d": 0, "last_payment_days_ago": None,
        "behaviour_score": None, "hold_active": False, "hold_kind": None, "hold_review_pending": False,
        "case_id": cases["ACC-S2"], "case_status": "closed", "days_in_case": 90,
        "last_contact_outcome": None, "days_since_last_contact": None, "contact_attempts_7d": 0, "rpc_30d": 0,
        "open_promise": False, "promise_broken_90d": False, "plan_status": None,
    }
    c = {
        "account_id": ids["ACC-S3"], "account_ref": "ACC-S3", "product": "standard", "account_status": "open",
        "language": "zh_CN", "region_code": "11", "months_on_book": 26, "credit_limit": 5_000_000,
        "balance": -5_000, "utilisation_bp": 0,
        "dpd": 0, "bucket": "M0", "cycles_delinquent": 0, "amount_past_due": 0, "charge_off": False,  # no current snapshot
        "payments_90d_fen": 0, "payments_count_90d": 0, "last_payment_days_ago": None, "behaviour_score": None,
        "hold_active": False, "hold_kind": None, "hold_review_pending": False,
        "case_id": cases["ACC-S3"], "case_status": "contacting", "days_in_case": 4,  # reopened 2026-02-25
        "last_contact_outcome": "callback_requested", "days_since_last_contact": 3, "contact_attempts_7d": 0,
        "rpc_30d": 1, "open_promise": False, "promise_broken_90d": False,
        "plan_status": "broken" if plans else None,     # version 2 starts after the date
    }
    return sorted([a, b, c], key=lambda r: r["account_id"])


def case_ids(engine: Engine) -> dict[str, int | None]:
    with engine.connect() as conn:
        rows = conn.execute(select(Account.account_ref, Case.id).join(Case, Case.account_id == Account.id)).all()
    out: dict[str, int | None] = {"ACC-S1": None, "ACC-S2": None, "ACC-S3": None}
    out.update({ref: cid for ref, cid in rows if ref in out})
    return out
