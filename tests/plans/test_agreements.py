"""Agreements in the store (SQLite and PostgreSQL): options from the case, four-eyes, confirmation,
immutability in the database, versions, the PDF copy and the audit trail."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from arrears.auth.model import Forbidden
from arrears.auth.service import verify
from arrears.auth.tables import AuditRecord, User
from arrears.cases.tables import Case, CaseTransition
from arrears.channels.tables import OutboxMessage
from arrears.kit.clock import frozen_at, utc_now
from arrears.plans import service
from arrears.plans.tables import PlanAgreement, PlanInstalment
from tests.plans.support import BALANCE, MOBILE, START, users, worked_case


@pytest.fixture
def people(engine: Engine) -> dict[str, User]:
    return users(engine)


def _make(engine: Engine, user: User, case_id: int, code: str, reason: str | None = None) -> int:
    with Session(engine, expire_on_commit=False) as s, s.begin():
        return service.create_agreement(s, case_id=case_id, user=user, option_code=code, reason=reason,
                                        business_date=START).id


def _get(engine: Engine, agreement_id: int) -> PlanAgreement:
    with Session(engine, expire_on_commit=False) as s:
        return s.get(PlanAgreement, agreement_id)  # type: ignore[return-value]


def _confirm_by_call(engine: Engine, user: User, agreement_id: int) -> PlanAgreement:
    with Session(engine, expire_on_commit=False) as s, s.begin():
        done = service.confirm_agreement(s, agreement_id=agreement_id, user=user, method="recorded_call",
                                         reference_="REC-2026-0131-17", business_date=START)
        assert done.error is None
        return done.agreement


def _actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(AuditRecord.action, AuditRecord.actor, AuditRecord.entity_id).order_by(AuditRecord.seq)).all()
            if r[0].startswith("plan.")]


def test_options_come_from_the_statement_snapshot_and_investigation(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    with Session(engine) as s:
        found = service.options_for_case(s, case_id=case_id, user=people["agent_east"], business_date=START)
    i = found.inputs
    assert (i.balance, i.overdue, i.minimum_due, i.dpd, i.affordable, i.willingness, i.cause) == (
        BALANCE, 360_000, 360_000, 95, 150_000, 4, "job_loss")
    by = {o.code: o for o in found.options}
    assert (by["inst_12"].total, str(by["inst_12"].annual_rate), by["inst_12"].fits_affordable) == (
        1_286_400, "13.03", True)
    assert (by["personalised"].months, by["personalised"].needs_approval, by["personalised"].approval_role) == (
        8, True, "team_lead")
    assert (by["settle_30"].approval_role, by["settle_10"].needs_approval) == ("supervisor", False)
    # an override of the affordable amount changes the personalised term: 12,000 / 1,000 = 12 months
    with Session(engine) as s:
        found = service.options_for_case(s, case_id=case_id, user=people["agent_east"], business_date=START,
                                         affordable=100_000)
    assert {o.code: o for o in found.options}["personalised"].months == 12


def test_an_option_not_offered_is_refused_with_its_reasons(engine: Engine, people) -> None:
    case_id = worked_case(engine, dpd=40, investigation=False)
    with Session(engine) as s, s.begin(), pytest.raises(service.OptionNotOffered) as err:
        service.create_agreement(s, case_id=case_id, user=people["agent_east"], option_code="settle_10",
                                 business_date=START)
    assert err.value.field == "option_code"
    assert "settlement is offered from 90 days past due; the account is 40" in err.value.message
    with Session(engine) as s, s.begin(), pytest.raises(service.OptionNotOffered) as err:
        service.create_agreement(s, case_id=case_id, user=people["agent_east"], option_code="personalised",
                                 reason="asked", business_date=START)
    assert "the affordable monthly amount is unknown" in err.value.message
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanFieldError, match="no option 'inst_99'"):
        service.create_agreement(s, case_id=case_id, user=people["agent_east"], option_code="inst_99",
                                 business_date=START)
    with engine.connect() as conn:
        assert conn.execute(select(PlanAgreement.id)).all() == []


def test_personalised_needs_a_reason_and_a_second_person_with_authority(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanFieldError) as err:
        service.create_agreement(s, case_id=case_id, user=people["supervisor"], option_code="personalised",
                                 reason="  ", business_date=START)
    assert err.value.field == "reason"
    agreement_id = _make(engine, people["supervisor"], case_id, "personalised", reason="失业后收入下降，愿意分期还款")
    a = _get(engine, agreement_id)
    assert (a.status, a.total, a.months, a.approval_role, a.reason) == (
        "pending_approval", BALANCE, 8, "team_lead", "失业后收入下降，愿意分期还款")
    assert a.investigation_id is not None and a.affordable == 150_000
    # the author cannot approve their own agreement, an agent has no authority
    for who, match in (("supervisor", "four-eyes"), ("agent_east", "needs a team_lead or above")):
        with Session(engine) as s, s.begin(), pytest.raises(Forbidden, match=match):
            service.approve_agreement(s, agreement_id=agreement_id, user=people[who])
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanConflict, match="approval first"):
        service.confirm_agreement(s, agreement_id=agreement_id, user=people["agent_east"], method="recorded_call",
                                  reference_="REC-1", business_date=START)
    with Session(engine, expire_on_commit=False) as s, s.begin():
        a = service.approve_agreement(s, agreement_id=agreement_id, user=people["lead_east"])
    assert (a.status, a.approved_by) == ("awaiting_confirmation", people["lead_east"].id)
    assert "审批人：lead_east" in a.terms_text
    # the database refuses a self-approval too
    with engine.begin() as conn, pytest.raises(DBAPIError):
        conn.execute(text("UPDATE plan_agreements SET approved_by = created_by WHERE id = :i"), {"i": agreement_id})


def test_a_discount_above_the_approvers_limit_is_refused(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    agreement_id = _make(engine, people["agent_east"], case_id, "settle_30")
    assert _get(engine, agreement_id).status == "pending_approval"
    with Session(engine) as s, s.begin(), pytest.raises(Forbidden, match="needs a supervisor or above"):
        service.approve_agreement(s, agreement_id=agreement_id, user=people["lead_east"])
    with Session(engine, expire_on_commit=False) as s, s.begin():
        assert service.approve_agreement(s, agreement_id=agreement_id, user=people["supervisor"]).status == \
            "awaiting_confirmation"
    a = _get(engine, agreement_id)
    assert (a.total, a.waived, a.discount_percent, a.annual_rate) == (840_000, 360_000, "30", None)


def test_confirmation_by_sms_code(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    agreement_id = _make(engine, people["agent_east"], case_id, "inst_12")
    agent = people["agent_east"]
    with Session(engine, expire_on_commit=False) as s, s.begin():
        sent = service.send_confirmation_code(s, agreement_id=agreement_id, user=agent)
    with engine.connect() as conn:
        msg = conn.execute(select(OutboxMessage)).one()
        stored = conn.execute(select(PlanAgreement.code_hash, PlanAgreement.code_expires_at)).one()
    code = msg.payload["code"]
    assert len(code) == 6 and code.isdigit() and stored.code_hash != code and len(stored.code_hash) == 64
    assert (msg.channel, msg.template, msg.status, msg.contact_point_id) == (
        "sms", "plan.confirmation_code", "pending", sent.contact_point.id)
    assert sent.contact_point.value == MOBILE
    assert stored.code_expires_at - utc_now() <= timedelta(minutes=15)
    wrong = "000000" if code != "000000" else "111111"
    with Session(engine) as s, s.begin():
        done = service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="sms_code", code=wrong,
                                         business_date=START)
    assert (done.code, done.field, done.error) == ("wrong_code", "code", "wrong code (4 attempts left)")
    with frozen_at(utc_now() + timedelta(minutes=16)), Session(engine) as s, s.begin():
        done = service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="sms_code", code=code,
                                         business_date=START)
    assert done.code == "code_expired"
    with Session(engine) as s, s.begin():
        done = service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="sms_code", code=code,
                                         business_date=START)
    assert done.error is None
    a = _get(engine, agreement_id)
    assert (a.status, a.confirmation_method, a.confirmed_by, a.code_attempts) == ("active", "sms_code", agent.id, 1)
    assert "确认方式：短信验证码" in a.terms_text and code not in a.terms_text
    with engine.connect() as conn:
        assert conn.execute(select(Case.status).where(Case.id == case_id)).scalar_one() == "plan_active"


def test_too_many_wrong_codes_lock_the_code_out(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    agreement_id = _make(engine, people["agent_east"], case_id, "inst_6")
    agent = people["agent_east"]
    with Session(engine) as s, s.begin():
        service.send_confirmation_code(s, agreement_id=agreement_id, user=agent)
    with engine.connect() as conn:
        code = conn.execute(select(OutboxMessage.payload)).scalar_one()["code"]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(service.MAX_CODE_ATTEMPTS):
        with Session(engine) as s, s.begin():
            assert service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="sms_code", code=wrong,
                                             business_date=START).code == "wrong_code"
    with Session(engine) as s, s.begin():
        done = service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="sms_code", code=code,
                                         business_date=START)
    assert done.code == "too_many_attempts"
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanConflict, match="too many wrong codes"):
        service.send_confirmation_code(s, agreement_id=agreement_id, user=agent)
    assert _get(engine, agreement_id).status == "awaiting_confirmation"
    # another way still works
    assert _confirm_by_call(engine, agent, agreement_id).status == "active"


def test_no_code_without_a_verified_mobile(engine: Engine, people) -> None:
    case_id = worked_case(engine, mobile=False)
    agreement_id = _make(engine, people["agent_east"], case_id, "inst_6")
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanConflict, match="no verified mobile"):
        service.send_confirmation_code(s, agreement_id=agreement_id, user=people["agent_east"])


def test_confirmation_by_recorded_call_activates_and_moves_the_case(engine: Engine, people) -> None:
    case_id = worked_case(engine, state="contacting")
    agent = people["agent_east"]
    agreement_id = _make(engine, agent, case_id, "inst_12")
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanFieldError) as err:
        service.confirm_agreement(s, agreement_id=agreement_id, user=agent, method="recorded_call",
                                  business_date=START)
    assert err.value.field == "reference"
    a = _confirm_by_call(engine, agent, agreement_id)
    assert (a.status, a.confirmation_method, a.confirmation_ref) == ("active", "recorded_call", "REC-2026-0131-17")
    with engine.connect() as conn:
        moves = conn.execute(select(CaseTransition.from_state, CaseTransition.to_state)
                             .where(CaseTransition.case_id == case_id).order_by(CaseTransition.id)).all()
        rows = conn.execute(select(PlanInstalment.number, PlanInstalment.due_date, PlanInstalment.amount,
                                   PlanInstalment.reminder_on).order_by(PlanInstalment.number)).all()
    assert [tuple(m) for m in moves][-2:] == [("contacting", "negotiating"), ("negotiating", "plan_active")]
    assert len(rows) == 12 and sum(r.amount for r in rows) == 1_286_400
    assert (rows[0].due_date.isoformat(), rows[0].reminder_on.isoformat()) == ("2026-02-28", "2026-02-25")
    assert (rows[11].due_date.isoformat(), rows[11].amount) == ("2027-01-31", 107_200)
    # a second agreement while one runs is refused: revise it instead
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanConflict, match="revise it first"):
        service.create_agreement(s, case_id=case_id, user=agent, option_code="inst_6", business_date=START)
    acts = _actions(engine)
    assert [x[0] for x in acts] == ["plan.agreement_create", "plan.agreement_confirm"]
    assert {x[1] for x in acts} == {"agent_east"} and {x[2] for x in acts} == {str(agreement_id)}
    with Session(engine) as s:
        assert verify(s) == []


@pytest.mark.parametrize("statement", [
    "UPDATE plan_agreements SET total = total - 100",
    "UPDATE plan_agreements SET terms_text = 'changed'",
    "UPDATE plan_agreements SET annual_rate = '1.00'",
    "UPDATE plan_agreements SET pdf = pdf || pdf",
    "DELETE FROM plan_agreements",
    "UPDATE plan_instalments SET amount = amount - 1, principal = principal - 1",
    "UPDATE plan_instalments SET due_date = due_date + 1",
    "DELETE FROM plan_instalments",
])
def test_the_database_refuses_to_edit_a_confirmed_agreement(engine: Engine, people, statement: str) -> None:
    case_id = worked_case(engine)
    agreement_id = _make(engine, people["agent_east"], case_id, "inst_12")
    _confirm_by_call(engine, people["agent_east"], agreement_id)
    if "due_date + 1" in statement and engine.dialect.name == "sqlite":
        statement = "UPDATE plan_instalments SET due_date = '2030-01-01'"
    with engine.begin() as conn, pytest.raises(DBAPIError, match="never edited"):
        conn.execute(text(statement))
    # what monitoring keeps up to date stays writable
    with engine.begin() as conn:
        conn.execute(text("UPDATE plan_agreements SET status = 'broken', end_reason = 'test'"))
        conn.execute(text("UPDATE plan_instalments SET paid = 100, status = 'part_paid'"))
    a = _get(engine, agreement_id)
    assert (a.total, a.status) == (1_286_400, "broken")


def test_a_draft_is_not_frozen_and_can_be_cancelled(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    agreement_id = _make(engine, people["agent_east"], case_id, "inst_12")
    with engine.begin() as conn:  # not confirmed: the trigger lets it through
        conn.execute(text("UPDATE plan_agreements SET terms_locale = 'en'"))
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanFieldError):
        service.cancel_agreement(s, agreement_id=agreement_id, user=people["agent_east"], reason=" ")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        a = service.cancel_agreement(s, agreement_id=agreement_id, user=people["agent_east"],
                                     reason="customer changed mind")
    assert (a.status, a.end_reason) == ("cancelled", "customer changed mind")
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanConflict):
        service.cancel_agreement(s, agreement_id=agreement_id, user=people["agent_east"], reason="again")
    assert [x[0] for x in _actions(engine)] == ["plan.agreement_create", "plan.agreement_cancel"]


def test_a_revision_is_a_new_version_and_supersedes_the_old_once_confirmed(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    agent = people["agent_east"]
    v1 = _make(engine, agent, case_id, "inst_12")
    with Session(engine) as s, s.begin(), pytest.raises(service.PlanConflict, match="only an active"):
        service.revise_agreement(s, agreement_id=v1, user=agent, option_code="inst_24", business_date=START)
    _confirm_by_call(engine, agent, v1)
    with Session(engine, expire_on_commit=False) as s, s.begin():
        v2 = service.revise_agreement(s, agreement_id=v1, user=agent, option_code="inst_24", business_date=START)
    assert (v2.version, v2.supersedes_id, v2.status, v2.total) == (2, v1, "awaiting_confirmation", 1_351_200)
    assert "取代 C" in v2.terms_text and f"C{case_id}-V1" in v2.terms_text
    assert _get(engine, v1).status == "active"  # still running until v2 is confirmed
    _confirm_by_call(engine, agent, v2.id)
    old, new = _get(engine, v1), _get(engine, v2.id)
    assert (old.status, old.end_reason, new.status) == ("superseded", "replaced by version 2", "active")
    assert old.total == 1_286_400  # the old version is unchanged
    assert [x[0] for x in _actions(engine)][-2:] == ["plan.agreement_superseded", "plan.agreement_confirm"]


def test_the_pdf_holds_the_chinese_terms_and_the_amounts(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    agreement_id = _make(engine, people["supervisor"], case_id, "personalised", reason="失业，愿意还款")
    with Session(engine) as s, s.begin():
        service.approve_agreement(s, agreement_id=agreement_id, user=people["lead_east"])
    a = _confirm_by_call(engine, people["agent_east"], agreement_id)
    assert a.pdf.startswith(b"%PDF") and service.sha256_hex(a.pdf) == a.pdf_sha256
    text_ = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(a.pdf)).pages)
    for needle in ("个性化分期还款协议", "持卡人：测试客户", "信用卡账户：****0001", "2026-02-28", "2026-09-30",
                   "1,500.00", "应还总额：12,000.00 元", "年化利率：0.00%", "宽限期", "同时有 2 期未还款的",
                   "失业，愿意还款", "确认方式：电话录音（REC-2026-0131-17）"):
        assert needle in text_, needle
    assert text_.count("1,500.00") >= 9  # 8 instalments and the total line's largest payment


def test_english_terms(engine: Engine, people) -> None:
    case_id = worked_case(engine)
    with Session(engine, expire_on_commit=False) as s, s.begin():
        a = service.create_agreement(s, case_id=case_id, user=people["agent_east"], option_code="inst_12",
                                     locale="en", business_date=START)
    assert "Annualised rate: 13.03% (internal rate of return" in a.terms_text
    assert "12 | 2027-01-31 | 1,000.00 | 72.00 | 0.00 | 0.00 | 1,072.00" in a.terms_text
    assert "Total payable: CNY 12,864.00" in a.terms_text
