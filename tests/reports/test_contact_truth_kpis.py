"""Every contact KPI counts only real conversations: a right-party outcome with the cardholder. The
store is the hand-built book of test_reports plus calls written as old data had them — unanswered,
yet with the cardholder as the party — which no figure may count as a contact (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from arrears.auth.tables import User
from arrears.cases.tables import Interaction
from arrears.kit.clock import utc_now
from arrears.reports import service
from tests.reports.test_reports import D2, book  # noqa: F401  (the fixture)


@pytest.fixture
def old_rows(engine: Engine, book: dict[str, int]) -> dict[str, int]:  # noqa: F811
    """agent_e's unanswered calls on D2 stored with party 'debtor' (written before the rule), at
    12:05 and 15:00 Shanghai, and a message left for the cardholder at 16:00."""
    with engine.begin() as conn:
        agent = conn.execute(select(User.id).where(User.username == "agent_e")).scalar_one()
        for at, outcome in ((datetime(2026, 3, 2, 4, 5, tzinfo=UTC), "no_answer"),
                            (datetime(2026, 3, 2, 7, 0, tzinfo=UTC), "busy"),
                            (datetime(2026, 3, 2, 8, 0, tzinfo=UTC), "left_message")):
            conn.execute(insert(Interaction).values(
                case_id=book["case_B"], channel="call", direction="outbound", party="debtor", started_at=at,
                outcome=outcome, agent_id=agent, created_at=utc_now()))
    return book


def test_agent_contact_rate_ignores_unanswered_calls_stored_with_the_cardholder(
        engine: Engine, old_rows: dict[str, int]) -> None:
    with Session(engine) as s:
        activity = {r["agent"]: r for r in service.agent_activity(s, business_date=D2)}
    # three calls of the book (two conversations) and three more that reached nobody
    assert (activity["agent_e"]["calls"], activity["agent_e"]["rpc"], activity["agent_e"]["rpc_bp"]) == (6, 2, 3333)


def test_contact_by_hour_ignores_unanswered_calls_stored_with_the_cardholder(
        engine: Engine, old_rows: dict[str, int]) -> None:
    with Session(engine) as s:
        cells = {c["hour"]: c for c in service.rpc_by_hour(s, from_date=D2, to_date=D2).cells()}
    assert (cells[12]["attempts"], cells[12]["rpc"]) == (2, 0)
    assert (cells[15]["attempts"], cells[15]["rpc"]) == (1, 0)
    assert (cells[16]["attempts"], cells[16]["rpc"]) == (1, 0)
    assert (cells[10]["rpc"], cells[19]["rpc"]) == (1, 1)  # the real conversations still count
