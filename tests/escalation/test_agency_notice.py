"""Outside agencies (SQLite and PostgreSQL): the register with its review dates decides who may receive
a placement, and a placement waits for the notice to the debtor — queued as a letter, sent, and the
pack's `agency_notice` days passed (GB/T 45251—2025 §5.4, docs/compliance.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from arrears.channels.tables import OutboxMessage
from arrears.escalation import service
from arrears.escalation.model import EscalationError
from arrears.escalation.register import AgencyFieldError, notice_days, placement_refusal, save_agency
from arrears.escalation.tables import AgencyNotice, AgencyPlacement
from arrears.kit.db import transaction
from tests.escalation.support import agencies, audits, escalated

ON = date(2026, 3, 2)


def register(engine, **kw) -> None:  # type: ignore[no-untyped-def]
    values = dict(code="huaxia", name="华夏信用管理有限公司", licence="91440300MA5EXAMPLE",
                  contract_start=date(2026, 1, 1), contract_end=date(2026, 12, 31), last_review=date(2026, 1, 1),
                  next_review=date(2026, 6, 30), status="active", actor="user:compliance") | kw
    with transaction(engine) as s:
        save_agency(s, **values)


def place(engine, on: date) -> service.FileOut:  # type: ignore[no-untyped-def]
    with transaction(engine) as s:
        return service.place_accounts(s, agency=agencies().get("huaxia"), on=on, actor="cli:t", role="admin",
                                      reason="monthly placement")


def test_only_an_active_agency_under_contract_and_reviewed_receives_placements(engine) -> None:
    escalated(engine, "ACC-1", "agency_placement", address="广东省深圳市南山区科技园路1号")
    with pytest.raises(EscalationError, match="not in the register"):
        place(engine, ON)
    register(engine)
    with transaction(engine) as s:
        assert placement_refusal(s, "huaxia", ON) is None
        assert placement_refusal(s, "huaxia", date(2026, 6, 30)) is None
        assert "due for review on 2026-06-30" in placement_refusal(s, "huaxia", date(2026, 7, 1))
        assert "contract runs" in placement_refusal(s, "huaxia", date(2025, 12, 31))
    register(engine, status="suspended")
    with pytest.raises(EscalationError, match="huaxia is suspended"):
        place(engine, ON)
    [added] = audits(engine, "agency.register")
    [changed] = audits(engine, "agency.update")
    assert added.detail["after"]["licence"] == "91440300MA5EXAMPLE"
    assert (changed.detail["before"]["status"], changed.detail["after"]["status"]) == ("active", "suspended")
    with transaction(engine) as s:
        assert s.execute(select(AgencyNotice)).first() is None  # nothing queued for a refused agency
    for field, bad in (("code", {"code": "Hua Xia"}), ("contract_end", {"contract_end": date(2025, 1, 1)}),
                       ("status", {"status": "paused"}), ("licence", {"licence": " "}),
                       ("next_review", {"next_review": date(2025, 6, 30)})):
        with pytest.raises(AgencyFieldError) as info:
            register(engine, **bad)
        assert info.value.field == field


def test_the_account_is_handed_over_only_days_after_the_notice_was_sent(engine) -> None:
    case_id = escalated(engine, "ACC-1", "agency_placement", address="广东省深圳市南山区科技园路1号")
    register(engine)
    first = place(engine, ON)
    assert first.rows == 0 and first.skipped == ((case_id, "waiting for the notice to the debtor to be sent"),)
    with transaction(engine) as s:
        [notice] = s.execute(select(AgencyNotice)).scalars().all()
        message = s.get(OutboxMessage, notice.outbox_message_id)
        assert (message.channel, message.template, message.case_id, message.status) == (
            "letter", "agency.notice", case_id, "pending")
        assert message.payload["agency_name"] == "华夏信用管理有限公司" and message.payload["notice_days"] == 7
        assert message.contact_point_id is not None  # the debtor's address
    [queued] = audits(engine, "agency.notice_queued")
    assert queued.detail["agency"] == "huaxia"
    assert place(engine, ON).rows == 0  # a second run queues no second letter
    with transaction(engine) as s:
        assert len(s.execute(select(AgencyNotice)).all()) == 1
        assert len(s.execute(select(OutboxMessage)).all()) == 1
        message = s.get(OutboxMessage, notice.outbox_message_id)
        message.status, message.sent_at = "sent", datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March, bank
    assert notice_days() == 7
    early = place(engine, date(2026, 3, 9))
    assert early.rows == 0
    assert early.skipped == ((case_id, "the notice to the debtor was sent on 2026-03-03; placement from 2026-03-10"),)
    done = place(engine, date(2026, 3, 10))
    assert done.rows == 1 and done.skipped == ()
    with transaction(engine) as s:
        [p] = s.execute(select(AgencyPlacement)).scalars().all()
        assert (p.case_id, p.placed_on) == (case_id, date(2026, 3, 10))
