"""Each role's main journey in a real browser (Debian's chromium through Playwright), with screenshots
saved to docs/screenshots/<role>-<step>.png.

- agent: signs in from the keyboard, takes the next case, walks the call script (greeting → arrears →
  reason → investigation typed from the keyboard → options side by side → agreement → confirmation by
  recorded call → outcome and a call-back), and the agreement and investigation are in the store;
- team lead: the team dashboard draws its charts and counts the agent's agreement on that day;
- compliance: verifies the audit chain;
- languages: the same page in English and in Chinese through the header's switch.

The agent's journey runs with the clock (``arrears.kit.clock``, shared with the server thread) frozen
at 11:00 bank time on the store's business date, so the compliance gate's quiet hours (22:00–08:00)
never block the call whenever the tests run. Inputs are found by their labels (``get_by_label``), so the
labelling is exercised too. HTMX swaps are awaited with ``expect`` (auto-waiting), never with sleeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

BANK_TZ = "Asia/Shanghai"
VIEWPORT = {"width": 1280, "height": 900}


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in_by_keyboard(browser, live_server, role: str, *, lang: str = "en"):  # type: ignore[no-untyped-def]
    """A fresh context signed in as ``role``'s demo user, typing into the login form and pressing Enter."""
    from playwright.sync_api import expect

    username, password = live_server.login_of(role)
    context = browser.new_context(base_url=live_server.url, locale="en-US", viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"/login?lang={lang}")
    user_field = page.get_by_label("Username" if lang == "en" else "用户名", exact=True)
    expect(user_field).to_be_focused()  # autofocus: the form starts where the keyboard is
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password" if lang == "en" else "密码", exact=True)).to_be_focused()
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, f"{role} could not sign in: {page.url}"
    return context, page


@dataclass(frozen=True)
class AgentJourney:
    username: str
    case_id: int
    agreement_id: int
    business_date: date


def _bank_daytime() -> tuple[date, datetime]:
    from arrears.cases.service import business_date_of
    from arrears.kit.clock import utc_now

    today = business_date_of(utc_now(), BANK_TZ)
    return today, datetime.combine(today, time(11, 0), tzinfo=ZoneInfo(BANK_TZ))


@pytest.fixture(scope="module")
def agent_journey(browser, live_server) -> Iterator[AgentJourney]:  # type: ignore[no-untyped-def]
    """The agent's whole journey, once for the module (the team lead's test reads what it wrote)."""
    from playwright.sync_api import expect

    from arrears.kit.clock import frozen_at

    today, daytime = _bank_daytime()
    with frozen_at(daytime):
        context, page = sign_in_by_keyboard(browser, live_server, "agent")
        try:
            journey = _agent_journey(page, live_server, today, expect)
        finally:
            context.close()
    yield journey


def _agent_journey(page, live_server, today: date, expect) -> AgentJourney:  # type: ignore[no-untyped-def]
    username, _ = live_server.login_of("agent")
    # -- the queue, then "next case"
    expect(page).to_have_url(re.compile(r"/queue$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("My queue")
    shot(page, "agent-queue")
    page.get_by_role("button", name="Next case").first.click()
    expect(page).to_have_url(re.compile(r"/case/\d+"))
    case_id = int(re.search(r"/case/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    script = page.locator("#script")
    expect(page.get_by_role("heading", name="Call script")).to_be_visible()
    expect(script.get_by_role("heading", level=3)).to_have_text("Greeting and verification")
    expect(page.locator("#h-gate + p")).to_have_class(re.compile(r"\bok-box\b"))  # the gate allows the call
    shot(page, "agent-case")

    def next_step(title: str) -> None:
        script.get_by_role("link", name=re.compile(r"^Next step")).click()
        expect(script.get_by_role("heading", level=3)).to_have_text(title)

    # -- greeting → explaining the arrears → the reason
    next_step("Explain the arrears")
    expect(script.locator("dl.facts")).to_contain_text("Days past due")
    next_step("Listen to the reason")
    script.get_by_label("Lost their job").check()
    script.get_by_role("button", name="Continue to the investigation").click()
    expect(script.get_by_role("heading", level=3)).to_have_text("Investigation")
    expect(script.get_by_label("Reason", exact=True)).to_have_value("job_loss")

    # -- the investigation form, from the keyboard only
    income = script.get_by_label("Monthly income (yuan)")
    income.focus()  # the form starts from the latest investigation, if any (e.g. the cardholder's own)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("12000")
    page.keyboard.press("Tab")
    expect(script.get_by_label("Essential spending a month (yuan)")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("5000")
    page.keyboard.press("Tab")
    other = script.get_by_label("Other debt payments a month (yuan)")
    expect(other).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("1000")
    page.keyboard.press("Tab")
    expect(script.get_by_label("Dependants")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("1")
    page.keyboard.press("Enter")  # implicit submission, posted by HTMX
    expect(script.get_by_role("status")).to_contain_text("Investigation saved")
    expect(script.get_by_role("heading", level=3)).to_have_text("Options side by side")
    # 12,000 − 5,000 − 1,000 − the household's allowance: a figure in yuan
    expect(script.locator("p strong").first).to_contain_text("¥")
    shot(page, "agent-options")

    # -- the options side by side: the customer picks one that needs no second person's approval
    radios = script.locator('input[name="option_code"]')
    assert radios.count() >= 1, "no option is offered on the case"
    labels = [radios.nth(i).evaluate("el => el.labels[0].textContent.trim()") for i in range(radios.count())]
    plain = [i for i, text in enumerate(labels) if "needs approval" not in text]
    # an instalment plan when one is offered without approval, else any such option
    chosen = next((i for i in plain if "monthly instalments" in labels[i]), plain[0] if plain else None)
    assert chosen is not None, f"every offered option needs approval: {labels}"
    code = radios.nth(chosen).get_attribute("value")
    page.locator(f'label[for="opt-{code}"]').click()  # clicking the label checks its radio
    expect(radios.nth(chosen)).to_be_checked()
    script.get_by_label("Reason (required for a personalised plan)").fill("Lost the job in October; new job found.")
    script.get_by_role("button", name="Write the agreement").click()
    expect(script.get_by_role("status")).to_contain_text("Agreement written")
    expect(script.get_by_role("heading", level=3)).to_have_text("Confirm the agreement")
    article = script.locator("article.agreement")
    expect(article.get_by_role("heading", level=4)).to_contain_text("Waiting for the customer's confirmation")

    # -- confirmation by recorded call (the reference of the recording); first without the reference:
    # the field is named, marked and focused, the message next to it, the choice typed kept
    script.get_by_label("Confirmed by").select_option(label="Recorded call")
    reference = script.get_by_label("Recording or document reference")
    script.get_by_role("button", name="Record the confirmation").click()
    expect(page.locator("#flash [role=alert]")).to_contain_text("reference")
    expect(reference).to_have_attribute("aria-invalid", "true")
    expect(reference).to_be_focused()
    described = reference.get_attribute("aria-describedby") or ""
    expect(page.locator(f"#{described.split()[-1]}")).to_contain_text("reference")
    expect(script.get_by_label("Confirmed by")).to_have_value("recorded_call")
    # the agreement's card only: in a full-page shot the sticky #flash lies over the form
    article.screenshot(path=str(SCREENSHOTS / "agent-field-error.png"))
    reference.fill("REC-E2E-0001")
    script.get_by_role("button", name="Record the confirmation").click()
    expect(script.get_by_role("status")).to_contain_text("Agreement confirmed: the plan is active.")
    expect(page.locator("#case-head-tags")).to_contain_text("Plan active")  # out of band, no reload
    expect(script.get_by_role("heading", level=3)).to_have_text("Outcome and next step")
    # back to the agreement step: it is active
    script.get_by_role("link", name=re.compile(r"^6\. Agreement")).click()
    expect(script.get_by_role("heading", level=3)).to_have_text("Confirm the agreement")
    expect(article.get_by_role("heading", level=4)).to_contain_text("Active")
    shot(page, "agent-agreement-confirmed")

    # -- the outcome and the next step: a call-back tomorrow
    script.get_by_role("link", name=re.compile(r"^7\. Outcome")).click()
    expect(script.get_by_role("heading", level=3)).to_have_text("Outcome and next step")
    script.get_by_label("Outcome", exact=True).select_option("right_party_contact")
    script.get_by_label("Who answered").select_option("debtor")
    number = script.get_by_label("Number called")
    cardholder = number.locator("option").filter(has_text="(cardholder)").first
    number.select_option(cardholder.get_attribute("value"))
    script.get_by_label("Recording reference").fill("REC-E2E-0001")
    script.get_by_label("Call-back appointment").check()
    tomorrow = today + timedelta(days=1)
    script.get_by_label("Call-back date").fill(tomorrow.isoformat())
    script.get_by_label("From", exact=True).fill("10:00")
    script.get_by_label("Until", exact=True).fill("11:00")
    expect(script.get_by_label("Promised amount (yuan)")).to_be_hidden()  # only the chosen step's fields
    script.get_by_role("button", name="Save the outcome").click()
    expect(script.get_by_role("status")).to_have_text("Outcome saved.")
    page.reload()
    expect(page.locator("ol.timeline")).to_contain_text("Right party contact")
    expect(page.get_by_role("heading", name="Promises and appointments").locator("..")).to_contain_text("scheduled")
    expect(page.locator(".head-tags")).to_contain_text("Plan active")
    shot(page, "agent-outcome")

    # -- what the store holds
    agreement_id = _check_store(live_server.store_url, case_id)
    return AgentJourney(username, case_id, agreement_id, today)


def _check_store(store_url: str, case_id: int) -> int:
    from sqlalchemy import select

    from arrears.cases.tables import Appointment, Case, Interaction, Investigation
    from arrears.kit.cli import store_engine
    from arrears.kit.db import transaction
    from arrears.plans.tables import PlanAgreement

    engine = store_engine(store_url)
    try:
        with transaction(engine) as session:
            agreements = session.scalars(select(PlanAgreement).where(PlanAgreement.case_id == case_id)).all()
            active = [a for a in agreements if a.status == "active"]
            assert len(active) == 1, [(a.id, a.status) for a in agreements]
            assert active[0].confirmation_method == "recorded_call"
            assert active[0].confirmation_ref == "REC-E2E-0001"
            investigations = session.scalars(select(Investigation).where(Investigation.case_id == case_id)).all()
            assert investigations, "no investigation was recorded"
            latest = max(investigations, key=lambda i: i.version)
            assert (latest.cause, latest.monthly_income, latest.essential_spending, latest.other_debt_payments,
                    latest.dependants) == ("job_loss", 1_200_000, 500_000, 100_000, 1)
            assert active[0].investigation_id == latest.id
            calls = session.scalars(select(Interaction).where(Interaction.case_id == case_id,
                                                              Interaction.recording_ref == "REC-E2E-0001")).all()
            assert [c.outcome for c in calls] == ["right_party_contact"]
            appointments = session.scalars(select(Appointment).where(Appointment.case_id == case_id,
                                                                     Appointment.status == "scheduled")).all()
            assert appointments, "no call-back was scheduled"
            assert session.get(Case, case_id).status == "plan_active"  # type: ignore[union-attr]
            return int(active[0].id)
    finally:
        engine.dispose()


def test_agent_takes_a_case_and_confirms_an_agreement(agent_journey: AgentJourney) -> None:
    assert agent_journey.case_id > 0 and agent_journey.agreement_id > 0


def test_team_lead_sees_the_agreement_in_the_dashboards(browser, live_server, agent_journey) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context, page = sign_in_by_keyboard(browser, live_server, "team_lead")
    try:
        expect(page).to_have_url(re.compile(r"/team$"))
        # the business date the journey ran on, through the labelled filter form
        page.get_by_label("Business date").fill(agent_journey.business_date.isoformat())
        page.get_by_role("button", name="Show", exact=True).click()
        expect(page).to_have_url(re.compile(rf"date={agent_journey.business_date.isoformat()}"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Team")
        for chart in ("bucket", "roll", "cure", "promise", "rpc"):
            # ECharts draws into a canvas (or svg) inside each [data-chart] element
            expect(page.locator(f'[data-chart="{chart}"]').locator("canvas, svg").first).to_be_attached()
        for table in ("queue_health", "agent_activity", "by_bucket", "roll_rates", "cure_trend", "promise_kept",
                      "experiments"):
            expect(page.locator(f"#t-{table}")).to_be_attached()
        row = page.locator("#t-agent_activity tbody tr").filter(
            has=page.get_by_role("cell", name=agent_journey.username, exact=True))
        expect(row).to_have_count(1)
        agreements = int(row.locator("td").nth(5).inner_text())
        calls = int(row.locator("td").nth(1).inner_text())
        assert agreements >= 1 and calls >= 1, (agreements, calls)
        expect(page.locator("#t-by_bucket tbody tr").first).not_to_contain_text("No account")
        shot(page, "team_lead-dashboard")
    finally:
        context.close()


def test_compliance_verifies_the_audit_chain(browser, live_server) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context, page = sign_in_by_keyboard(browser, live_server, "compliance")
    try:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
        expect(page).to_have_url(re.compile(r"/audit"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
        expect(page.locator("#t-audit tbody tr").first).to_be_visible()
        page.get_by_role("button", name="Verify the chain").click()
        result = page.locator("#verify-result")
        expect(result).to_have_text("OK: every record is intact and the chain is unbroken.")
        expect(result).to_have_class(re.compile(r"\bok-box\b"))
        shot(page, "compliance-audit-verified")
        # the verification is itself in the log
        page.get_by_label("Action", exact=True).fill("audit.verify")
        page.get_by_label("Action", exact=True).press("Enter")
        expect(page.locator("#t-audit tbody")).to_contain_text("audit.verify")
    finally:
        context.close()


@pytest.mark.parametrize(("role", "path", "heading"), [
    ("agent", "/queue", "My queue"),
    ("team_lead", "/team", "Team"),
    ("compliance", "/compliance", "Compliance"),
    ("admin", "/admin", "Administration"),
])
def test_the_language_switch_translates_the_page(browser, live_server, role: str, path: str,
                                                  heading: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from arrears.web.i18n import translations

    chinese = translations("zh_CN").gettext(heading)
    assert chinese and chinese != heading, heading
    context, page = sign_in_by_keyboard(browser, live_server, role, lang="en")
    try:
        page.goto(path)
        h1 = page.get_by_role("heading", level=1)
        expect(h1).to_contain_text(heading)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        if role == "agent":
            shot(page, "agent-queue-en")
        page.locator(".langs").get_by_role("link", name="中文").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        expect(h1).to_contain_text(chinese)
        if role == "agent":
            shot(page, "agent-queue-zh_CN")
        page.goto(path)  # remembered in the cookie
        expect(page.get_by_role("heading", level=1)).to_contain_text(chinese)
        page.locator(".langs").get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    finally:
        context.close()
