"""Regulation F records in the store (SQLite and PostgreSQL): the written cease request, the workplace
flags, the limitation date, and the validation notice from the initial communication to its delivery
record — each seen by the gate (``us-reg-f`` passed explicitly), the worker and the legal path."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer
from arrears.auth.tables import AuditRecord
from arrears.cases import service as cases
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Case
from arrears.channels.adapters import Delivery, OutgoingMessage, Recipient
from arrears.channels.tables import OutboxMessage
from arrears.channels.templates import Rendered
from arrears.channels.worker import run_worker
from arrears.contact import load_default_pack, regf
from arrears.contact.policy import gate
from arrears.contact.regf_tables import ValidationNotice
from arrears.contact.service import candidate_for_case
from arrears.escalation import service as escalation
from arrears.escalation.model import EscalationError
from arrears.kit.clock import frozen_at
from tests.cases.support import case_in
from tests.channels.support import case_with_point, settings

US = load_default_pack("us-reg-f")
RULES = load_default_case_rules()
#: 12:00 in New York on Tuesday 10 March 2026
NOON = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
NY = "America/New_York"


def us_case(engine: Engine, ref: str, channel: str = "letter") -> tuple[int, int, int, int]:
    """A New York customer's case with a contact point for ``channel``: (case, point, account, customer)."""
    case_id, point_id = case_with_point(engine, ref, channel, tz=NY, language="en")
    with engine.begin() as conn:
        account_id, customer_id = conn.execute(select(Account.id, Account.customer_id)
                                               .join(Case, Case.account_id == Account.id)
                                               .where(Case.id == case_id)).one()
        conn.execute(update(Customer).where(Customer.id == customer_id).values(jurisdiction="US-NY", name="Zhang San"))
    return case_id, point_id, account_id, customer_id


def verdict(engine: Engine, case_id: int, at: datetime, **kw) -> list[str]:
    content = {"collector_disclosure": "full", "letter_format": "sealed", "envelope_text": "return_address"}
    content |= kw.pop("content", {})
    with Session(engine) as s:
        c = candidate_for_case(s, case_id=case_id, purpose="collection", at=at, has_recording=True,
                               voicemail_limited=True, opt_out_notice=True, content=content, **({"channel": "call", "party": "debtor"} | kw))
    return [b.rule_id for b in gate(c, US).blocks]


def audits(engine: Engine, action: str) -> int:
    with Session(engine) as s:
        return s.execute(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)
                         ).scalar_one()


def test_a_written_cease_request_stops_everything_but_the_permitted_notices(engine: Engine) -> None:
    case_id, point_id, _, customer_id = us_case(engine, "US1")
    received = date(2026, 3, 10)
    with Session(engine) as s, s.begin():
        regf.record_cease(s, customer_id=customer_id, kind="cease", channel="letter", received_on=received,
                          actor="user:7", note="letter of 6 March")
    assert audits(engine, "regf.cease_recorded") == 1
    # the bank's midnight of the day it was received (Asia/Shanghai by default) is when it binds
    with Session(engine) as s:
        assert regf.ceased_at(s, customer_id, "Asia/Shanghai") == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
    assert verdict(engine, case_id, datetime(2026, 3, 9, 15, 59, 59, tzinfo=UTC)) == []
    assert verdict(engine, case_id, NOON) == ["cease_communication"]
    letter = dict(channel="letter", contact_point_id=point_id)
    assert verdict(engine, case_id, NOON, content={"cease_exception": "efforts_terminated"}, **letter) == []
    with Session(engine) as s, pytest.raises(regf.RegFError, match="written") as exc:
        regf.record_cease(s, customer_id=customer_id, kind="cease", channel="phone", received_on=received, actor="x")
    assert exc.value.field == "channel"


def test_workplace_flags_on_a_contact_point(engine: Engine) -> None:
    case_id, point_id, _, _ = us_case(engine, "US2", "email")
    email = dict(channel="email", contact_point_id=point_id)
    assert verdict(engine, case_id, NOON, **email) == []
    with Session(engine) as s, s.begin():
        regf.set_workplace_flags(s, contact_point_id=point_id, employer_forbids=False, employer_provided=True,
                                 actor="user:7")
    assert verdict(engine, case_id, NOON, **email) == ["place_of_employment"]
    with Session(engine) as s, s.begin():
        regf.set_workplace_flags(s, contact_point_id=point_id, employer_forbids=True, employer_provided=False,
                                 actor="user:7")
    assert verdict(engine, case_id, NOON, **email) == ["place_of_employment"]
    assert audits(engine, "regf.workplace_flags") == 2
    phone_case, phone, _, _ = us_case(engine, "US3", "sms")
    with Session(engine) as s, pytest.raises(regf.RegFError, match="only an e-mail address"):
        regf.set_workplace_flags(s, contact_point_id=phone, employer_forbids=False, employer_provided=True, actor="x")


def test_limitation_date_blocks_the_threat_and_the_suit(engine: Engine) -> None:
    case_id = case_in(engine, "US4", "legal_review")
    with Session(engine) as s:
        account_id = s.get_one(Case, case_id).account_id
    with Session(engine) as s, s.begin():
        regf.set_limitation_date(s, account_id=account_id, limitation_date=date(2026, 3, 11),
                                 basis="NY CPLR 214-i: three years from the last payment", actor="user:7")
    assert audits(engine, "regf.limitation_date") == 1
    threat = dict(channel="letter", content={"threatens_suit": True})
    assert verdict(engine, case_id, datetime(2026, 3, 10, 12, tzinfo=UTC), **threat) == []
    # the day of the limitation date, in the customer's zone (Asia/Shanghai here)
    assert verdict(engine, case_id, datetime(2026, 3, 10, 16, tzinfo=UTC), **threat) == ["time_barred_debt"]
    with frozen_at(datetime(2026, 3, 10, 15, 59, tzinfo=UTC)), Session(engine) as s:
        assert regf.time_barred(s, account_id, date(2026, 3, 10)) is None
    with frozen_at(datetime(2026, 3, 10, 16, 0, tzinfo=UTC)), Session(engine) as s, \
            pytest.raises(EscalationError, match=r"time_barred_debt \(12 CFR 1006.26\(b\)\).*2026-03-11"):
        escalation.decide(s, case_id=case_id, decision="proceed", note="file suit", by="lawyer")
    with frozen_at(datetime(2026, 3, 10, 16, 0, tzinfo=UTC)), Session(engine) as s, s.begin():
        escalation.decide(s, case_id=case_id, decision="withdraw", note="time-barred", by="lawyer")


class Letters:
    """A print house that accepts every letter."""

    def __init__(self) -> None:
        self.sent: list[Rendered] = []

    def send(self, message: OutgoingMessage, rendered: Rendered, recipient: Recipient) -> Delivery:
        self.sent.append(rendered)
        return Delivery("sent", f"print-{message.id}")


def test_validation_notice_from_the_first_conversation_to_its_delivery_record(engine: Engine) -> None:
    case_id, point_id, account_id, customer_id = us_case(engine, "US5")
    # the first conversation with the debtor, recorded by an agent, schedules the notice
    talk = NOON - timedelta(days=1)
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel="call", direction="inbound", party="debtor",
                                 started_at=talk, outcome="right_party_contact", rules=RULES)
    with Session(engine) as s:
        notice = regf.validation_notice(s, account_id)
        assert notice is not None and notice.first_communication_at == talk and notice.delivery == "due"
        assert notice.due_on == date(2026, 3, 14)  # 9 March in New York + 5 days
        assert regf.late_notices(s, now=datetime(2026, 3, 15, 3, 59, tzinfo=UTC)) == []  # 23:59 on the 14th
        late = regf.late_notices(s, now=datetime(2026, 3, 15, 4, 0, tzinfo=UTC))
        assert [(n.account_id, n.state) for n in late] == [(account_id, "late")]
        assert regf.may_furnish_account(s, account_id=account_id, now=NOON, pack=US).allowed  # spoken to
    # a later conversation keeps the first one
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel="call", direction="inbound", party="debtor",
                                 started_at=NOON, outcome="right_party_contact", rules=RULES)
        assert regf.validation_notice(s, account_id).first_communication_at == talk
    assert audits(engine, "regf.first_communication") == 1
    # the notice goes out by letter through the outbox worker; its delivery record follows
    figures = regf.ValidationFigures(date(2026, 2, 28), 250_000, interest=4_512, fees=3_900, payments_credits=10_000)
    payload = regf.validation_payload(figures, sent_on=date(2026, 3, 10), collector_name="Example Recovery",
                                      collector_address="PO Box 100, Albany, NY 12201",
                                      consumer_address="1 Main Street, Buffalo, NY 14201",
                                      creditor_itemization="Example Bank", creditor_current="Example Bank")
    with frozen_at(NOON - timedelta(hours=1)), Session(engine) as s, s.begin():
        ids = regf.enqueue_validation_notice(s, account_id=account_id, case_id=case_id, contact_point_id=point_id,
                                             method="letter", locale="en", payload=payload, actor="user:7")
    letters = Letters()
    stats = run_worker(engine, adapters={"letter": letters}, now=lambda: NOON, settings=settings(), pack=US,
                       once=True)
    assert stats.sent == 1, stats
    assert "is a debt collector" in letters.sent[0].body and "$ 2,484.12" in letters.sent[0].body
    with Session(engine) as s:
        notice = regf.validation_notice(s, account_id)
        assert (notice.method, notice.delivery, notice.sent_at, notice.outbox_message_id) == ("letter", "sent",
                                                                                                NOON, ids[0])
        assert regf.notice_state(notice.due_on, notice.sent_at, NY, NOON) == "sent"
    with Session(engine) as s, s.begin():
        regf.record_notice_delivery(s, account_id=account_id, delivered=False, at=NOON + timedelta(days=6),
                                    actor="user:7")
    with Session(engine) as s:
        assert s.execute(select(ValidationNotice.delivery)).scalar_one() == "returned"
        f = regf.may_furnish_account(s, account_id=account_id, now=NOON + timedelta(days=20), pack=US)
        # the debtor was spoken to on the 9th: reporting is allowed whatever happened to the notice
        assert f.allowed and "spoken" in f.reason
    assert audits(engine, "regf.notice_sent") == 1 and audits(engine, "regf.notice_returned") == 1


def test_a_chinese_customers_conversation_schedules_no_notice(engine: Engine) -> None:
    case_id, _ = case_with_point(engine, "CN1", "sms")
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel="call", direction="inbound", party="debtor",
                                 started_at=NOON, outcome="right_party_contact", rules=RULES)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(ValidationNotice)).scalar_one() == 0


def test_credit_reporting_waits_for_the_returned_notice_window(engine: Engine) -> None:
    case_id, point_id, account_id, _ = us_case(engine, "US6")
    with Session(engine) as s, s.begin():
        # a message delivered to the debtor is the initial communication under us-reg-f, not under cn
        assert regf.note_message(s, case_id=case_id, at=NOON, actor="worker", pack=load_default_pack("cn")) is None
        assert regf.note_message(s, case_id=case_id, at=NOON, actor="worker", pack=US).due_on == date(2026, 3, 15)
        regf.record_notice_sent(s, account_id=account_id, method="letter", sent_at=NOON, actor="user:7")
    with Session(engine) as s:
        early = regf.may_furnish_account(s, account_id=account_id, now=NOON + timedelta(days=14) - timedelta(seconds=1))
        assert not early.allowed and early.next_allowed_at == NOON + timedelta(days=14)
        assert regf.may_furnish_account(s, account_id=account_id, now=NOON + timedelta(days=14)).allowed
    with Session(engine) as s, s.begin():
        regf.record_notice_delivery(s, account_id=account_id, delivered=False, at=NOON + timedelta(days=3),
                                    actor="user:7")
    with Session(engine) as s:
        assert not regf.may_furnish_account(s, account_id=account_id, now=NOON + timedelta(days=30)).allowed
        assert s.execute(select(OutboxMessage)).first() is None


def test_the_regf_commands(engine: Engine, store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from arrears.cli import app
    from arrears.config import get_settings

    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    get_settings.cache_clear()
    runner = CliRunner()
    case_id, point_id, account_id, customer_id = us_case(engine, "US7", "email")
    try:
        r = runner.invoke(app, ["regf", "cease", "--customer", str(customer_id), "--received", "2026-03-10",
                                "--kind", "refusal_to_pay", "--channel", "email"])
        assert r.exit_code == 0, r.output
        assert verdict(engine, case_id, NOON) == ["cease_communication"]
        r = runner.invoke(app, ["regf", "cease", "--customer", str(customer_id), "--received", "2026-03-10",
                                "--channel", "phone"])
        assert r.exit_code == 1 and "field: channel" in r.output
        r = runner.invoke(app, ["regf", "workplace", "--contact-point", str(point_id), "--employer-provided"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["regf", "limitation", "--account", str(account_id), "--date", "2027-01-01",
                                "--basis", "NY CPLR 214-i"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["regf", "may-report", "--account", str(account_id)])
        assert r.exit_code == 2 and "may not be reported" in r.output and "1006.30(a)" in r.output
        with Session(engine) as s, s.begin():
            regf.record_first_communication(s, account_id=account_id, at=NOON, actor="user:7", pack=US)
        r = runner.invoke(app, ["regf", "late-notices"])
        assert r.exit_code == 0 and "US7" in r.output and "late" in r.output, r.output
    finally:
        get_settings.cache_clear()
    assert audits(engine, "regf.cease_recorded") == 1 and audits(engine, "regf.limitation_date") == 1


def test_the_validation_notice_may_itself_be_the_initial_communication(engine: Engine) -> None:
    case_id, point_id, account_id, _ = us_case(engine, "US8")
    figures = regf.ValidationFigures(date(2026, 2, 28), 120_000)
    payload = regf.validation_payload(figures, sent_on=date(2026, 3, 10), collector_name="Example Recovery",
                                      collector_address="PO Box 100, Albany, NY 12201",
                                      consumer_address="1 Main Street, Buffalo, NY 14201",
                                      creditor_itemization="Example Bank", creditor_current="Example Bank")
    enqueued = NOON - timedelta(hours=1)
    with frozen_at(enqueued), Session(engine) as s, s.begin():
        ids = regf.enqueue_validation_notice(s, account_id=account_id, case_id=case_id, contact_point_id=point_id,
                                             method="letter", locale="zh_CN", payload=payload, actor="user:7",
                                             pack=US)
    assert len(ids) == 2  # the Chinese notice goes with the English one
    letters = Letters()
    stats = run_worker(engine, adapters={"letter": letters}, now=lambda: NOON, settings=settings(), pack=US,
                       once=True)
    assert stats.sent == 2, stats
    assert {r.locale for r in letters.sent} == {"en", "zh_CN"}
    with Session(engine) as s:
        notice = regf.validation_notice(s, account_id)
        assert notice.first_communication_at == enqueued and notice.due_on == date(2026, 3, 15)
        assert (notice.delivery, notice.sent_at, notice.method, notice.locale) == ("sent", NOON, "letter", "zh_CN")
        assert regf.late_notices(s, now=NOON + timedelta(days=30)) == []
