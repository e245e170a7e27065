"""Pay now, end to end on SQLite and PostgreSQL: the cardholder's page makes the order, the sandbox
provider (its own process) takes the payment and notifies the application served by uvicorn, and the
order is paid, pending on the ledger, recorded once on the case (channel ``self_service``), audited
and shown on the agent's case page. Duplicated, late, reordered and forged notifications; the
cardholder's own amount; payments not configured; no order without a verified visit."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select

from arrears.accounts.tables import Account
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Interaction
from arrears.delinquency.tables import CycleRun, DelinquencySnapshot
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.payments.service import counted_fen
from arrears.payments.settings import Payments, PaymentSettings
from arrears.payments.tables import PaymentEvent, PaymentOrder
from arrears.payments.wechatpay import WeChatPayConfig, WeChatPayNative
from arrears.portal.service import issue_link, portal_key
from arrears.portal.tables import PortalLink
from tests.api.conftest import Api
from tests.factories import LedgerLoad, load
from tests.payments.conftest import free_port, pay_keys, sandbox_url, wait_until_up  # noqa: F401
from tests.web.support import sign_in

RIGHT = {"id_last4": "002x", "birth_date": "1949-12-31"}  # the test customer's (tests/factories.py)
PAST_DUE, MINIMUM, BALANCE = 123_456, 50_000, 500_000
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ATTEMPT = re.compile(r'name="attempt" value="([^"]+)"')


@dataclass
class Shop:
    api: Api
    adapter: WeChatPayNative
    sandbox: str
    notify_url: str

    @property
    def engine(self):  # type: ignore[no-untyped-def]
        return self.api.engine


def _figures(api: Api) -> None:
    """The east account: a statement (balance ¥5,000, minimum ¥500) and ¥1,234.56 past due today."""
    load(api.engine, LedgerLoad(statements=[("ACC-EAST", date(2026, 1, 5), date(2026, 1, 25), MINIMUM, 0)]))
    now = utc_now()
    with api.engine.begin() as conn:
        account_id = conn.execute(select(Account.id).where(Account.account_ref == "ACC-EAST")).scalar_one()
        run = conn.execute(insert(CycleRun).values(
            business_date=now.date(), status="completed", ingest_watermark=0, accounts_assessed=1,
            delinquent_accounts=1, restated_accounts=0, snapshots_written=1, bucket_changes=0, cases_opened=0,
            cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
        conn.execute(insert(DelinquencySnapshot).values(
            account_id=account_id, business_date=now.date() - timedelta(days=1), dpd=35, delinquent=True, bucket="M2",
            cycles_delinquent=2, amount_past_due=PAST_DUE, past_due_c1=0, past_due_c2=0, past_due_c3=0,
            past_due_c4=0, past_due_c5=0, past_due_c6=0, past_due_c7p=0, charge_off=False, cycle_run_id=run))


@pytest.fixture
def shop(api: Api, pay_keys: Path, sandbox_url: str) -> Iterator[Shop]:  # noqa: F811
    """The application served by uvicorn (the sandbox notifies it) with payments through the sandbox."""
    _figures(api)
    app = api.client.app
    port = free_port()
    notify_url = f"http://127.0.0.1:{port}/payments/notify"
    adapter = WeChatPayNative(WeChatPayConfig.from_dir(pay_keys, notify_url=notify_url, base_url=sandbox_url))
    app.state.payments = Payments(adapter, PaymentSettings(keys_dir=pay_keys, base_url=sandbox_url,
                                                           notify_url=notify_url, sandbox=True), sandbox_url)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_up(f"http://127.0.0.1:{port}/static/portal.css")
    httpx.post(f"{sandbox_url}/sandbox/delivery", json={"mode": "now"})
    yield Shop(api, adapter, sandbox_url, notify_url)
    httpx.post(f"{sandbox_url}/sandbox/release", json={"order": "fifo"})  # nothing held leaks into the next test
    httpx.post(f"{sandbox_url}/sandbox/delivery", json={"mode": "now"})
    server.should_exit = True
    thread.join(10)


def _link(api: Api) -> str:
    settings = api.client.app.state.settings
    with transaction(api.engine) as s:
        return issue_link(s, account_ref="ACC-EAST", key=portal_key(settings), settings=settings,
                          actor="agent_east").token


def _verified(api: Api) -> tuple[TestClient, str]:
    token = _link(api)
    browser = TestClient(api.client.app, follow_redirects=False, client=("198.51.100.7", 4000))
    page = browser.get(f"/p/{token}")
    found = _CSRF.search(page.text)
    assert found is not None
    r = browser.post(f"/p/{token}", data={**RIGHT, "csrf_token": found.group(1)})
    assert r.status_code == 303, r.text
    return browser, token


def _form(browser: TestClient, token: str) -> dict[str, str]:
    page = browser.get(f"/p/{token}/pay")
    assert page.status_code == 200, page.text
    csrf, attempt = _CSRF.search(page.text), _ATTEMPT.search(page.text)
    assert csrf is not None and attempt is not None
    return {"csrf_token": csrf.group(1), "attempt": attempt.group(1)}


def _order(browser: TestClient, token: str, **fields: str) -> str:
    r = browser.post(f"/p/{token}/pay", data={**_form(browser, token), **fields})
    assert r.status_code == 303, r.text
    found = re.fullmatch(rf"/p/{re.escape(token)}/pay/(\w+)", r.headers["location"])
    assert found is not None, r.headers["location"]
    return found.group(1)


def _pay_at_sandbox(shop: Shop, browser: TestClient, token: str, order_id: str, delivery: str = "now") -> list:
    r = httpx.post(f"{shop.sandbox}/sandbox/pay/{order_id}", json={"delivery": delivery}, timeout=30)
    assert r.status_code == 200, r.text
    return [d.get("status_code") for d in r.json()["deliveries"]]


def _count(shop: Shop, model, *where) -> int:  # type: ignore[no-untyped-def]
    with shop.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _payments_recorded(shop: Shop) -> int:
    return _count(shop, Interaction, Interaction.channel == "self_service", Interaction.outcome == "payment_made")


def test_paying_the_past_due_amount_at_the_sandbox(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    home = browser.get(f"/p/{token}/home")
    assert f'href="/p/{token}/pay"' in home.text
    page = browser.get(f"/p/{token}/pay")
    assert "1,234.56" in page.text and "500.00" in page.text  # past due, the statement's minimum
    order_id = _order(browser, token, choice="past_due", amount="")
    status = browser.get(f"/p/{token}/pay/{order_id}")
    assert status.status_code == 200 and "p-waiting" in status.text and "<svg" in status.text
    assert status.headers["cache-control"] == "no-store"
    # the sandbox's checkout page, as a phone's payment app: pay, and come back to the status page
    link = re.search(r'href="(http://127\.0\.0\.1:\d+/sandbox/checkout/[^"]+)"', status.text)
    assert link is not None
    checkout_url = link.group(1).replace("&amp;", "&")
    back = parse_qs(urlsplit(checkout_url).query)["return"][0]
    assert back.endswith(f"/p/{token}/pay/{order_id}")
    assert httpx.get(checkout_url).status_code == 200
    paid = httpx.post(checkout_url.split("?")[0], data={"return": back})
    assert paid.status_code == 303 and paid.headers["location"] == back
    status = browser.get(f"/p/{token}/pay/{order_id}")
    assert "p-paid" in status.text and "p-waiting" not in status.text
    with transaction(shop.engine) as s:
        order = s.scalars(select(PaymentOrder)).one()
        assert (order.merchant_order_id, order.amount, order.paid_fen, order.state) == (order_id, PAST_DUE,
                                                                                        PAST_DUE, "paid")
        assert counted_fen(s, account_ref="ACC-EAST") == (0, PAST_DUE)  # pending until the bank's file
        interaction = s.scalars(select(Interaction).where(Interaction.channel == "self_service")).one()
        assert (interaction.outcome, interaction.direction) == ("payment_made", "inbound")
        audit = s.scalars(select(AuditRecord).where(AuditRecord.action == "portal.payment")).one()
        assert audit.actor == "cardholder" and audit.detail["order"] == order_id
        assert audit.detail["amount"] == PAST_DUE
        assert s.scalars(select(PortalLink.acted_at)).one() is not None
        actions = set(s.scalars(select(AuditRecord.action).where(AuditRecord.entity_id == order_id)))
    assert {"payment.order.create", "payment.notification.paid"} <= actions
    # the agent sees it on the case page: the order and the self-service interaction
    agent = sign_in(shop.api, "agent_east", lang="en")
    case_page = agent.get(f"/case/{shop.api.east_case}")
    assert case_page.status_code == 200
    assert "payment-pending_confirmation" in case_page.text and "1,234.56" in case_page.text
    assert "Paid, pending confirmation by the bank" in case_page.text and "Self-service" in case_page.text


def test_a_double_submit_makes_one_order_and_the_minimum_is_offered(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    form = _form(browser, token)
    first = browser.post(f"/p/{token}/pay", data={**form, "choice": "minimum"})
    again = browser.post(f"/p/{token}/pay", data={**form, "choice": "minimum"})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert _count(shop, PaymentOrder) == 1
    with transaction(shop.engine) as s:
        assert s.scalars(select(PaymentOrder.amount)).one() == MINIMUM
    # the provider, asked twice for the same order, answers with the same QR code
    one, two = (browser.get(first.headers["location"]).text for _ in range(2))
    assert re.search(r"<svg.*</svg>", one, re.S).group(0) == re.search(r"<svg.*</svg>", two, re.S).group(0)  # type: ignore[union-attr]


def test_duplicated_notifications_apply_once(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    order_id = _order(browser, token, choice="past_due")
    browser.get(f"/p/{token}/pay/{order_id}")  # the order is created at the provider
    assert _pay_at_sandbox(shop, browser, token, order_id, "twice") == [204, 204]
    assert _count(shop, PaymentEvent) == 1
    assert _payments_recorded(shop) == 1
    assert _count(shop, AuditRecord, AuditRecord.action == "portal.payment") == 1
    with transaction(shop.engine) as s:
        assert counted_fen(s, account_ref="ACC-EAST") == (0, PAST_DUE)


def test_a_late_notification_after_check_again_applies_once(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    order_id = _order(browser, token, choice="past_due")
    status = browser.get(f"/p/{token}/pay/{order_id}")
    assert _pay_at_sandbox(shop, browser, token, order_id, "hold") == [None]  # the notice is late
    assert "p-waiting" in browser.get(f"/p/{token}/pay/{order_id}").text
    csrf = _CSRF.search(status.text)
    assert csrf is not None
    r = browser.post(f"/p/{token}/pay/{order_id}/check", data={"csrf_token": csrf.group(1)})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/pay/{order_id}"
    assert "p-paid" in browser.get(f"/p/{token}/pay/{order_id}").text
    assert _payments_recorded(shop) == 1
    released = httpx.post(f"{shop.sandbox}/sandbox/release", json={"order": "fifo"}).json()["deliveries"]
    assert [d["status_code"] for d in released] == [204]  # taken, a duplicate of what the query said
    assert _count(shop, PaymentEvent) == 1 and _payments_recorded(shop) == 1


def test_reordered_notifications_refund_before_payment_apply_once(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    order_id = _order(browser, token, choice="minimum")
    browser.get(f"/p/{token}/pay/{order_id}")
    httpx.post(f"{shop.sandbox}/sandbox/delivery", json={"mode": "hold"})
    _pay_at_sandbox(shop, browser, token, order_id, "hold")
    shop.adapter.refund(merchant_order_id=order_id, merchant_refund_id=f"R{order_id[1:]}", amount_fen=10_000,
                        total_fen=MINIMUM)
    released = httpx.post(f"{shop.sandbox}/sandbox/release", json={"order": "reverse"}).json()["deliveries"]
    assert [(d["event_type"], d["status_code"]) for d in released] == [("REFUND.SUCCESS", 204),
                                                                       ("TRANSACTION.SUCCESS", 204)]
    with transaction(shop.engine) as s:
        order = s.scalars(select(PaymentOrder)).one()
        assert (order.paid_fen, order.refunded_fen, order.state) == (MINIMUM, 10_000, "partially_refunded")
        assert counted_fen(s, account_ref="ACC-EAST") == (0, MINIMUM - 10_000)
    assert _count(shop, PaymentEvent) == 2 and _payments_recorded(shop) == 1


@pytest.mark.parametrize("delivery", ["forged", "stale", "bad_ciphertext"])
def test_a_forged_or_replayed_notification_is_rejected(shop: Shop, delivery: str) -> None:
    browser, token = _verified(shop.api)
    order_id = _order(browser, token, choice="past_due")
    browser.get(f"/p/{token}/pay/{order_id}")
    assert _pay_at_sandbox(shop, browser, token, order_id, delivery) == [401]
    assert _count(shop, PaymentEvent) == 0 and _payments_recorded(shop) == 0
    assert "p-waiting" in browser.get(f"/p/{token}/pay/{order_id}").text
    # a notification no provider signed at all, straight at the notify URL
    r = httpx.post(shop.notify_url, json={"event_type": "TRANSACTION.SUCCESS", "resource": {}})
    assert r.status_code == 401 and r.json()["code"] == "FAIL"
    assert _count(shop, PaymentEvent) == 0


@pytest.mark.parametrize(("typed", "fragment"), [
    ("0", "¥0"), ("-5", "¥0"), ("abc", "500.50"), ("", "500.50"), ("1.234", "(fen)"),
    ("5000.01", "5,000.00"), ("1e9", "5,000.00"), ("NaN", "¥0"),
])
def test_an_own_amount_is_checked(shop: Shop, typed: str, fragment: str) -> None:
    browser, token = _verified(shop.api)
    r = browser.post(f"/p/{token}/pay?lang=en", data={**_form(browser, token), "choice": "other", "amount": typed})
    assert r.status_code == 422
    assert 'role="alert"' in r.text and fragment in r.text
    assert _count(shop, PaymentOrder) == 0


def test_a_valid_own_amount_and_no_choice(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    r = browser.post(f"/p/{token}/pay", data={**_form(browser, token), "choice": ""})
    assert r.status_code == 422 and 'role="alert"' in r.text
    _order(browser, token, choice="other", amount="¥1,000.50")
    _order(browser, token, choice="other", amount="5000")  # the whole balance
    with transaction(shop.engine) as s:
        assert sorted(s.scalars(select(PaymentOrder.amount))) == [100_050, BALANCE]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=20))
def test_any_typed_amount_is_an_order_within_the_balance_or_a_message(shop: Shop, typed: str) -> None:
    browser, token = _verified(shop.api)
    before = _count(shop, PaymentOrder)
    r = browser.post(f"/p/{token}/pay", data={**_form(browser, token), "choice": "other", "amount": typed})
    assert r.status_code in (303, 422), r.text
    if r.status_code == 422:
        assert 'role="alert"' in r.text and _count(shop, PaymentOrder) == before
    else:
        with transaction(shop.engine) as s:
            latest = s.scalars(select(PaymentOrder).order_by(PaymentOrder.id.desc())).first()
            assert latest is not None and 0 < latest.amount <= BALANCE


def test_when_payments_are_not_configured(api: Api) -> None:
    _figures(api)
    api.client.app.state.payments = Payments(None, PaymentSettings(keys_dir=None))
    browser, token = _verified(api)
    page = browser.get(f"/p/{token}/pay?lang=en")
    assert page.status_code == 200 and "Paying online is not available" in page.text
    assert 'name="amount"' not in page.text
    csrf = _CSRF.search(browser.get(f"/p/{token}/home").text)
    assert csrf is not None
    r = browser.post(f"/p/{token}/pay?lang=en", data={"csrf_token": csrf.group(1), "choice": "past_due"})
    assert r.status_code == 200 and "Paying online is not available" in r.text
    assert browser.get(f"/p/{token}/home").status_code == 200
    assert api.client.post("/payments/notify", content=b"{}").status_code == 503
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(PaymentOrder)).scalar_one() == 0


def test_a_visitor_without_a_verified_visit_gets_nothing(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    order_id = _order(browser, token, choice="past_due")
    stranger = TestClient(shop.api.client.app, follow_redirects=False, client=("203.0.113.9", 4000))
    start = stranger.get(f"/p/{token}")
    csrf = _CSRF.search(start.text)
    assert csrf is not None
    for r in (stranger.get(f"/p/{token}/pay"), stranger.get(f"/p/{token}/pay/{order_id}"),
              stranger.post(f"/p/{token}/pay", data={"csrf_token": csrf.group(1), "choice": "past_due",
                                                     "attempt": "x"}),
              stranger.post(f"/p/{token}/pay/{order_id}/check", data={"csrf_token": csrf.group(1)})):
        assert r.status_code == 303 and r.headers["location"] == f"/p/{token}", r.text
        assert "1,234.56" not in r.text and "<svg" not in r.text
    assert _count(shop, PaymentOrder) == 1
    # a forged form token is refused before anything else
    assert browser.post(f"/p/{token}/pay", data={"csrf_token": "forged", "choice": "past_due"}).status_code == 403
    assert _count(shop, PaymentOrder) == 1


def test_another_accounts_order_is_not_shown(shop: Shop) -> None:
    browser, token = _verified(shop.api)
    r = browser.get(f"/p/{token}/pay/P999xdoesnotexist")
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/pay"


def test_an_unreachable_provider_is_told_and_nothing_breaks(shop: Shop, pay_keys: Path) -> None:  # noqa: F811
    browser, token = _verified(shop.api)
    app = shop.api.client.app
    dead = f"http://127.0.0.1:{free_port()}"
    adapter = WeChatPayNative(WeChatPayConfig.from_dir(pay_keys, notify_url=shop.notify_url, base_url=dead))
    app.state.payments = Payments(adapter, PaymentSettings(keys_dir=pay_keys, base_url=dead), None)
    order_id = _order(browser, token, choice="past_due")  # stored; the provider hears of it on the status page
    page = browser.get(f"/p/{token}/pay/{order_id}?lang=en")
    assert page.status_code == 200 and 'role="alert"' in page.text and "cannot be reached" in page.text
    assert "<svg" not in page.text and "p-waiting" in page.text
    csrf = _CSRF.search(page.text)
    assert csrf is not None
    r = browser.post(f"/p/{token}/pay/{order_id}/check", data={"csrf_token": csrf.group(1)})
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/pay/{order_id}"
    assert _count(shop, PaymentEvent) == 0 and _payments_recorded(shop) == 0


def test_the_case_page_follows_the_bank_file(shop: Shop) -> None:
    from arrears.kit.clock import frozen_at
    from arrears.payments.service import reconcile

    browser, token = _verified(shop.api)
    order_id = _order(browser, token, choice="past_due")
    browser.get(f"/p/{token}/pay/{order_id}")
    assert _pay_at_sandbox(shop, browser, token, order_id) == [204]
    agent = sign_in(shop.api, "agent_east", lang="en")
    assert "payment-pending_confirmation" in agent.get(f"/case/{shop.api.east_case}").text
    with frozen_at(utc_now() + timedelta(days=4)):  # past ARREARS_PAYMENTS_CONFIRM_WITHIN_DAYS (3)
        later = sign_in(shop.api, "agent_east", lang="en")
        assert "payment-unconfirmed" in later.get(f"/case/{shop.api.east_case}").text
    with transaction(shop.engine) as s:
        txn = s.scalars(select(PaymentOrder.transaction_id)).one()
    load(shop.engine, LedgerLoad(payments=[(txn, "ACC-EAST", utc_now().date(), PAST_DUE)]))
    with transaction(shop.engine) as s:
        assert counted_fen(s, account_ref="ACC-EAST") == (PAST_DUE, 0)  # counted once, in the ledger
        assert reconcile(s, actor="test").confirmed == [(order_id, txn)]
    page = agent.get(f"/case/{shop.api.east_case}").text
    assert "payment-confirmed" in page and "Confirmed by the bank" in page
    assert "p-paid" in browser.get(f"/p/{token}/pay/{order_id}").text
