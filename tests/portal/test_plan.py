"""Choosing a plan on the cardholder's page, through HTTP, on SQLite and PostgreSQL: the figures go into
an investigation version, the engine's options come back side by side, an option within self-service
authority is confirmed with a one-time code and becomes an active agreement whose PDF the cardholder
downloads; anything beyond waits for a team lead's approval."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import select

from arrears.accounts.tables import Account
from arrears.auth.tables import AuditRecord, User
from arrears.cases.config import load_default_case_rules
from arrears.cases.model import affordable_monthly
from arrears.cases.tables import Interaction, Investigation
from arrears.channels.tables import OutboxMessage
from arrears.kit.db import transaction
from arrears.kit.money import format_yuan
from arrears.plans import service as plans
from arrears.plans.tables import PlanAgreement
from arrears.portal.plan import SELF_SERVICE_ROLE, SELF_SERVICE_USERNAME, cardholder_choices
from arrears.portal.service import issue_link, portal_key
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import sign_in

REF = "ACC-PLAN-0001"
RIGHT = {"id_last4": "002X", "birth_date": "1949-12-31"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FIGURES = {"monthly_income": "8000", "essential_spending": "3000", "other_debt_payments": "500.50",
           "dependants": "1", "cause": "job_loss"}


def _csrf(text: str) -> str:
    found = _CSRF.search(text)
    assert found is not None
    return found.group(1)


def _verified(api: Api) -> tuple[TestClient, str]:
    worked_case(api.engine, REF, team="east", investigation=False)
    settings_ = api.client.app.state.settings
    with transaction(api.engine) as s:
        token = issue_link(s, account_ref=REF, key=portal_key(settings_), settings=settings_,
                           actor="agent_east").token
    browser = TestClient(api.client.app, follow_redirects=False, client=("198.51.100.20", 4000))
    page = browser.get(f"/p/{token}")
    r = browser.post(f"/p/{token}", data={**RIGHT, "csrf_token": _csrf(page.text)})
    assert r.status_code == 303, r.text
    return browser, token


def _post(browser: TestClient, token: str, path: str, data: dict[str, str], page: str | None = None):  # type: ignore[no-untyped-def]
    form = browser.get(f"/p/{token}{page or path}")
    return browser.post(f"/p/{token}{path}", data={**data, "csrf_token": _csrf(form.text)})


def _offered_codes(html: str) -> list[str]:
    return re.findall(r'name="option_code" value="([^"]+)"', html)


def _codes(api: Api) -> list[OutboxMessage]:
    with transaction(api.engine) as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == "portal.code")
                              .order_by(OutboxMessage.id)))


def test_a_plan_chosen_and_confirmed_with_a_code_becomes_an_active_agreement_with_its_pdf(api: Api) -> None:
    browser, token = _verified(api)
    home = browser.get(f"/p/{token}/home")
    assert f'href="/p/{token}/plan"' in home.text
    # bad figures: a clear message naming the field, nothing written
    bad = _post(browser, token, "/plan", {**FIGURES, "monthly_income": "lots", "cause": "nope"})
    assert bad.status_code == 422 and 'id="monthly_income-error"' in bad.text and 'id="cause-error"' in bad.text
    r = _post(browser, token, "/plan", FIGURES)
    assert r.status_code == 303 and r.headers["location"] == f"/p/{token}/plan/options"
    with transaction(api.engine) as s:
        investigation = s.scalars(select(Investigation)).one()
        assert investigation.recorded_by == "cardholder" and investigation.cause == "job_loss"
        assert investigation.other_debt_payments == 50_050
    expected = affordable_monthly(income=800_000, essential=300_000, other_debts=50_050, dependants=1,
                                  reserve=load_default_case_rules().reserve)
    assert investigation.affordable_monthly == expected
    options = browser.get(f"/p/{token}/plan/options")
    assert options.status_code == 200
    assert format_yuan(expected) in options.text
    # the same options the engine offers for the same inputs
    with transaction(api.engine) as s:
        account = s.scalars(select(Account).where(Account.account_ref == REF)).one()
        engine_offers = [o.code for o in plans.options_for_account(s, account=account, role=SELF_SERVICE_ROLE).options
                         if o.offered]
    assert _offered_codes(options.text) == engine_offers and "inst_12" in engine_offers
    # choose 12 instalments: within self-service authority → a code to the mobile on file
    chosen = _post(browser, token, "/plan/choose", {"option_code": "inst_12"}, page="/plan/options")
    assert chosen.status_code == 303 and chosen.headers["location"] == f"/p/{token}/plan/confirm"
    (message,) = _codes(api)
    assert message.payload["purpose"] == "plan"
    confirm = browser.get(f"/p/{token}/plan/confirm")
    assert confirm.status_code == 200
    wrong = "000000" if message.payload["code"] != "000000" else "111111"
    refused = browser.post(f"/p/{token}/plan/confirm", data={"code": wrong, "csrf_token": _csrf(confirm.text)})
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    done = browser.post(f"/p/{token}/plan/confirm", data={"code": message.payload["code"],
                                                          "csrf_token": _csrf(confirm.text)})
    assert done.status_code == 303
    with transaction(api.engine) as s:
        agreement = s.scalars(select(PlanAgreement)).one()
        assert agreement.status == "active" and agreement.product_code == "inst_12"
        assert agreement.confirmation_method == "sms_code"
        assert agreement.confirmation_ref == f"sms:{message.contact_point_id}"
        assert agreement.approved_by is None and agreement.investigation_id == investigation.id
        interactions = s.scalars(select(Interaction).where(Interaction.channel == "self_service")).all()
        assert [(i.outcome, i.direction) for i in interactions] == [("plan_chosen", "inbound")]
    page = browser.get(done.headers["location"])
    assert page.status_code == 200 and f"/agreements/{agreement.id}.pdf" in page.text
    # the PDF: from the page, only in a verified visit, audited as the cardholder's unmasked read
    home = browser.get(f"/p/{token}/home")
    assert f'href="/p/{token}/agreements/{agreement.id}.pdf"' in home.text
    pdf = browser.get(f"/p/{token}/agreements/{agreement.id}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert format_yuan(int(agreement.total)) in text and format_yuan(int(agreement.largest_instalment)) in text
    stranger = TestClient(api.client.app, follow_redirects=False)
    assert stranger.get(f"/p/{token}/agreements/{agreement.id}.pdf").status_code == 303
    with transaction(api.engine) as s:
        reads = s.scalars(select(AuditRecord).where(AuditRecord.action == "plan.pdf_read")).all()
        assert [(r.actor, r.detail["personal_data"]) for r in reads] == [("cardholder", "unmasked")]
        assert s.scalars(select(AuditRecord.action).where(AuditRecord.action == "portal.plan")).all() == ["portal.plan"]


def test_only_this_accounts_agreements_are_handed_out(api: Api) -> None:
    browser, token = _verified(api)
    with transaction(api.engine) as s:
        lead = s.scalars(select(PlanAgreement)).first()
    assert lead is None
    # an agreement of another account (made by an agent on the east case)
    other = worked_case(api.engine, "ACC-PLAN-0002", team="east")
    with transaction(api.engine) as s:
        agent = s.get(User, api.user_ids["agent_east"])
        made = plans.create_agreement(s, case_id=other, user=agent, option_code="inst_12")
        other_id = made.id
    r = browser.get(f"/p/{token}/agreements/{other_id}.pdf")
    assert r.status_code == 404 and b"%PDF" not in r.content
    for nonsense in ("abc", "99999999", "1e3"):
        assert browser.get(f"/p/{token}/agreements/{nonsense}.pdf").status_code == 404


def test_an_option_beyond_self_service_authority_goes_to_a_team_lead_and_is_then_confirmed(api: Api) -> None:
    browser, token = _verified(api)
    _post(browser, token, "/plan", FIGURES)
    options = browser.get(f"/p/{token}/plan/options")
    assert "settle_10" in _offered_codes(options.text)  # an agent could agree it alone, the cardholder not
    asked = _post(browser, token, "/plan/choose", {"option_code": "settle_10"}, page="/plan/options")
    assert asked.status_code == 303
    assert _codes(api) == []  # nothing to confirm yet
    state = browser.get(f"/p/{token}/plan")
    assert state.status_code == 200 and 'role="status"' in state.text
    with transaction(api.engine) as s:
        agreement = s.scalars(select(PlanAgreement)).one()
        maker = s.scalars(select(AuditRecord.actor).where(AuditRecord.action == "plan.agreement_create")).one()
    assert agreement.status == "pending_approval" and agreement.approval_role == "team_lead"
    assert maker == SELF_SERVICE_USERNAME
    # it is on the team lead's approval list, and a team lead approves it (four-eyes)
    lead = sign_in(api, "lead_east")
    assert f"/case/{agreement.case_id}?step=agreement" in lead.get("/approvals").text
    r = api.post("lead_east", f"/agreements/{agreement.id}/approve", json={})
    assert r.status_code == 200, r.text
    # the cardholder comes back and confirms it with a code
    back = browser.get(f"/p/{token}/plan")
    assert back.status_code == 303 and back.headers["location"] == f"/p/{token}/plan/confirm"
    confirm = browser.get(f"/p/{token}/plan/confirm")
    assert browser.post(f"/p/{token}/plan/code", data={"csrf_token": _csrf(confirm.text)}).status_code == 303
    (message,) = _codes(api)
    done = browser.post(f"/p/{token}/plan/confirm", data={"code": message.payload["code"],
                                                          "csrf_token": _csrf(confirm.text)})
    assert done.status_code == 303
    with transaction(api.engine) as s:
        agreement = s.get(PlanAgreement, agreement.id)
        assert agreement is not None and agreement.status == "active"
        assert agreement.approved_by == api.user_ids["lead_east"]
        assert s.scalars(select(AuditRecord.action).where(AuditRecord.action == "portal.plan")).all() == ["portal.plan"]


def test_a_forged_choice_is_refused(api: Api) -> None:
    browser, token = _verified(api)
    _post(browser, token, "/plan", FIGURES)
    for code in ("personalised_x", "", "settle_99"):
        r = _post(browser, token, "/plan/choose", {"option_code": code}, page="/plan/options")
        assert r.status_code == 422 and 'role="alert"' in r.text
    with transaction(api.engine) as s:
        assert s.scalars(select(PlanAgreement)).all() == []


@settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(income=st.integers(0, 5_000_000), essential=st.integers(0, 3_000_000), other=st.integers(0, 1_000_000),
       dependants=st.integers(0, 6), pick=st.integers(0, 50))
def _property(api: Api, browser: TestClient, token: str, income: int, essential: int, other: int, dependants: int,
              pick: int) -> None:
    with transaction(api.engine) as s:  # a fresh start: earlier drafts of this run are cancelled
        for a in s.scalars(select(PlanAgreement).where(PlanAgreement.status.in_(("pending_approval",
                                                                                   "awaiting_confirmation")))):
            a.status = "cancelled"
    figures = {"monthly_income": f"{income / 100:.2f}", "essential_spending": f"{essential / 100:.2f}",
               "other_debt_payments": f"{other / 100:.2f}", "dependants": str(dependants), "cause": "illness"}
    assert _post(browser, token, "/plan", figures).status_code == 303
    page = browser.get(f"/p/{token}/plan/options")
    shown = _offered_codes(page.text)
    settings_ = api.client.app.state.settings
    with transaction(api.engine) as s:
        account = s.scalars(select(Account).where(Account.account_ref == REF)).one()
        found = plans.options_for_account(s, account=account, role=SELF_SERVICE_ROLE)
        choices = {c.option.code: c for c in cardholder_choices(s, account=account, settings=settings_)}
    # every option shown is one the engine offers for the same inputs, with the same figures
    assert shown == [o.code for o in found.options if o.offered]
    for o in found.options:
        if o.offered:
            assert format_yuan(o.total) in page.text
    if not shown:
        return
    code = shown[pick % len(shown)]
    r = _post(browser, token, "/plan/choose", {"option_code": code}, page="/plan/options")
    assert r.status_code == 303
    with transaction(api.engine) as s:
        agreement = s.scalars(select(PlanAgreement).order_by(PlanAgreement.id.desc()).limit(1)).one()
    assert agreement.product_code == code
    beyond = not choices[code].within
    # nothing beyond self-service authority waits for the cardholder's code before a team lead approved it
    assert (agreement.status == "pending_approval") == beyond
    if beyond:
        confirm = browser.get(f"/p/{token}/plan/confirm")
        assert confirm.status_code == 303  # no confirmation page for it
        assert (agreement.discount_percent not in (None, "0")) or agreement.needs_approval


def test_every_option_offered_is_the_engines_and_none_beyond_authority_skips_approval(api: Api) -> None:
    browser, token = _verified(api)
    _property(api, browser, token)
