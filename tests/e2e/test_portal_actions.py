"""The cardholder books a call-back and raises a dispute in a real browser at 390×844 (issue 16's
acceptance): the call-back is the owner's next case at its time (the owner signs in and takes it from
their queue), and the dispute's hold is on the agent's case page. Screenshots
docs/screenshots/portal-callback.png and portal-dispute.png (retaken only with
ARREARS_RETAKE_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exists, select, update

from tests.e2e.conftest import SCREENSHOTS, LiveServer, browser_moment

VIEWPORT = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Visit:
    token: str
    case_id: int
    last4: str
    born: str


@dataclass(frozen=True)
class Accounts:
    callback: Visit
    dispute: Visit
    #: the username of the agent who calls back (they hold the callback case's expired lease)
    owner: str


@pytest.fixture(scope="module")
def accounts(live_server: LiveServer) -> Iterator[Accounts]:
    """Two accounts of the demo agent's team with an open case, a phone of the customer's own and
    nothing stopping contact; the first was last held by the demo agent (its lease long expired), so
    its call-back is theirs."""
    from arrears.accounts.tables import Account, ContactPoint, Customer, Hold
    from arrears.auth.tables import User
    from arrears.cases.tables import Case, HoldReview, Promise
    from arrears.config import Settings
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from arrears.portal.service import issue_link, portal_key

    settings = Settings(database_url=live_server.store_url)
    engine = store_engine(live_server.store_url)
    agent = next(name for name, (role, team, _) in live_server.users.items() if role == "agent" and team)
    try:
        with frozen_at(browser_moment()), transaction(engine) as s:
            user = s.scalars(select(User).where(User.username == agent)).one()
            phone = exists().where(ContactPoint.customer_id == Customer.id, ContactPoint.kind == "phone",
                                   ContactPoint.owner == "debtor", ContactPoint.opted_out.is_(False))
            rows = s.execute(
                select(Case.id, Account.account_ref, Customer.national_id, Customer.birth_date)
                .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
                .where(Case.closed_on.is_(None), Case.team_id == user.team_id, phone,
                       Customer.time_zone.is_(None) | (Customer.time_zone == "Asia/Shanghai"),
                       ~exists().where(Hold.account_id == Account.id),
                       ~exists().where(Promise.case_id == Case.id, Promise.status == "open"),
                       ~exists().where(HoldReview.case_id == Case.id, HoldReview.status == "pending"))
                .order_by(Case.id).limit(2)).all()
            assert len(rows) == 2, "the simulated store has no two suitable accounts"
            visits = []
            for case_id, ref, national_id, born in rows:
                issued = issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings,
                                    actor="e2e-test", ttl=timedelta(days=2))
                visits.append(Visit(issued.token, case_id, national_id[-4:], born.isoformat()))
            s.execute(update(Case).where(Case.id == rows[0][0]).values(
                held_by=user.id, lease_expires_at=browser_moment() - timedelta(hours=1)))
        yield Accounts(visits[0], visits[1], agent)
    finally:
        engine.dispose()


def _verify(context, visit: Visit):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.goto(f"/p/{visit.token}")
    page.fill("#id_last4", visit.last4)
    page.fill("#birth_date", visit.born)
    with page.expect_navigation():
        page.click("form.p-form button[type=submit]")
    assert page.url.endswith("/home"), page.url
    return page


def _sign_in(browser, live_server: LiveServer, username: str):  # type: ignore[no-untyped-def]
    _role, _team, password = live_server.users[username]
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    page = context.new_page()
    page.goto("/login")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form[action="/login"] button[type="submit"]')
    assert not page.url.split("?")[0].endswith("/login"), page.url
    return context, page


def test_a_booked_call_back_is_the_owners_next_case_at_its_time(browser, live_server: LiveServer,  # type: ignore[no-untyped-def]
                                                                 accounts: Accounts) -> None:
    from arrears.kit.clock import frozen_at

    visit = accounts.callback
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="zh-CN")
    try:
        page = _verify(context, visit)
        with page.expect_navigation():
            page.click(f"a[href='/p/{visit.token}/callback']")
        slots = page.locator("input[name=slot]")
        assert slots.count() > 0
        keys = [slots.nth(i).get_attribute("value") or "" for i in range(slots.count())]
        starts = [datetime.strptime(k, "%Y%m%dT%H%MZ").replace(tzinfo=UTC) for k in keys]
        assert all(s > browser_moment() for s in starts)
        # the first window from three hours on
        chosen = next(k for k, s in zip(keys, starts, strict=True) if s >= browser_moment() + timedelta(hours=3))
        start = datetime.strptime(chosen, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
        page.check(f"input[name=slot][value='{chosen}']")
        page.screenshot(path=str(SCREENSHOTS / "portal-callback.png"), full_page=True)
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.url.endswith("/callback?saved=1"), page.url
        assert page.get_by_role("status").count() == 1
    finally:
        context.close()

    staff, agent = _sign_in(browser, live_server, accounts.owner)
    try:
        with frozen_at(start + timedelta(minutes=5)):
            agent.goto("/queue")
            with agent.expect_navigation():
                agent.click("form[action='/queue/take'] button[type=submit]")
            assert re.search(rf"/case/{visit.case_id}$", agent.url), agent.url
    finally:
        staff.close()


def test_a_dispute_places_a_hold_the_agent_sees(browser, live_server: LiveServer,  # type: ignore[no-untyped-def]
                                                accounts: Accounts) -> None:
    visit = accounts.dispute
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="zh-CN")
    try:
        page = _verify(context, visit)
        with page.expect_navigation():
            page.click(f"a[href='/p/{visit.token}/tell']")
        page.check("input[name=kind][value=dispute]")
        page.fill("#text", "账单里 11 月 3 日的一笔消费不是我本人刷的，请核实。")
        with page.expect_navigation():
            page.click("form.p-form button[type=submit]")
        assert page.url.endswith("/tell?sent=dispute"), page.url
        assert page.get_by_role("status").count() == 1
        page.screenshot(path=str(SCREENSHOTS / "portal-dispute.png"), full_page=True)
    finally:
        context.close()

    staff, agent = _sign_in(browser, live_server, accounts.owner)
    try:
        agent.goto(f"/case/{visit.case_id}")
        holds = agent.locator("section[aria-labelledby='h-holds']")
        assert holds.get_by_text("dispute", exact=False).count() >= 1, holds.inner_text()
        timeline = agent.locator("section[aria-labelledby='h-timeline']")
        text = timeline.inner_text()
        assert "11 月 3 日的一笔消费不是我本人刷的" in text and ("自助服务" in text or "Self-service" in text), text[:600]
    finally:
        staff.close()
