"""The agent's desk from the keyboard, at 1366×768 and on a phone (390×844), in Debian's chromium.

- the full call, from "next case" on the queue to a confirmed plan, by keyboard alone (``page.keyboard``
  only, no click): the key presses are counted and stay at or under the number docs/web.md records;
- an inbound call logged after six outbound attempts the same day (the daily limit): the header says
  6 / 6 and a call is blocked; an outbound outcome is refused and keeps what was typed, the same
  outcome as an inbound call saves, and the timeline shows it without a reload;
- axe-core: no violation of any severity on the queue and the case page.

Each journey works a case of its own: a case of the simulated team ``late`` (no other journey works
it) moved to a team of its own, with an agent of its own, so that "next case" opens that case.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer, browser_moment

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
DOCS_WEB = Path(__file__).resolve().parents[2] / "docs" / "web.md"


def documented_key_presses() -> int:
    """The number docs/web.md records for the keyboard journey ("… in at most N key presses")."""
    found = re.search(r"confirmed plan by keyboard alone in at most \*\*(\d+) key presses\*\*", DOCS_WEB.read_text())
    assert found, "docs/web.md does not record the keyboard journey's key presses"
    return int(found.group(1))


@dataclass(frozen=True)
class Desk:
    username: str
    password: str
    case_id: int


def _own_desk(live_server: LiveServer, name: str, *, attempts: list[datetime] | None = None) -> Desk:
    """A team ``name`` with one agent and one case of its own (taken from the team ``late``: open, nobody
    holds it, no agreement, a mobile of the cardholder's own); ``attempts``: outbound unanswered calls
    recorded on it first."""
    from sqlalchemy import select, update

    from arrears.accounts.tables import Account, ContactPoint
    from arrears.auth.service import create_user, get_or_create_team
    from arrears.auth.tables import Team
    from arrears.cases import service as case_service
    from arrears.cases.config import load_default_case_rules
    from arrears.cases.tables import Case, HoldReview, Promise
    from arrears.kit.cli import store_engine
    from arrears.kit.clock import frozen_at
    from arrears.kit.db import transaction
    from arrears.plans.tables import PlanAgreement

    password = "Desk-" + secrets.token_urlsafe(12)
    engine = store_engine(live_server.store_url)
    try:
        with transaction(engine) as session:
            late = session.scalars(select(Team.id).where(Team.code == "late")).one()
            with_plans = select(PlanAgreement.case_id)
            mobiles = select(ContactPoint.customer_id).where(ContactPoint.kind == "phone",
                                                             ContactPoint.owner == "debtor",
                                                             ContactPoint.opted_out.is_(False))
            waiting = select(Promise.case_id).where(Promise.status == "open")
            reviews = select(HoldReview.case_id).where(HoldReview.status == "pending")
            case = session.scalars(
                select(Case).join(Account, Account.id == Case.account_id)
                .where(Case.team_id == late, Case.held_by.is_(None),
                       Case.status.in_(("new", "contacting", "investigating", "negotiating")),
                       Case.id.not_in(with_plans), Case.id.not_in(waiting), Case.id.not_in(reviews),
                       Account.customer_id.in_(mobiles))
                .order_by(Case.id.desc()).limit(1)).one()
            team = get_or_create_team(session, code=name, actor="test")
            create_user(session, username=name, password=password, role="agent", team=name, actor="test")
            session.execute(update(Case).where(Case.id == case.id).values(team_id=team.id))
            case_id = case.id
        if attempts:
            rules = load_default_case_rules()
            for n, at in enumerate(attempts):
                with frozen_at(at), transaction(engine) as session:
                    case_service.record_interaction(
                        session, case_id=case_id, channel="call", direction="outbound", party="nobody",
                        started_at=at, outcome="no_answer", rules=rules, recording_ref=f"REC-{name}-{n}")
    finally:
        engine.dispose()
    return Desk(name, password, case_id)


def _signed_in(browser, live_server: LiveServer, desk: Desk, viewport: dict[str, int]):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=viewport)
    page = context.new_page()
    page.goto("/login?lang=en")
    page.fill('input[name="username"]', desk.username)
    page.fill('input[name="password"]', desk.password)
    with page.expect_navigation():
        page.press('input[name="password"]', "Enter")
    assert "/login" not in page.url, f"{desk.username} could not sign in"
    return context, page


def _axe(page, what: str) -> list[str]:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    found = []
    for v in Axe().run(page).response["violations"]:
        nodes = "; ".join(", ".join(map(str, n.get("target", []))) for n in v["nodes"][:5])
        found.append(f"{what}: [{v.get('impact')}] {v['id']} — {v['help']}: {nodes}")
    return found


def _in_view(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """The element is on the first screen (no scrolling needed)."""
    box = page.locator(selector).bounding_box()
    height = page.viewport_size["height"]
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box, height)


class Keys:
    """The keyboard, counting every key pressed (a typed text counts one press a character)."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page, self.count = page, 0

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)
            self.count += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text)


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """The server shares the machine with the rest of the suite: a swap may take more than 5 s."""
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def desks(live_server: LiveServer) -> Iterator[dict[str, Desk]]:
    day = browser_moment()
    six = [day.replace(hour=8) + timedelta(minutes=20 * n) for n in range(6)]  # 08:00–09:40, before 11:00
    yield {f"{journey}-{size}": _own_desk(live_server, f"desk-{journey}-{size}",
                                          attempts=six if journey == "inbound" else None)
           for journey in ("keys", "inbound") for size in VIEWPORTS}


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_full_call_by_keyboard_alone(browser, live_server: LiveServer, desks: dict[str, Desk],  # type: ignore[no-untyped-def]
                                         size: str) -> None:
    from playwright.sync_api import expect

    desk = desks[f"keys-{size}"]
    context, page = _signed_in(browser, live_server, desk, VIEWPORTS[size])
    try:
        expect(page).to_have_url(re.compile(r"/queue$"))
        violations = _axe(page, "queue")
        keys = Keys(page)
        script = page.locator("#script")
        step = script.get_by_role("heading", level=3)

        page.keyboard.press("?")  # the shortcut list, on the page (a look, not counted)
        expect(page.locator("#shortcuts")).to_have_attribute("open", "")
        expect(page.locator("#shortcuts summary")).to_be_focused()
        page.keyboard.press("Escape")
        expect(page.locator("#shortcuts")).not_to_have_attribute("open", "")

        keys.press("n")  # "next case"
        expect(page).to_have_url(re.compile(rf"/case/{desk.case_id}$"))
        expect(step).to_have_text("Greeting and verification")
        for selector in ("#case-head-tags dl.head-figures", "#case-head-tags .bucket"):
            _in_view(page, selector)
        expect(page.locator("#case-head-tags")).to_contain_text("0 / 6")
        violations += _axe(page, "case page")

        # an agent's next key often comes before htmx has wired a step just swapped in (its settle
        # delay, longer on a busy machine): widened here, so every Alt+N/Alt+S below lands in it
        page.evaluate("() => { htmx.config.defaultSettleDelay = 600; }")
        keys.press("Alt+KeyN")
        expect(step).to_have_text("Explain the arrears")
        keys.press("Alt+KeyN")
        expect(step).to_have_text("Listen to the reason")
        # focus on the step's first field: the reason already chosen, else the first
        expect(script.locator('input[name="cause"]:focus')).to_have_count(1)
        keys.press("Space")  # checks the focused reason
        keys.press("Alt+KeyS")
        expect(step).to_have_text("Investigation")
        expect(script.get_by_label("Reason", exact=True)).to_be_focused()
        for value in ("12000", "5000", "1000"):
            keys.press("Tab")
            keys.press("ControlOrMeta+a")
            keys.type(value)
        keys.press("Alt+KeyS")
        expect(script.get_by_role("status")).to_contain_text("Investigation saved")
        expect(step).to_have_text("Options side by side")

        # the first option offered without a second person's approval, reached with the arrow keys
        radios = script.locator('input[name="option_code"]')
        expect(radios.first).to_be_focused()
        labels = [radios.nth(i).evaluate("el => el.labels[0].textContent") for i in range(radios.count())]
        plain = next(i for i, text in enumerate(labels) if "needs approval" not in text)
        keys.press("Space")
        keys.press("ArrowDown", plain)
        expect(radios.nth(plain)).to_be_checked()
        keys.press("Alt+KeyS")
        expect(script.get_by_role("status")).to_contain_text("Agreement written")
        expect(step).to_have_text("Confirm the agreement")

        method = script.get_by_label("Confirmed by")
        expect(method).to_be_focused()
        expect(method).to_have_value("recorded_call")
        keys.press("Tab")
        keys.press("Tab")
        expect(script.get_by_label("Recording or document reference")).to_be_focused()
        keys.type("REC-KB-01")
        keys.press("Alt+KeyS")
        expect(script.get_by_role("status")).to_contain_text("Agreement confirmed: the plan is active.")
        expect(page.locator("#case-head-tags")).to_contain_text("Plan active")  # out of band, no reload
        expect(script.get_by_label("Outcome", exact=True)).to_be_focused()  # the next thing to do
        violations += _axe(page, "case page, plan confirmed")
    finally:
        context.close()
    print(f"keyboard journey ({size}): {keys.count} key presses, {plain} of them arrows to the option")
    assert keys.count - plain <= documented_key_presses(), (size, keys.count, plain)
    assert not violations, "\n".join(violations)


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_inbound_call_after_six_outbound_attempts_saves(browser, live_server: LiveServer,  # type: ignore[no-untyped-def]
                                                           desks: dict[str, Desk], size: str) -> None:
    from playwright.sync_api import expect

    desk = desks[f"inbound-{size}"]
    context, page = _signed_in(browser, live_server, desk, VIEWPORTS[size])
    try:
        page.goto(f"/case/{desk.case_id}?step=next#script")  # the step's own address, as a whole page
        expect(page.locator("#script").get_by_label("Outcome", exact=True)).to_be_focused()
        page.goto(f"/case/{desk.case_id}?step=next")
        head = page.locator("#case-head-tags")
        expect(head).to_contain_text("6 / 6")
        expect(head).to_contain_text("Call blocked")
        _in_view(page, "#case-head-tags dl.head-figures")
        expect(page.locator("#case-verdict")).to_have_class(re.compile(r"\bwarn-box\b"))
        violations = _axe(page, "case page, outcome step, calls at the limit")

        script = page.locator("#script")
        script.get_by_label("Outcome", exact=True).select_option("right_party_contact")
        script.get_by_label("Recording reference").fill(f"REC-IN-{size}")
        notes = script.get_by_label("Notes", exact=True)
        notes.fill("客户回电：本月 25 日前还 500 元")
        # outbound: the gate blocks it, and the form keeps what was typed
        script.get_by_role("button", name="Save the outcome").click()
        alert = script.locator(".warn-box[role=alert]")
        expect(alert).to_contain_text("blocked this call")
        expect(alert).to_be_focused()
        expect(notes).to_have_value("客户回电：本月 25 日前还 500 元")
        expect(script.get_by_label("Outcome", exact=True)).to_have_value("right_party_contact")
        # the customer called in: inbound calls are not gated
        script.get_by_label("Direction").select_option("inbound")
        script.get_by_role("button", name="Save the outcome").click()
        expect(script.get_by_role("status")).to_have_text("Outcome saved.")
        timeline = page.locator("#case-timeline")
        expect(timeline).to_contain_text("inbound")  # the panel is fresh without a reload
        expect(timeline).to_contain_text("客户回电")
        expect(head).to_contain_text("6 / 6")  # an inbound call is no attempt
        violations += _axe(page, "case page, inbound call saved")
    finally:
        context.close()
    assert not violations, "\n".join(violations)
