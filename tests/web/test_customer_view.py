"""The customer, not just the account: the case page shows the customer's other accounts with their
money, their case (a link only within the caller's scope), plan and open promises, in one query per kind."""

from __future__ import annotations

import re
from datetime import date, timedelta

from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Hold
from arrears.auth.tables import User
from arrears.cases import service as case_service
from arrears.cases.config import load_default_case_rules
from arrears.kit.clock import utc_now
from arrears.plans import service as plan_service
from tests.api.conftest import Api
from tests.cases.support import new_case
from tests.plans.support import START, worked_case
from tests.web.support import sign_in


def _owned_by_east_customer(api: Api, *refs: str) -> None:
    with api.engine.begin() as conn:
        owner = conn.execute(select(Account.customer_id).where(Account.account_ref == "ACC-EAST")).scalar_one()
        conn.execute(update(Account).where(Account.account_ref.in_(refs)).values(customer_id=owner))


def _planned_case(api: Api, ref: str) -> int:
    """An east case with an active plan (confirmed on a recorded call)."""
    case_id = worked_case(api.engine, ref, team="east")
    with Session(api.engine, expire_on_commit=False) as s, s.begin():
        agent = s.execute(select(User).where(User.username == "agent_east")).scalar_one()
        agreement = plan_service.create_agreement(s, case_id=case_id, user=agent, option_code="inst_12",
                                                  business_date=START)
        assert plan_service.confirm_agreement(s, agreement_id=agreement.id, user=agent, method="recorded_call",
                                              reference_="REC-CV", business_date=START).error is None
    return case_id


def _section(page: str) -> str:
    found = re.search(r'<section class="card" aria-labelledby="h-customer-accounts".*?</section>', page, re.S)
    assert found, "no customer view on the case page"
    return found.group(0)


def test_the_case_page_shows_the_customers_other_accounts_with_cases_plans_and_promises(api: Api) -> None:
    planned = _planned_case(api, "ACC-PLAN-CV")
    _owned_by_east_customer(api, "ACC-WEST", "ACC-PLAN-CV")
    with Session(api.engine) as s, s.begin():
        case_service.record_promise(s, case_id=api.west_case, amount=50_000,
                                    promised_date=case_service.business_date_of(utc_now()) + timedelta(days=3),
                                    created_by="agent_west", rules=load_default_case_rules())
    agent = _section(sign_in(api, "agent_east", lang="en").get(f"/case/{api.east_case}").text)
    assert "ACC-PLAN-CV" in agent and "ACC-WEST" in agent
    # the own team's case is a link; the other team's is named as such, without a link
    assert f'href="/case/{planned}"' in agent and f'href="/case/{api.west_case}"' not in agent
    assert "another team" in agent
    assert "¥12,000.00" in agent and "¥3,600.00" in agent  # the planned account's balance and past due
    assert "Active" in agent and "next instalment" in agent
    assert "¥500.00" in agent  # the west account's open promise
    supervisor = _section(sign_in(api, "supervisor", lang="en").get(f"/case/{api.east_case}").text)
    assert f'href="/case/{api.west_case}"' in supervisor and "another team" not in supervisor
    # and from the other side: the planned case's page shows the first account
    assert "ACC-EAST" in _section(sign_in(api, "agent_east", lang="en").get(f"/case/{planned}").text)


def test_a_hold_about_the_person_on_the_other_account_is_shown_with_it(api: Api) -> None:
    _owned_by_east_customer(api, "ACC-WEST")
    with api.engine.begin() as conn:
        west = conn.execute(select(Account.id).where(Account.account_ref == "ACC-WEST")).scalar_one()
        conn.execute(insert(Hold).values(account_id=west, kind="deceased", start_date=date(2026, 1, 1),
                                         end_date=None, pauses_ageing=False, reason="test", created_by="test"))
    view = _section(sign_in(api, "agent_east", lang="en").get(f"/case/{api.east_case}").text)
    assert "Deceased" in view


def test_a_customer_with_one_account_says_so(api: Api) -> None:
    page = sign_in(api, "agent_east", lang="en").get(f"/case/{api.east_case}").text
    assert "The customer has no other account." in _section(page)


def test_the_customer_view_reads_once_per_kind_not_once_per_account(api: Api) -> None:
    client = sign_in(api, "supervisor", lang="en")

    def statements() -> int:
        seen: list[str] = []

        def count(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
            seen.append(statement)
        event.listen(api.engine, "before_cursor_execute", count)
        try:
            assert client.get(f"/case/{api.east_case}").status_code == 200
        finally:
            event.remove(api.engine, "before_cursor_execute", count)
        return len(seen)

    _owned_by_east_customer(api, "ACC-WEST")
    one = statements()
    refs = [f"ACC-MORE-{i}" for i in range(3)]
    for ref in refs:
        new_case(api.engine, ref, opened_on=date(2026, 2, 10))
    _owned_by_east_customer(api, *refs)
    assert statements() == one
    assert all(ref in _section(client.get(f"/case/{api.east_case}").text) for ref in refs)
