"""The approvals page shows why an agreement is asked for before the approver opens it: the agent's
reason, the investigation the options were made with, and the instalment against the affordable
amount."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.cases.config import load_default_case_rules
from arrears.cases.service import record_investigation
from arrears.cases.tables import Investigation
from arrears.kit.clock import frozen_at
from arrears.plans.tables import PlanAgreement
from arrears.web.i18n import Formatter
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in
from tests.web.test_script import DAYTIME, HX

REASON = "失业三个月，新工作下月入职，愿意分期"


def _pending(api: Api, ref: str, *, investigation: bool = True, maker: str = "agent_east",
             option: str = "personalised") -> PlanAgreement:
    case_id = worked_case(api.engine, ref, investigation=False)
    if investigation:
        with Session(api.engine) as session, session.begin():
            record_investigation(session, case_id=case_id, cause="job_loss", monthly_income=800_000,
                                 essential_spending=300_000, other_debt_payments=100_000, dependants=1,
                                 willingness=4, recorded_by="user:1", rules=load_default_case_rules(),
                                 notes="新工作下月入职")
    agent = sign_in(api, maker)
    r = agent.post(f"/case/{case_id}/script/agreement", data={"option_code": option, "reason": REASON},
                   headers={**HX, "X-CSRF-Token": page_csrf(agent, f"/case/{case_id}")})
    assert r.status_code == 200, r.text
    with Session(api.engine, expire_on_commit=False) as session:
        return session.scalars(select(PlanAgreement).where(PlanAgreement.case_id == case_id)).one()


def _block(html: str, agreement_id: int) -> str:
    """The agreement's rows on the approvals page: its summary row and the row that says why."""
    start = html.index(f'data-agreement="{agreement_id}"')
    end = html.index("</tr>", html.index(f'data-why="{agreement_id}"'))
    return html[start:end]


def test_the_approver_sees_the_reason_the_investigation_and_the_share_of_the_affordable_amount(api: Api) -> None:
    with frozen_at(DAYTIME):
        agreement = _pending(api, "ACC-WHY-1")
        assert agreement.affordable and agreement.investigation_id
        with Session(api.engine) as session:
            inv = session.get(Investigation, agreement.investigation_id)
            assert inv is not None and inv.affordable_monthly == agreement.affordable
        html = sign_in(api, "lead_east", lang="en").get("/approvals").text
    block = _block(html, agreement.id)
    fmt = Formatter("en", "Asia/Shanghai")
    share = (Decimal(agreement.largest_instalment) * 100 / Decimal(agreement.affordable)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    for text in (REASON, "Lost their job", fmt.money(800_000), fmt.money(300_000), fmt.money(100_000),
                 "4 – willing", fmt.money(agreement.affordable),
                 f"{fmt.money(agreement.largest_instalment)} of {fmt.money(agreement.affordable)} affordable",
                 f"{share}%", "新工作下月入职"):
        assert text in block, text
    assert 'data-dependants="1"' in block
    # all of it comes before the way to approve
    approve = block.index(f'href="/case/{agreement.case_id}?step=agreement#script" class="approve"')
    assert block.index(REASON) < approve and block.index(f"{share}%") < approve


def test_in_chinese_and_without_an_investigation_it_says_so(api: Api) -> None:
    with frozen_at(DAYTIME):
        agreement = _pending(api, "ACC-WHY-2", investigation=False, option="settle_20")
        html = sign_in(api, "supervisor").get("/approvals").text
    block = _block(html, agreement.id)
    assert REASON in block and "未做收支调查" in block and "可负担" in block
    assert "%" not in block.split(f'data-why="{agreement.id}"', 1)[1]  # no share without an affordable amount


def test_the_maker_sees_the_why_but_no_way_to_approve(api: Api) -> None:
    with frozen_at(DAYTIME):
        agreement = _pending(api, "ACC-WHY-3", maker="lead_east")
        mine = _block(sign_in(api, "lead_east").get("/approvals").text, agreement.id)
        theirs = _block(sign_in(api, "supervisor").get("/approvals").text, agreement.id)
    assert REASON in mine and 'class="approve"' not in mine
    assert REASON in theirs and 'class="approve"' in theirs


def test_an_instalment_above_the_affordable_amount_is_flagged(api: Api) -> None:
    with frozen_at(DAYTIME):
        fits = _pending(api, "ACC-WHY-4")
        above = _pending(api, "ACC-WHY-5", option="settle_20")  # one payment of most of the balance
        html = sign_in(api, "lead_east", lang="en").get("/approvals").text
    assert above.affordable and above.largest_instalment > above.affordable
    share = (Decimal(above.largest_instalment) * 100 / Decimal(above.affordable)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP)
    assert f"{share}%" in _block(html, above.id) and "more than the customer can afford" in _block(html, above.id)
    assert fits.largest_instalment <= (fits.affordable or 0)
    assert "more than the customer can afford" not in _block(html, fits.id)
