"""Compliance sees how long each complaint, dispute and hold review has waited, oldest first, and which
are past their time limit (``ARREARS_COMPLAINT_SLA_DAYS``, ``ARREARS_HOLD_REVIEW_SLA_HOURS``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select

from arrears.accounts.tables import Hold
from arrears.cases.tables import Case, HoldReview, Interaction
from arrears.kit.clock import frozen_at
from tests.api.conftest import Api
from tests.web.support import sign_in
from tests.web.test_dashboards import table

NOW = datetime(2026, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 20 March


def _hold(api: Api, case_id: int, kind: str, start: date) -> int:
    with api.engine.begin() as conn:
        account = conn.execute(select(Case.account_id).where(Case.id == case_id)).scalar_one()
        return conn.execute(insert(Hold).values(
            account_id=account, kind=kind, start_date=start, end_date=None, pauses_ageing=False, reason=kind,
            created_by="compliance", created_at=NOW).returning(Hold.id)).scalar_one()


def _review(api: Api, case_id: int, hold_id: int, at: datetime) -> None:
    with api.engine.begin() as conn:
        interaction = conn.execute(insert(Interaction).values(
            case_id=case_id, channel="call", direction="outbound", party="debtor", started_at=at, outcome="dispute",
            agent_id=api.user_ids["agent_east"], created_at=at).returning(Interaction.id)).scalar_one()
        conn.execute(insert(HoldReview).values(case_id=case_id, hold_id=hold_id, interaction_id=interaction,
                                               outcome="dispute", status="pending", created_at=at))


def test_waiting_time_oldest_first_with_the_time_limit_flagged(api: Api) -> None:
    young = _hold(api, api.east_case, "complaint", date(2026, 3, 18))
    _hold(api, api.west_case, "dispute", date(2026, 3, 1))
    _review(api, api.east_case, young, NOW - timedelta(hours=3))
    _review(api, api.west_case, young, NOW - timedelta(hours=30))
    with frozen_at(NOW):
        page = sign_in(api, "compliance", lang="en").get("/compliance").text
        zh = sign_in(api, "compliance", lang="zh_CN").get("/compliance").text
    complaints = table(page, "t-complaints")
    assert [r[2] for r in complaints] == ["Dispute", "Complaint"]  # oldest first
    assert complaints[0][-1] == "19 days Past the time limit (15 days)" and complaints[1][-1] == "2 days"
    reviews = table(page, "t-reviews")
    assert reviews[0][-1] == "30 h Past the time limit (24 h)" and reviews[1][-1] == "3 h"
    assert "19 天 已超时限（15 天）" in [r[-1] for r in table(zh, "t-complaints")]
