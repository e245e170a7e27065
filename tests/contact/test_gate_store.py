"""The compliance gate over the store: candidates built from a case, every block and override logged,
overrides audited, outbound interactions gated (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Hold
from arrears.auth.tables import AuditRecord
from arrears.cases import service as cases
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Case, Interaction
from arrears.contact import Override
from arrears.contact.service import (
    ContactBlocked,
    ContactFieldError,
    candidate_for_case,
    check_contact,
)
from arrears.contact.tables import ContactDecision
from tests.cases.support import new_case

RULES = load_default_case_rules()
NIGHT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 Asia/Shanghai, a Monday
DAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 Asia/Shanghai


def add_hold(engine: Engine, case_id: int, kind: str) -> None:
    with Session(engine) as s, s.begin():
        account_id = s.execute(select(Case.account_id).where(Case.id == case_id)).scalar_one()
        s.add(Hold(account_id=account_id, kind=kind, start_date=date(2026, 3, 1), end_date=None, pauses_ageing=False,
                   reason="test", created_by="test"))


def decisions(engine: Engine) -> list[ContactDecision]:
    with Session(engine) as s:
        return list(s.execute(select(ContactDecision).order_by(ContactDecision.id)).scalars())


def audits(engine: Engine, action: str) -> list[AuditRecord]:
    with Session(engine) as s:
        return list(s.execute(select(AuditRecord).where(AuditRecord.action == action)).scalars())


def check(engine: Engine, case_id: int, at: datetime, **kw):  # type: ignore[no-untyped-def]
    args = dict(case_id=case_id, channel="call", party="debtor", purpose="collection", at=at, actor="user:7",
                source="api", has_recording=True) | kw
    with Session(engine, expire_on_commit=False) as s, s.begin():
        return check_contact(s, **args)


def test_candidate_is_built_from_the_store(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    add_hold(engine, case_id, "hardship")
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel="call", direction="outbound", party="nobody",
                                 started_at=DAY - timedelta(hours=1), outcome="no_answer", rules=RULES)
        c = candidate_for_case(s, case_id=case_id, channel="call", party="debtor", purpose="collection", at=DAY,
                               has_recording=True)
    assert c.tz == "Asia/Shanghai" and c.account_id == "G1" and c.recorded
    assert [h.kind for h in c.holds] == ["hardship"]
    assert [(a.channel, a.party, a.conversation) for a in c.attempts] == [("call", "debtor", False)]


def test_a_call_at_23_shanghai_is_blocked_and_logged_with_next_08(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    d = check(engine, case_id, NIGHT)
    assert not d.allowed and [b.rule_id for b in d.blocks] == ["quiet_hours"]
    assert d.next_allowed_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 Shanghai the next day
    [row] = decisions(engine)
    assert (row.case_id, row.channel, row.party, row.purpose, row.allowed, row.actor, row.source) == \
        (case_id, "call", "debtor", "collection", False, "user:7", "api")
    assert (row.pack, row.pack_version, row.at) == ("cn", "2026.2", NIGHT)
    assert row.next_allowed_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    [block] = row.blocks
    assert block["rule_id"] == "quiet_hours" and "GB/T 45251—2025" in block["source"]
    assert block["next_allowed_at"] == "2026-03-03T00:00:00+00:00" and block["message_zh"] and not block["overridden"]
    assert row.overrides == []


def test_an_allowed_contact_without_override_is_not_logged(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    assert check(engine, case_id, DAY).allowed
    assert decisions(engine) == []


def test_an_allowed_override_is_applied_logged_and_audited(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    add_hold(engine, case_id, "hardship")
    assert [b.rule_id for b in check(engine, case_id, DAY).blocks] == ["hold_hardship"]
    o = Override("hold_hardship", "customer asked to be called about a plan", "sup", "supervisor")
    d = check(engine, case_id, DAY, overrides=[o], requested_by="agent1")
    assert d.allowed and [b.rule_id for b in d.overridden] == ["hold_hardship"] and d.overrides == (o,)
    row = decisions(engine)[-1]
    assert row.allowed and row.blocks[0]["overridden"] and row.blocks[0]["rule_id"] == "hold_hardship"
    [logged] = row.overrides
    assert (logged["rule_id"], logged["reason"], logged["approver"], logged["approver_role"], logged["applied"]) == \
        ("hold_hardship", o.reason, "sup", "supervisor", True)
    [audit] = audits(engine, "contact.override")
    assert audit.actor == "sup" and audit.entity_id == str(row.id)
    assert audit.detail["rule_id"] == "hold_hardship" and audit.detail["reason"] == o.reason


@pytest.mark.parametrize(("override", "requested_by", "why"), [
    (Override("quiet_hours", "urgent", "comp", "compliance"), None, "never be overridden"),
    (Override("hold_hardship", "urgent", "agent1", "agent"), None, "may not override"),
    (Override("hold_hardship", "urgent", "sup", "supervisor"), "sup", "differ from the requester"),
])
def test_refused_overrides_are_logged_and_audited(engine: Engine, override: Override, requested_by: str | None,
                                                  why: str) -> None:
    case_id = new_case(engine, "G1")
    add_hold(engine, case_id, "hardship")
    at = NIGHT if override.rule_id == "quiet_hours" else DAY
    d = check(engine, case_id, at, overrides=[override], requested_by=requested_by)
    assert not d.allowed
    [row] = decisions(engine)
    [logged] = row.overrides
    assert not logged["applied"] and why in logged["refused_because"] and logged["approver"] == override.approver
    [audit] = audits(engine, "contact.override_refused")
    assert why in audit.detail["refused_because"]
    assert audits(engine, "contact.override") == []


def test_outbound_call_without_recording_is_refused_naming_the_rule(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    kw = dict(case_id=case_id, channel="call", direction="outbound", party="nobody", started_at=DAY,
              outcome="no_answer", rules=RULES, agent_id=42)
    with Session(engine) as s, s.begin(), pytest.raises(ContactBlocked) as caught:
        cases.record_interaction(s, **kw)
    assert "call_recording" in caught.value.message and caught.value.status == 409
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, **kw, recording_ref="REC-1")
    with Session(engine) as s:
        assert s.execute(select(Interaction.recording_ref)).scalars().all() == ["REC-1"]


def test_outbound_call_at_night_names_quiet_hours_and_next_time(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    with Session(engine) as s, s.begin(), pytest.raises(ContactBlocked) as caught:
        cases.record_interaction(s, case_id=case_id, channel="call", direction="outbound", party="nobody",
                                 started_at=NIGHT, outcome="no_answer", rules=RULES, agent_id=42, recording_ref="R")
    assert "quiet_hours" in caught.value.message and "2026-03-03T00:00:00+00:00" in caught.value.message


def test_inbound_and_automatic_interactions_are_not_gated(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel="call", direction="inbound", party="debtor",
                                 started_at=NIGHT, outcome="right_party_contact", rules=RULES, agent_id=42)
    assert decisions(engine) == []


def test_unknown_override_decision_is_refused_naming_the_field(engine: Engine) -> None:
    case_id = new_case(engine, "G1")
    with Session(engine) as s, s.begin(), pytest.raises(ContactFieldError) as caught:
        cases.record_interaction(s, case_id=case_id, channel="call", direction="outbound", party="nobody",
                                 started_at=DAY, outcome="no_answer", rules=RULES, agent_id=42, recording_ref="R",
                                 override_decision_id=10**6)
    assert caught.value.field == "override_decision_id"


class _NeverSends:
    """An SMS adapter for a message the gate must hold back."""

    def send(self, message, rendered, recipient):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN201
        raise AssertionError("a blocked message must not be sent")


def test_the_worker_logs_each_block_it_meets(engine: Engine) -> None:
    from arrears.channels.worker import run_worker
    from tests.channels.support import add_messages, case_with_point, settings

    case_id, point_id = case_with_point(engine, "ACC-GW-1")
    add_messages(engine, case_id, point_id)
    stats = run_worker(engine, adapters={"sms": _NeverSends()}, once=True, now=lambda: NIGHT, settings=settings())
    assert stats.blocked == 1
    [row] = decisions(engine)
    assert (row.case_id, row.channel, row.source, row.actor, row.allowed) == (case_id, "sms", "worker", "worker", False)
    assert [b["rule_id"] for b in row.blocks] == ["quiet_hours"]
    assert row.next_allowed_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
