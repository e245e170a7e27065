"""The guided call script: investigation → options → agreement → confirmation → outcome and next step,
every write through the domain services (records, audit, the compliance gate)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Appointment, Case, Interaction, Investigation, Promise
from arrears.channels.tables import OutboxMessage
from arrears.contact.tables import ContactDecision
from arrears.kit.clock import frozen_at
from arrears.plans.tables import PlanAgreement, PlanInstalment
from tests.api.conftest import Api
from tests.plans.support import worked_case
from tests.web.support import page_csrf, sign_in

#: Monday 2 February 2026, 10:00 in Shanghai: inside the hours a call is allowed.
DAYTIME = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)
#: The same day at 23:00 in Shanghai: quiet hours.
NIGHT = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


def _one(api: Api, stmt):  # type: ignore[no-untyped-def]
    with Session(api.engine, expire_on_commit=False) as session:
        return session.scalars(stmt).one()


def _actions(api: Api) -> list[str]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(AuditRecord.action).where(AuditRecord.actor == "agent_east")
                                 .order_by(AuditRecord.seq)).scalars())


def test_investigation_options_agreement_and_outcome(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-WEB-0001", investigation=False)
        client = sign_in(api, "agent_east")
        token = page_csrf(client, f"/case/{case_id}")
        h = {**HX, "X-CSRF-Token": token}
        for step in ("greeting", "explain", "reason", "investigation", "options", "agreement", "next"):
            r = client.get(f"/case/{case_id}/script/{step}", headers=HX)
            assert r.status_code == 200 and "<html" not in r.text, step
        assert "3,600.00" in client.get(f"/case/{case_id}/script/explain", headers=HX).text  # the amount overdue

        r = client.post(f"/case/{case_id}/script/investigation", headers=h, data={
            "cause": "job_loss", "monthly_income": "3,000.00", "essential_spending": "0", "other_debt_payments": "0",
            "dependants": "0", "willingness": "4", "notes": "失业三个月"})
        assert r.status_code == 200, r.text
        inv = _one(api, select(Investigation).where(Investigation.case_id == case_id))
        assert (inv.cause, inv.monthly_income, inv.version, inv.affordable_monthly) == ("job_loss", 300_000, 1, 150_000)
        assert 'value="inst_12"' in r.text  # the options step follows, side by side

        r = client.post(f"/case/{case_id}/script/agreement", headers=h, data={"option_code": "inst_12"})
        assert r.status_code == 200, r.text
        agreement = _one(api, select(PlanAgreement).where(PlanAgreement.case_id == case_id))
        with api.engine.connect() as conn:
            rows = conn.execute(select(PlanInstalment.amount).where(PlanInstalment.agreement_id == agreement.id)
                                ).scalars().all()
        assert (agreement.status, agreement.product_code, agreement.total, len(rows)) == (
            "awaiting_confirmation", "inst_12", 1_286_400, 12)
        assert "12,864.00" in r.text

        r = client.post(f"/case/{case_id}/script/confirm", headers=h, data={
            "agreement_id": agreement.id, "method": "recorded_call", "reference": "REC-2026-0001"})
        assert r.status_code == 200, r.text
        with api.engine.connect() as conn:
            assert conn.execute(select(PlanAgreement.status).where(PlanAgreement.id == agreement.id)).scalar_one() \
                == "active"
            assert conn.execute(select(Case.status).where(Case.id == case_id)).scalar_one() == "plan_active"
            mobile = conn.execute(select(Interaction.id)).first()
        assert mobile is None

        r = client.post(f"/case/{case_id}/script/outcome", headers=h, data={
            "outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-2026-0001",
            "notes": "同意分期", "next_step": "promise", "promise_amount": "1072.00", "promise_date": "2026-02-28"})
        assert r.status_code == 200, r.text
        interaction = _one(api, select(Interaction).where(Interaction.case_id == case_id))
        promise = _one(api, select(Promise).where(Promise.case_id == case_id))
        assert (interaction.outcome, interaction.channel, interaction.agent_id) == (
            "promise_to_pay", "call", api.user_ids["agent_east"])
        assert (promise.amount, promise.promised_date, promise.interaction_id) == (107_200, date(2026, 2, 28),
                                                                                    interaction.id)
        r = client.post(f"/case/{case_id}/script/outcome", headers=h, data={
            "outcome": "callback_requested", "party": "debtor", "recording_ref": "REC-2026-0002",
            "next_step": "appointment", "appointment_date": "2026-02-03", "appointment_from": "19:00",
            "appointment_to": "20:00"})
        assert r.status_code == 200, r.text
        appt = _one(api, select(Appointment).where(Appointment.case_id == case_id))
        assert (appt.window_start, appt.window_end) == (datetime(2026, 2, 3, 11, tzinfo=UTC),
                                                        datetime(2026, 2, 3, 12, tzinfo=UTC))
        page = client.get(f"/case/{case_id}")
        assert page.status_code == 200 and "REC-2026" not in page.text
    actions = _actions(api)
    for expected in ("investigation.create", "plan.agreement_create", "plan.agreement_confirm", "interaction.create",
                     "promise.create", "appointment.create"):
        assert expected in actions, expected


def test_a_call_the_gate_blocks_is_logged_and_nothing_else_written(api: Api) -> None:
    with frozen_at(NIGHT):
        client = sign_in(api, "agent_east")
        page = client.get(f"/case/{api.east_case}")
        assert page.status_code == 200 and "quiet" in page.text.lower() or "禁止" in page.text
        token = page_csrf(client, f"/case/{api.east_case}")
        r = client.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
            "outcome": "no_answer", "party": "nobody", "recording_ref": "REC-N", "next_step": "promise",
            "promise_amount": "100", "promise_date": "2026-02-10"})
        assert r.status_code == 409 and 'role="alert"' in r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.id)).first() is None
        assert conn.execute(select(Promise.id)).first() is None
        decision = conn.execute(select(ContactDecision.allowed, ContactDecision.source)).one()
    assert tuple(decision) == (False, "interaction")


def test_a_bad_form_changes_nothing(api: Api) -> None:
    with frozen_at(DAYTIME):
        client = sign_in(api, "agent_east")
        token = page_csrf(client, f"/case/{api.east_case}")
        r = client.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
            "outcome": "promise_to_pay", "party": "debtor", "recording_ref": "REC-1", "next_step": "promise",
            "promise_amount": "-5", "promise_date": "2026-02-10"})
        assert r.status_code == 422 and "promise_amount" in r.text
        r = client.post(f"/case/{api.east_case}/script/investigation", headers={**HX, "X-CSRF-Token": token}, data={
            "cause": "job_loss", "monthly_income": "lots", "essential_spending": "0"})
        assert r.status_code == 422
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.id)).first() is None
        assert conn.execute(select(Investigation.id)).first() is None


def test_read_only_roles_see_the_script_without_its_forms(api: Api) -> None:
    auditor = sign_in(api, "auditor")
    r = auditor.get(f"/case/{api.east_case}/script/next", headers=HX)
    assert r.status_code == 200 and "/script/outcome" not in r.text
    token = page_csrf(auditor, f"/case/{api.east_case}")
    r = auditor.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token},
                     data={"outcome": "no_answer"})
    assert r.status_code == 403


def test_four_eyes_and_the_sms_code_through_the_script(api: Api) -> None:
    with frozen_at(DAYTIME):
        case_id = worked_case(api.engine, "ACC-WEB-0002")
        client = sign_in(api, "agent_east")
        h = {**HX, "X-CSRF-Token": page_csrf(client, f"/case/{case_id}")}
        r = client.post(f"/case/{case_id}/script/agreement", headers=h, data={"option_code": "personalised"})
        assert r.status_code == 422 and r.headers["HX-Retarget"] == "#flash" and "reason" in r.text
        r = client.post(f"/case/{case_id}/script/agreement", headers=h,
                        data={"option_code": "personalised", "reason": "失业，愿意分期还款"})
        assert r.status_code == 200 and "team_lead" in r.text  # waits for a second person
        agreement = _one(api, select(PlanAgreement).where(PlanAgreement.case_id == case_id))
        assert agreement.status == "pending_approval"
        assert api.post("lead_east", f"/agreements/{agreement.id}/approve", json={}).status_code == 200
        r = client.post(f"/case/{case_id}/script/send-code", headers=h, data={"agreement_id": agreement.id})
        assert r.status_code == 200 and "139****5678" in r.text and "13912345678" not in r.text
        with api.engine.connect() as conn:
            code = conn.execute(select(OutboxMessage.payload)).scalar_one()["code"]
        wrong = "000000" if code != "000000" else "111111"
        r = client.post(f"/case/{case_id}/script/confirm", headers=h,
                        data={"agreement_id": agreement.id, "method": "sms_code", "code": wrong})
        assert r.status_code == 400 and 'role="alert"' in r.text
        assert _one(api, select(PlanAgreement).where(PlanAgreement.id == agreement.id)).code_attempts == 1  # kept
        r = client.post(f"/case/{case_id}/script/confirm", headers=h,
                        data={"agreement_id": agreement.id, "method": "sms_code", "code": code})
        assert r.status_code == 200
        assert _one(api, select(PlanAgreement).where(PlanAgreement.id == agreement.id)).status == "active"
        other = sign_in(api, "agent_west")
        r = other.post(f"/case/{case_id}/script/confirm", headers={**HX, "X-CSRF-Token": page_csrf(other)},
                       data={"agreement_id": agreement.id, "method": "recorded_call", "reference": "X"})
        assert r.status_code == 404


def test_an_appointment_can_be_cancelled_from_the_case_page(api: Api) -> None:
    with frozen_at(DAYTIME):
        client = sign_in(api, "agent_east")
        token = page_csrf(client, f"/case/{api.east_case}")
        r = client.post(f"/case/{api.east_case}/script/outcome", data={
            "csrf_token": token, "outcome": "callback_requested", "party": "debtor", "recording_ref": "REC-9",
            "contact_point_id": api.contact_points["phone"], "next_step": "appointment",
            "appointment_date": "2026-02-04", "appointment_from": "18:30", "appointment_to": "19:30"})
        assert r.status_code == 303 and r.headers["location"] == f"/case/{api.east_case}?step=next#script"
        appt = _one(api, select(Appointment).where(Appointment.case_id == api.east_case))
        page = client.get(f"/case/{api.east_case}").text
        assert f"/appointments/{appt.id}/cancel" in page
        r = client.post(f"/case/{api.east_case}/appointments/{appt.id}/cancel", data={"csrf_token": token})
        assert r.status_code == 303
        assert _one(api, select(Appointment).where(Appointment.id == appt.id)).status == "cancelled"
    assert "appointment.cancel" in _actions(api)


def test_a_dispute_stops_contact_until_a_second_person_reviews_it(api: Api) -> None:
    from arrears.cases.tables import HoldReview

    with frozen_at(DAYTIME):
        agent = sign_in(api, "agent_east")
        token = page_csrf(agent, f"/case/{api.east_case}")
        r = agent.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token}, data={
            "outcome": "dispute", "party": "debtor", "recording_ref": "REC-D", "next_step": "none"})
        assert r.status_code == 200, r.text
        review = _one(api, select(HoldReview).where(HoldReview.case_id == api.east_case))
        page = agent.get(f"/case/{api.east_case}").text
        assert "contact is stopped" not in page and "联系已停止" in page and "/hold-reviews/" not in page
        assert agent.post(f"/case/{api.east_case}/hold-reviews/{review.id}",
                          data={"csrf_token": token, "note": "x"}).status_code == 403
        lead = sign_in(api, "lead_east")
        assert f"/hold-reviews/{review.id}" in lead.get(f"/case/{api.east_case}").text
        r = lead.post(f"/case/{api.east_case}/hold-reviews/{review.id}",
                      data={"csrf_token": page_csrf(lead, f"/case/{api.east_case}"), "note": "核实有异议",
                            "lift_hold_on": "2026-02-05"})
        assert r.status_code == 303
        assert _one(api, select(HoldReview).where(HoldReview.id == review.id)).status == "reviewed"
    with api.engine.connect() as conn:
        assert conn.execute(select(AuditRecord.actor).where(AuditRecord.action == "hold.review")).scalar_one() \
            == "lead_east"
