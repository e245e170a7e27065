"""Complaints on the clock in the store (SQLite and PostgreSQL): the deadline at its boundary day, the
one extension, the contact hold while the complaint is open and lifted at close, escalation run
twice, and the complaints-per-1,000-accounts report against a hand count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Hold
from arrears.auth.service import get_or_create_team
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case, Task
from arrears.complaints import service
from arrears.complaints.model import ComplaintError, ComplaintFieldError
from arrears.complaints.tables import Complaint, ComplaintEvent
from arrears.contact.repository import customer_holds
from arrears.escalation.repository import holds_in_force
from arrears.escalation.tables import AgencyPlacement
from arrears.kit.clock import frozen_at
from arrears.strategy.tables import StrategyAssignment, StrategyDecision
from tests.cases.support import new_case

TZ = "Asia/Shanghai"
#: 23:30 in Shanghai on 1 March 2026 (15:30 UTC): the business date of receipt is 1 March, not 2 March
RECEIVED = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)


def _account(session: Session, ref: str) -> Account:
    return session.scalars(select(Account).where(Account.account_ref == ref)).one()


def _register(session: Session, ref: str, at: datetime = RECEIVED, **kw) -> Complaint:  # type: ignore[no-untyped-def]
    return service.register(session, account=_account(session, ref), channel=kw.pop("channel", "phone"),
                            received_at=at, category=kw.pop("category", "contact_frequency"),
                            summary="too many calls", actor="compliance", bank_tz=TZ, **kw)


def test_deadline_is_fifteen_calendar_days_after_the_bank_date_of_receipt(engine: Engine) -> None:
    new_case(engine, "ACC-C1")
    with frozen_at(RECEIVED + timedelta(hours=1)), Session(engine) as s, s.begin():
        c = _register(s, "ACC-C1")
        assert c.received_on == date(2026, 3, 1)  # 23:30 bank time is still the 1st
        assert c.deadline == date(2026, 3, 16)
        complaint_id = c.id
    # on the deadline day it is not overdue; the day after it is, and escalation finds it then only
    with Session(engine) as s, s.begin():
        assert service.escalate_overdue(s, today=date(2026, 3, 16), actor="cycle") == []
    with frozen_at(datetime(2026, 3, 17, 1, tzinfo=UTC)), Session(engine) as s, s.begin():
        assert [x.id for x in service.escalate_overdue(s, today=date(2026, 3, 17), actor="cycle")] == [complaint_id]


def test_extension_once_to_thirty_days_before_the_deadline_only(engine: Engine) -> None:
    new_case(engine, "ACC-C2")
    new_case(engine, "ACC-C3")
    with frozen_at(RECEIVED + timedelta(hours=1)), Session(engine) as s, s.begin():
        c = _register(s, "ACC-C2")
        late = _register(s, "ACC-C3")
        with pytest.raises(ComplaintFieldError):
            service.extend(s, complaint=c, reason="  ", actor="compliance", today=date(2026, 3, 10))
        service.extend(s, complaint=c, reason="needs the call recordings", actor="compliance",
                       today=date(2026, 3, 16))  # the deadline day itself is still in time
        assert c.deadline == date(2026, 3, 31) and c.extended
        with pytest.raises(ComplaintError, match="once already"):
            service.extend(s, complaint=c, reason="again", actor="compliance", today=date(2026, 3, 17))
        with pytest.raises(ComplaintError, match="deadline has passed"):
            service.extend(s, complaint=late, reason="too late", actor="compliance", today=date(2026, 3, 17))
        actions = s.scalars(select(ComplaintEvent.action).where(ComplaintEvent.complaint_id == c.id)
                            .order_by(ComplaintEvent.id)).all()
        assert actions == ["received", "extended"]
        assert s.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.action == "complaint.extended")) == 1


def test_contact_is_held_while_open_and_released_at_close(engine: Engine) -> None:
    case_id = new_case(engine, "ACC-C4")
    with frozen_at(RECEIVED + timedelta(hours=1)), Session(engine) as s, s.begin():
        account = _account(s, "ACC-C4")
        first = _register(s, "ACC-C4")
        second = _register(s, "ACC-C4", channel="regulator", regulator_ref="12378-2026-001")
        assert first.hold_id == second.hold_id  # the second complaint links the open hold
        assert holds_in_force(s, [account.id], date(2026, 3, 5)) == {account.id: {"complaint"}}
        assert ("complaint", date(2026, 3, 1), None) in customer_holds(s, account_id=account.id,
                                                                       customer_id=account.customer_id)
        for move in ("acknowledge", "investigate", "answer", "close"):
            service.act(s, complaint=first, action=move, actor="compliance", root_cause="agent_conduct",
                        answer="apologised; the calls stop", today=date(2026, 3, 6))
        hold = s.get(Hold, first.hold_id)
        assert hold is not None and hold.end_date is None  # the second complaint still needs it
        for move in ("answer", "close"):
            service.act(s, complaint=second, action=move, actor="compliance", root_cause="no_fault_found",
                        answer="explained", today=date(2026, 3, 8))
        assert hold.end_date == date(2026, 3, 8)
        assert holds_in_force(s, [account.id], date(2026, 3, 9)) == {}
        assert s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "hold.lift")) == 1
        with pytest.raises(ComplaintError):
            service.act(s, complaint=first, action="answer", actor="compliance", today=date(2026, 3, 9))
    assert case_id


def test_escalation_marks_once_and_opens_one_task(engine: Engine) -> None:
    case_id = new_case(engine, "ACC-C5")
    new_case(engine, "ACC-C6")
    with frozen_at(RECEIVED + timedelta(hours=1)), Session(engine) as s, s.begin():
        _register(s, "ACC-C5")
        answered = _register(s, "ACC-C6")
        service.act(s, complaint=answered, action="answer", actor="compliance", root_cause="process",
                    answer="done", today=date(2026, 3, 2))
    for _ in range(2):
        with frozen_at(datetime(2026, 3, 20, 2, tzinfo=UTC)), Session(engine) as s, s.begin():
            service.escalate_overdue(s, today=date(2026, 3, 20), actor="cycle")
    with Session(engine) as s:
        rows = s.execute(select(Complaint.id, Complaint.escalated_at).order_by(Complaint.id)).all()
        assert [r.escalated_at is not None for r in rows] == [True, False]
        tasks = s.execute(select(Task.case_id, Task.kind)).all()
        assert tasks == [(case_id, "complaint_overdue")]
        assert s.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.action == "complaint.escalated")) == 1


def test_per_thousand_by_team_agency_and_strategy_against_a_hand_count(engine: Engine) -> None:
    refs = [f"ACC-R{i}" for i in range(6)]
    cases = {ref: new_case(engine, ref) for ref in refs}
    with Session(engine) as s, s.begin():
        east = get_or_create_team(s, code="east", actor="test").id
        west = get_or_create_team(s, code="west", actor="test").id
        teams = {"ACC-R0": east, "ACC-R1": east, "ACC-R2": east, "ACC-R3": west, "ACC-R4": west, "ACC-R5": None}
        for ref, team in teams.items():
            s.execute(update(Case).where(Case.id == cases[ref]).values(team_id=team))
        ids = {ref: _account(s, ref).id for ref in refs}
        for ref, agency in (("ACC-R0", "alpha"), ("ACC-R3", "alpha"), ("ACC-R4", "beta")):
            s.execute(insert(AgencyPlacement).values(
                case_id=cases[ref], account_id=ids[ref], agency=agency, placed_on=date(2026, 2, 20), balance=1,
                dpd=100, rate_bp=1500, terms={}, term_end=date(2026, 8, 20), status="placed", file_sha256="0" * 64,
                created_by="test"))
        for ref, strategy in (("ACC-R0", "early"), ("ACC-R1", "early"), ("ACC-R2", "late"), ("ACC-R3", "late")):
            s.add(StrategyAssignment(account_id=ids[ref], strategy=strategy, strategy_version=1, segment="a",
                                     since=date(2026, 2, 1), updated_on=date(2026, 2, 1), updated_by="cycle"))
            s.add(StrategyDecision(business_date=date(2026, 3, 1), account_id=ids[ref], strategy=strategy,
                                   strategy_version=1, segment="a", segment_since=date(2026, 2, 1),
                                   days_in_segment=28, actions=[], created_by="cycle"))
    with frozen_at(datetime(2026, 3, 10, 2, tzinfo=UTC)), Session(engine) as s, s.begin():
        # two complaints on R0 (east, alpha, early), one on R3 (west, alpha, late), one on R5 (no one's)
        for ref in ("ACC-R0", "ACC-R0", "ACC-R3", "ACC-R5"):
            _register(s, ref)
        # received before the window: not counted
        _register(s, "ACC-R1", at=datetime(2026, 1, 5, 2, tzinfo=UTC))
    with Session(engine) as s:
        def table(group: str) -> list[tuple[str | None, int, int, Decimal | None]]:
            return [(r.label if r.key else None, r.complaints, r.accounts, r.per_thousand)
                    for r in service.rates(s, group=group, since=date(2026, 2, 1), until=date(2026, 3, 31))]

        assert table("team") == [("east", 2, 3, Decimal("666.7")), ("west", 1, 2, Decimal("500.0")),
                                 (None, 1, 0, None)]
        assert table("agency") == [("alpha", 3, 2, Decimal("1500.0")), ("beta", 0, 1, Decimal("0.0")),
                                   (None, 1, 0, None)]
        assert table("strategy") == [("early", 2, 2, Decimal("1000.0")), ("late", 1, 2, Decimal("500.0")),
                                     (None, 1, 0, None)]
        with pytest.raises(ComplaintFieldError):
            service.rates(s, group="region", since=date(2026, 2, 1), until=date(2026, 3, 31))


def test_a_forwarded_complaint_needs_the_regulator_reference_and_none_comes_from_the_future(engine: Engine) -> None:
    new_case(engine, "ACC-C7")
    with frozen_at(RECEIVED), Session(engine) as s, s.begin():
        with pytest.raises(ComplaintFieldError) as missing:
            _register(s, "ACC-C7", channel="regulator")
        assert missing.value.field == "regulator_ref"
        with pytest.raises(ComplaintFieldError) as future:
            _register(s, "ACC-C7", at=RECEIVED + timedelta(days=1))
        assert future.value.field == "received_on"
        with pytest.raises(ComplaintFieldError) as channel:
            _register(s, "ACC-C7", channel="pigeon")
        assert channel.value.field == "channel"


def test_a_hold_the_bank_sent_is_never_linked_nor_ended(engine: Engine) -> None:
    from tests.factories import LedgerLoad, load

    new_case(engine, "ACC-C8")
    load(engine, LedgerLoad(holds=[("H-BANK-1", "ACC-C8", date(2026, 2, 1), None, False)]))
    with frozen_at(RECEIVED + timedelta(hours=1)), Session(engine) as s, s.begin():
        bank_hold = s.scalars(select(Hold).where(Hold.hold_ref == "H-BANK-1")).one()
        assert bank_hold.kind == "complaint"
        c = _register(s, "ACC-C8")
        assert c.hold_id != bank_hold.id
        service.act(s, complaint=c, action="answer", actor="compliance", root_cause="process", answer="ok",
                    today=date(2026, 3, 2))
        service.act(s, complaint=c, action="close", actor="compliance", today=date(2026, 3, 2))
        assert bank_hold.end_date is None


def test_a_complaint_outcome_registers_a_complaint_on_the_hold_it_placed(engine: Engine) -> None:
    from arrears.cases import service as cases
    from arrears.cases.config import load_default_case_rules

    rules = load_default_case_rules()
    case_id = new_case(engine, "ACC-C9")
    at = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)
    with frozen_at(at), Session(engine) as s, s.begin():
        done = cases.record_interaction(
            s, case_id=case_id, channel="call", direction="inbound", party=rules.outcome("complaint").allowed_parties()[0],
            started_at=at, outcome="complaint", rules=rules, agent_id=None, notes="客户投诉催收员态度")
        c = s.scalars(select(Complaint)).one()
        assert (c.channel, c.summary, c.hold_id, c.received_on, c.deadline) == (
            "phone", "客户投诉催收员态度", done.hold.id, date(2026, 3, 2), date(2026, 3, 17))
        assert s.scalar(select(func.count()).select_from(Hold)) == 1
