"""The personal link and the identity check, through the pages and the command line, on SQLite and
PostgreSQL: tampered, expired, revoked and superseded links; brute force throttled per link and per
address with one answer for every refusal; nothing about the debt before verification."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select
from typer.testing import CliRunner

from arrears.accounts.tables import Account
from arrears.auth.tables import AuditRecord
from arrears.channels.tables import OutboxMessage
from arrears.config import Settings, get_settings
from arrears.delinquency.tables import CycleRun, DelinquencySnapshot
from arrears.kit.clock import frozen_at, utc_now
from arrears.kit.db import transaction
from arrears.portal.model import MAX_FAILURES_PER_LINK, make_token, parse_token
from arrears.portal.service import issue_link, portal_key, revoke_link
from arrears.portal.tables import PortalAttempt, PortalLink
from tests.api.conftest import Api
from tests.factories import LedgerLoad, load

RIGHT = {"id_last4": "002x", "birth_date": "1949-12-31"}  # the test customer's (tests/factories.py)
WRONG = {"id_last4": "1234", "birth_date": "1950-01-01"}
NAME = "测试客户"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _settings(api: Api) -> Settings:
    return api.client.app.state.settings


def _link(api: Api, ref: str = "ACC-EAST", **kw) -> str:  # type: ignore[no-untyped-def]
    settings = _settings(api)
    with transaction(api.engine) as s:
        return issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor="agent_east",
                          **kw).token


def _visitor(api: Api, *, client: tuple[str, int] = ("198.51.100.7", 4000)) -> TestClient:
    return TestClient(api.client.app, follow_redirects=False, client=client)


def _answer(browser: TestClient, token: str, answers: dict[str, str]):  # type: ignore[no-untyped-def]
    page = browser.get(f"/p/{token}")
    assert page.status_code == 200
    found = _CSRF.search(page.text)
    assert found is not None
    return browser.post(f"/p/{token}", data={**answers, "csrf_token": found.group(1)})


@pytest.fixture
def figures(api: Api) -> Api:
    """The east account's statement and today's snapshot: ¥1,234.56 past due, 35 days."""
    load(api.engine, LedgerLoad(statements=[("ACC-EAST", date(2026, 1, 5), date(2026, 1, 25), 50_000, 0)]))
    now = utc_now()
    with api.engine.begin() as conn:
        account_id = conn.execute(select(Account.id).where(Account.account_ref == "ACC-EAST")).scalar_one()
        run = conn.execute(insert(CycleRun).values(
            business_date=now.date(), status="completed", ingest_watermark=0, accounts_assessed=1,
            delinquent_accounts=1, restated_accounts=0, snapshots_written=1, bucket_changes=0, cases_opened=0,
            cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
        conn.execute(insert(DelinquencySnapshot).values(
            account_id=account_id, business_date=now.date() - timedelta(days=1), dpd=35, delinquent=True, bucket="M2",
            cycles_delinquent=2, amount_past_due=123_456, past_due_c1=0, past_due_c2=0, past_due_c3=0, past_due_c4=0,
            past_due_c5=0, past_due_c6=0, past_due_c7p=0, charge_off=False, cycle_run_id=run))
    return api


def test_the_right_answers_open_the_account_and_nothing_shows_before(figures: Api) -> None:
    api = figures
    token = _link(api)
    browser = _visitor(api)
    first = browser.get(f"/p/{token}")
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    for secret in (NAME, "1,234.56", "1234.56", "ACC-EAST", "002X", "1949"):
        assert secret not in first.text
    assert browser.get(f"/p/{token}/home").status_code == 303  # not verified yet
    r = _answer(browser, token, RIGHT)
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/home"
    home = browser.get(f"/p/{token}/home")
    assert home.status_code == 200
    assert NAME in home.text and "1,234.56" in home.text and ">35<" in home.text
    with transaction(api.engine) as s:
        link = s.scalars(select(PortalLink)).one()
        assert link.first_opened_at is not None and link.verified_at is not None
        actions = s.scalars(select(AuditRecord.action).where(AuditRecord.action.like("portal.%"))).all()
    assert actions == ["portal.link", "portal.verified"]
    # leaving ends the visit: the cookie no longer opens the account
    csrf = _CSRF.search(home.text)
    assert csrf is not None
    assert browser.post(f"/p/{token}/leave", data={"csrf_token": csrf.group(1)}).status_code == 303
    assert browser.get(f"/p/{token}/home").status_code == 303


def test_every_refusal_reads_the_same_whatever_was_wrong(api: Api) -> None:
    token = _link(api)
    parsed = parse_token(token)
    assert parsed is not None
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_id = f"{parsed.link_id + 7:x}.{token.split('.')[1]}"
    answers = []
    for t, given_answers in [(token, WRONG), (tampered, RIGHT), (other_id, RIGHT), ("nonsense", RIGHT),
                             (token, {"id_last4": "002X", "birth_date": "1949-12-30"}),
                             (token, {"id_last4": "", "birth_date": ""})]:
        r = _answer(_visitor(api), t, given_answers)
        answers.append((r.status_code, re.sub(r'(value|action|href)="[^"]+"', "", r.text)))
    assert {status for status, _ in answers} == {401}
    assert len({body for _, body in answers}) == 1  # the same page but for the token in its links


def test_a_link_takes_five_wrong_answers_then_stops_working(api: Api) -> None:
    token = _link(api)
    browser = _visitor(api)
    for _ in range(MAX_FAILURES_PER_LINK):
        assert _answer(browser, token, WRONG).status_code == 401
    assert _answer(browser, token, RIGHT).status_code == 401  # even the right answers now
    with transaction(api.engine) as s:
        assert s.scalars(select(PortalLink.failures)).one() == MAX_FAILURES_PER_LINK


def test_one_address_is_throttled_across_links(api: Api) -> None:
    browser = _visitor(api, client=("203.0.113.50", 4000))
    for i in range(20):
        assert _answer(browser, f"{i + 100:x}.AAAAAAAAAAAAAAAAAAAA", RIGHT).status_code == 401
    token = _link(api)
    assert _answer(browser, token, RIGHT).status_code == 429
    assert _answer(_visitor(api, client=("203.0.113.51", 4000)), token, RIGHT).status_code == 303
    with transaction(api.engine) as s:
        outcomes = s.scalars(select(PortalAttempt.outcome).order_by(PortalAttempt.id)).all()
    assert outcomes == ["unknown_link"] * 20 + ["refused", "verified"]


def test_expired_revoked_and_superseded_links_do_not_work(api: Api) -> None:
    settings = _settings(api)
    with frozen_at(utc_now() - timedelta(days=15)):
        old = _link(api)
    assert _answer(_visitor(api), old, RIGHT).status_code == 401  # expired after 14 days
    first = _link(api)
    second = _link(api)  # a new link replaces the one before
    assert _answer(_visitor(api), first, RIGHT).status_code == 401
    browser = _visitor(api)
    assert _answer(browser, second, RIGHT).status_code == 303
    assert browser.get(f"/p/{second}/home").status_code == 200
    parsed = parse_token(second)
    assert parsed is not None
    with transaction(api.engine) as s:
        revoke_link(s, link_id=parsed.link_id, actor="compliance", reason="customer reported a lost phone")
    assert browser.get(f"/p/{second}/home").status_code == 303  # the open visit ends too
    assert _answer(_visitor(api), second, RIGHT).status_code == 401
    assert make_token(portal_key(settings), parsed.link_id, "another nonce") != second


@given(token=st.text(max_size=60))
def test_no_token_crashes_the_parser(token: str) -> None:
    parsed = parse_token(token)
    assert parsed is None or 1 <= parsed.link_id < 2**63


def test_the_command_line_prints_or_sends_the_link(api: Api, monkeypatch, tmp_path) -> None:
    from arrears.cli import app

    monkeypatch.setenv("ARREARS_DATABASE_URL", api.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ARREARS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ARREARS_PORTAL_BASE_URL", "https://pay.bank.example")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        printed = runner.invoke(app, ["portal", "link", "--account", "ACC-EAST"])
        assert printed.exit_code == 0, printed.output
        url = printed.output.split()[0]
        assert re.fullmatch(r"https://pay\.bank\.example/p/[0-9a-z]+\.[A-Z2-7]{20}", url) and len(url) <= 60
        sent = runner.invoke(app, ["portal", "link", "--account", "ACC-EAST", "--send", "sms"])
        assert sent.exit_code == 0 and "queued as sms" in sent.output, sent.output
        with transaction(api.engine) as s:
            message = s.scalars(select(OutboxMessage).where(OutboxMessage.template == "portal.link")).one()
            links = s.scalars(select(PortalLink).order_by(PortalLink.id)).all()
        assert message.channel == "sms" and message.status == "pending"  # the worker will put it to the gate
        assert message.payload["url"].startswith("https://pay.bank.example/p/")
        assert [link.revoked_at is not None for link in links] == [True, False]
        missing = runner.invoke(app, ["portal", "link", "--account", "NO-SUCH"])
        assert missing.exit_code == 1 and "no account 'NO-SUCH'" in missing.output
        revoked = runner.invoke(app, ["portal", "revoke", "--link", str(links[1].id), "--reason", "\u200b"])
        assert revoked.exit_code == 1
        revoked = runner.invoke(app, ["portal", "revoke", "--link", str(links[1].id), "--reason", "wrong number"])
        assert revoked.exit_code == 0, revoked.output
    finally:
        get_settings.cache_clear()


def test_the_account_page_shows_the_promise_and_every_contact(figures: Api) -> None:
    api = figures
    promised = (utc_now() + timedelta(days=10)).date()
    r = api.post("agent_east", f"/cases/{api.east_case}/promises",
                 json={"amount": 150_000, "promised_date": promised.isoformat()})
    assert r.status_code == 201, r.text
    sent_at = utc_now() - timedelta(days=2)
    with transaction(api.engine) as s:
        s.add(OutboxMessage(idempotency_key="t-sms-1", channel="sms", case_id=api.east_case,
                            contact_point_id=api.contact_points["phone"], template="early.reminder", locale="zh_CN",
                            payload={}, status="sent", attempts=1, next_attempt_at=sent_at, created_at=sent_at,
                            sent_at=sent_at))
        s.add(OutboxMessage(idempotency_key="t-sms-2", channel="email", case_id=api.east_case,
                            contact_point_id=api.contact_points["email"], template="early.reminder", locale="zh_CN",
                            payload={}, status="pending", attempts=0, next_attempt_at=sent_at, created_at=sent_at))
    token = _link(api)
    browser = _visitor(api)
    assert _answer(browser, token, RIGHT).status_code == 303
    home = browser.get(f"/p/{token}/home", params={"lang": "en"}).text
    assert "You promised to pay" in home and "1,500.00" in home
    contacts = re.findall(r"<li><span>([^<]+)</span> <span>([^<]+)</span></li>", home)
    assert [what for _, what in contacts] == ["SMS · outbound"]  # the e-mail was never sent: not a contact


def test_many_pages_at_once_never_fail(figures: Api) -> None:
    """A customer reloading in several tabs while the link is opened elsewhere: no 5xx on either store."""
    from concurrent.futures import ThreadPoolExecutor

    api = figures
    token = _link(api)
    browser = _visitor(api)
    assert _answer(browser, token, RIGHT).status_code == 303
    cookies = dict(browser.cookies.items())

    def hit(i: int) -> int:
        with TestClient(api.client.app, follow_redirects=False, client=(f"198.51.100.{i % 200}", 4000)) as c:
            if i % 2:
                return c.get(f"/p/{token}").status_code
            for name, value in cookies.items():
                c.cookies.set(name, value)
            return c.get(f"/p/{token}/home").status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(hit, range(48)))
    assert sorted(set(statuses)) == [200], statuses
