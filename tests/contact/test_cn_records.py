"""The store side of the `cn` rules of GB/T 45251—2025 (SQLite and PostgreSQL): the debtor's agreement
to an appointment lifts the quiet hours, a refusal blocks its contact point for good, emergency contacts
wait until the debtor's numbers failed, and a field visit's collectors and consent are checked and kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint
from arrears.auth.tables import AuditRecord
from arrears.cases import service as cases
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Case
from arrears.contact.cn_records import RecordError, record_refusal
from arrears.contact.cn_tables import AppointmentAgreement, ContactRefusal, VisitRecord
from arrears.contact.service import ContactBlocked, check_contact
from arrears.kit.clock import utc_now
from tests.cases.support import new_case

RULES = load_default_case_rules()
EVENING = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 22:00 Asia/Shanghai
DAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 Asia/Shanghai


def points(engine: Engine, case_id: int, *owners: str) -> list[int]:
    out = []
    with Session(engine) as s, s.begin():
        customer_id = s.execute(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                .where(Case.id == case_id)).scalar_one()
        for i, owner in enumerate(owners):
            row = ContactPoint(contact_ref=f"CP-{case_id}-{i}", customer_id=customer_id, kind="phone",
                               value=f"1380000{case_id:02d}{i:02d}", owner=owner, relation=None, verified=True,
                               opted_out=False, created_at=utc_now())
            s.add(row)
            s.flush()
            out.append(row.id)
    return out


def audits(engine: Engine, action: str) -> list[AuditRecord]:
    with Session(engine) as s:
        return list(s.execute(select(AuditRecord).where(AuditRecord.action == action)).scalars())


def gate_at(engine: Engine, case_id: int, at: datetime, **kw):  # type: ignore[no-untyped-def]
    args = dict(case_id=case_id, channel="call", party="debtor", purpose="collection", at=at, actor="user:7",
                source="api", has_recording=True) | kw
    with Session(engine, expire_on_commit=False) as s, s.begin():
        return check_contact(s, **args)


def call(engine: Engine, case_id: int, at: datetime, outcome: str, party: str, point: int | None, **kw) -> None:
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel=kw.pop("channel", "call"), direction="outbound",
                                 party=party, started_at=at, outcome=outcome, rules=RULES, agent_id=kw.pop("agent", 42),
                                 contact_point_id=point, recording_ref="rec-1", **kw)


def test_an_appointment_lifts_the_quiet_hours_only_with_the_debtors_agreement_on_record(engine: Engine) -> None:
    agreed, plain = new_case(engine, "AG1"), new_case(engine, "AG2")
    with Session(engine) as s, s.begin():
        for case_id, via in ((agreed, "agent"), (plain, None)):
            cases.schedule_appointment(s, case_id=case_id, owner_id=42, window_start=EVENING,
                                       window_end=EVENING + timedelta(minutes=30), created_by="user:42",
                                       agreed_via=via)
    with Session(engine) as s:
        [row] = s.execute(select(AppointmentAgreement)).scalars().all()
        assert (row.agreed_via, row.recorded_by) == ("agent", "user:42") and row.agreed_at is not None
    [audit] = audits(engine, "appointment.agreed")
    assert audit.detail["agreed_via"] == "agent" and audit.detail["case_id"] == agreed
    assert gate_at(engine, agreed, EVENING).allowed
    assert gate_at(engine, agreed, EVENING + timedelta(minutes=29)).allowed
    after = gate_at(engine, agreed, EVENING + timedelta(minutes=30))
    assert [b.rule_id for b in after.blocks] == ["quiet_hours"]
    d = gate_at(engine, plain, EVENING)
    assert [b.rule_id for b in d.blocks] == ["quiet_hours"] and "GB/T 45251—2025" in d.blocks[0].source
    assert d.next_allowed_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 Shanghai
    with Session(engine) as s, s.begin(), pytest.raises(RecordError) as bad:
        cases.schedule_appointment(s, case_id=plain, owner_id=42, window_start=EVENING,
                                   window_end=EVENING + timedelta(minutes=30), created_by="user:42",
                                   agreed_via="telepathy")
    assert bad.value.field == "agreed_via"


def test_emergency_contact_waits_until_every_debtor_number_failed_and_a_refusal_is_for_good(engine: Engine) -> None:
    case_id = new_case(engine, "EC1")
    debtor, second, emergency = points(engine, case_id, "debtor", "debtor", "emergency")

    def ask(at: datetime):  # type: ignore[no-untyped-def]
        return gate_at(engine, case_id, at, party="emergency_contact", purpose="reestablish_contact",
                       contact_point_id=emergency, discloses_debt=False)

    first = ask(DAY)
    assert [b.rule_id for b in first.blocks] == ["third_party_only_when_unreachable"]
    assert first.next_allowed_at is None and "GB/T 45251—2025" in first.blocks[0].source
    for h in (1, 2, 3):
        call(engine, case_id, DAY + timedelta(hours=h), "no_answer", "nobody", debtor)
    # three failed calls on one number; the other debtor number was never tried: still reachable
    assert [b.rule_id for b in ask(DAY + timedelta(hours=4)).blocks] == ["third_party_only_when_unreachable"]
    # the other number is a wrong number: invalid, so every valid number has failed
    call(engine, case_id, DAY + timedelta(hours=4), "wrong_number", "other", second)
    assert ask(DAY + timedelta(hours=5)).allowed
    # the emergency contact refuses further contact: recorded on the contact point, for good
    call(engine, case_id, DAY + timedelta(hours=5), "refused_contact", "emergency_contact", emergency,
         notes="asked us not to call again")
    with Session(engine) as s:
        [row] = s.execute(select(ContactRefusal)).scalars().all()
    assert (row.contact_point_id, row.recorded_by, row.note) == (emergency, "user:42", "asked us not to call again")
    assert row.interaction_id is not None
    [audit] = audits(engine, "contact.refused")
    assert audit.entity_id == str(emergency) and audit.detail["owner"] == "emergency"
    later = ask(DAY + timedelta(days=30))
    assert "third_party_refusal" in [b.rule_id for b in later.blocks] and later.next_allowed_at is None
    with pytest.raises(ContactBlocked) as blocked:
        call(engine, case_id, DAY + timedelta(hours=6), "third_party", "emergency_contact", emergency)
    assert "third_party_refusal" in [b.rule_id for b in blocked.value.decision.blocks]
    # a refusal is recorded against the point reached, and never for the debtor's own number
    with Session(engine) as s, s.begin(), pytest.raises(RecordError) as bad:
        cases.record_interaction(s, case_id=case_id, channel="call", direction="outbound", party="other",
                                 started_at=DAY + timedelta(hours=7), outcome="refused_contact", rules=RULES,
                                 recording_ref="rec-2")
    assert bad.value.field == "contact_point_id"
    with Session(engine) as s, s.begin(), pytest.raises(RecordError) as mine:
        record_refusal(s, contact_point_id=debtor, actor="user:42")
    assert mine.value.field == "contact_point_id"


def test_a_field_visit_needs_two_collectors_and_consent_to_enter_and_is_recorded(engine: Engine) -> None:
    case_id = new_case(engine, "FV1")
    with pytest.raises(ContactBlocked) as one:
        call(engine, case_id, DAY, "right_party_contact", "debtor", None, channel="visit", collectors=1)
    [block] = one.value.decision.blocks
    assert block.rule_id == "field_visit" and "GB/T 45251—2025" in block.source and block.next_allowed_at is None
    with pytest.raises(ContactBlocked) as entered:
        call(engine, case_id, DAY, "right_party_contact", "debtor", None, channel="visit", collectors=2,
             entered=True)
    assert [b.rule_id for b in entered.value.decision.blocks] == ["field_visit"]
    with pytest.raises(RecordError) as missing:
        call(engine, case_id, DAY, "right_party_contact", "debtor", None, channel="visit")
    assert missing.value.field == "collectors"
    call(engine, case_id, DAY, "right_party_contact", "debtor", None, channel="visit", collectors=2, entered=True,
         entry_consent=True)
    with Session(engine) as s:
        [row] = s.execute(select(VisitRecord)).scalars().all()
    assert (row.collectors, row.entered, row.entry_consent) == (2, True, True)
    [audit] = audits(engine, "visit.recorded")
    assert audit.detail == {"case_id": case_id, "collectors": 2, "entered": True, "entry_consent": True}
