"""The legal review queue, the case bundle (contents, manifest, determinism, audit) and decisions."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.cases import service as case_service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Interaction
from arrears.escalation import service
from arrears.escalation.model import EscalationError
from arrears.escalation.tables import LegalReferral
from arrears.kit.clock import frozen_at, utc_now
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError
from arrears.plans import service as plan_service
from arrears.plans.tables import PlanAgreement
from tests.escalation.support import audits, escalated, pay, status
from tests.plans.support import START, users, worked_case


def _to_legal(engine, case_id: int) -> None:
    with transaction(engine) as session:
        case_service.transition(session, case_id=case_id, to_state="legal_review", actor="cycle", reason="strategy")


def _bundle(engine, case_id: int) -> service.Bundle:
    with transaction(engine) as session:
        return service.build_bundle(session, case_id=case_id, actor="cli:lawyer", role="compliance",
                                    reason="legal review")


def _decide(engine, case_id: int, decision: str, note: str = "reviewed") -> LegalReferral:
    with transaction(engine) as session:
        return service.decide(session, case_id=case_id, decision=decision, note=note, by="zhang.lawyer")


def test_queue_lists_cases_in_legal_review_with_days_waiting(engine):
    with frozen_at(datetime(2026, 3, 1, 2, 0, tzinfo=UTC)):      # 10:00 in Shanghai
        old = escalated(engine, "ACC-OLD", "legal_review", dpd=200, balance=2_000_000)
    with frozen_at(datetime(2026, 3, 8, 17, 0, tzinfo=UTC)):     # 01:00 on 9 March in Shanghai
        new = escalated(engine, "ACC-NEW", "legal_review", dpd=150, balance=800_000)
    escalated(engine, "ACC-OTHER", "follow_up")
    with transaction(engine) as session:
        rows = service.legal_queue(session, on=date(2026, 3, 11))
    assert rows == [
        service.QueueRow(old, "ACC-OLD", date(2026, 3, 1), 10, 2_000_000, 200, None),
        service.QueueRow(new, "ACC-NEW", date(2026, 3, 9), 2, 800_000, 150, None),
    ]
    _decide(engine, old, "proceed")
    with transaction(engine) as session:
        assert [r.referral for r in service.legal_queue(session, on=date(2026, 3, 11))] == ["proceed", None]


def test_bundle_contents_manifest_and_determinism(engine):
    people = users(engine)
    agent = people["agent_east"]
    case_id = worked_case(engine, state="contacting")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        agreement = plan_service.create_agreement(s, case_id=case_id, user=agent, option_code="inst_12",
                                                  business_date=START)
        plan_service.confirm_agreement(s, agreement_id=agreement.id, user=agent, method="recorded_call",
                                       reference_="REC-1", business_date=START)
    with transaction(engine) as session:
        session.add(Interaction(case_id=case_id, channel="call", direction="outbound", party="debtor",
                                started_at=datetime(2026, 2, 3, 3, 0, tzinfo=UTC), outcome="promise_to_pay",
                                notes="will pay on Friday", agent_id=agent.id, created_at=utc_now()))
        case_service.transition(session, case_id=case_id, to_state="follow_up", actor="plan-monitor",
                                reason="plan broken")
        case_service.record_promise(session, case_id=case_id, amount=50_000, promised_date=date(2026, 3, 6),
                                    created_on=date(2026, 3, 2), created_by="user:1", rules=load_default_case_rules())
        case_service.transition(session, case_id=case_id, to_state="legal_review", actor="cycle", reason="strategy")
    pay(engine, "ACC-PLAN-0001", (date(2026, 2, 27), 107_200), (date(2026, 3, 3), 20_000))

    first = _bundle(engine, case_id)
    second = _bundle(engine, case_id)
    assert first.content == second.content and first.sha256 == second.sha256
    assert first.sha256 == hashlib.sha256(first.content).hexdigest()

    zf = zipfile.ZipFile(io.BytesIO(first.content))
    with Session(engine) as s:
        agreement_row = s.get(PlanAgreement, agreement.id)
        pdf, terms = agreement_row.pdf, agreement_row.terms_text
        referral = s.scalars(select(LegalReferral).where(LegalReferral.case_id == case_id)).one()
    stem = f"agreements/agreement-{agreement.id}-v1"
    names = zf.namelist()
    assert names == sorted(names)
    assert set(names) == {
        "account.json", f"{stem}.pdf", f"{stem}.txt", "agreements.csv", "contact_decisions.csv", "instalments.csv",
        "interactions.csv", "manifest.json", "messages.csv", "payments.csv", "promises.csv", "statements.csv",
        "tasks.csv", "transitions.csv"}
    assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["case_id"], manifest["account_ref"], manifest["referral_id"]) == (case_id, "ACC-PLAN-0001",
                                                                                       referral.id)
    assert [f["name"] for f in manifest["files"]] == sorted(set(names) - {"manifest.json"})
    for f in manifest["files"]:
        data = zf.read(f["name"])
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)

    assert zf.read(f"{stem}.pdf") == pdf and zf.read(f"{stem}.pdf").startswith(b"%PDF")
    assert zf.read(f"{stem}.txt").decode() == terms
    account = json.loads(zf.read("account.json"))
    assert account["customer"]["national_id"] == "11010519491231002X"        # unmasked, for the lawyers
    assert account["contact_points"][0]["value"] == "13912345678"

    def table(name: str) -> list[str]:
        return zf.read(name).decode().splitlines()

    assert table("statements.csv")[0].startswith("id,account_id,statement_date,due_date,new_balance")
    assert "1200000" in table("statements.csv")[1]
    assert [line.split(",")[4] for line in table("payments.csv")[1:]] == ["2026-02-27", "2026-03-03"]
    assert len(table("instalments.csv")) == 13
    agreements_csv = table("agreements.csv")
    assert len(agreements_csv) == 2 and "terms_text" not in agreements_csv[0] and ",pdf," not in agreements_csv[0]
    assert "will pay on Friday" in zf.read("interactions.csv").decode()
    transitions = table("transitions.csv")
    assert [line.split(",")[3] for line in transitions[1:]] == [
        "new", "contacting", "negotiating", "plan_active", "follow_up", "legal_review"]
    assert "50000" in table("promises.csv")[1]
    assert referral.bundle_sha256 == first.sha256
    built = audits(engine, "legal.bundle_built")
    assert [a.detail["sha256"] for a in built] == [first.sha256, first.sha256]
    assert {a.actor for a in built} == {"cli:lawyer"} and built[0].entity_id == str(case_id)

    pay(engine, "ACC-PLAN-0001", (date(2026, 3, 9), 1_000))     # new data, new bytes
    assert _bundle(engine, case_id).sha256 != first.sha256


def test_decisions_move_the_case_and_refuse_what_is_not_allowed(engine):
    proceeding = escalated(engine, "ACC-L1", "legal_review")
    returned = escalated(engine, "ACC-L2", "legal_review")
    elsewhere = escalated(engine, "ACC-L3", "follow_up")

    r = _decide(engine, proceeding, "proceed", "file the claim")
    assert (r.status, r.decided_by, r.decision_note) == ("proceed", "zhang.lawyer", "file the claim")
    assert status(engine, proceeding) == "legal_review"
    with pytest.raises(EscalationError, match="a legal referral that is 'proceed' cannot be decided 'return'"):
        _decide(engine, proceeding, "return")
    assert _decide(engine, proceeding, "withdraw", "settled").status == "withdrawn"
    assert status(engine, proceeding) == "follow_up"
    with pytest.raises(EscalationError, match=f"case {proceeding} is 'follow_up', not in legal_review"):
        _decide(engine, proceeding, "proceed")

    assert _decide(engine, returned, "return", "no assets").status == "returned"
    assert status(engine, returned) == "follow_up"
    with pytest.raises(EscalationError, match="not in legal_review"):
        _decide(engine, elsewhere, "return")
    with pytest.raises(EscalationError, match="not in legal_review"):
        _bundle(engine, elsewhere)
    with pytest.raises(ArrearsError, match="needs a note"):
        _decide(engine, returned, "return", " ")
    with pytest.raises(EscalationError, match="unknown decision"):
        _decide(engine, escalated(engine, "ACC-L4", "legal_review"), "sue")

    # back in legal review later: a new referral, the old ones kept
    _to_legal(engine, returned)
    assert _decide(engine, returned, "proceed").status == "proceed"
    with Session(engine) as s:
        statuses = s.scalars(select(LegalReferral.status).where(LegalReferral.case_id == returned)
                             .order_by(LegalReferral.id)).all()
    assert statuses == ["returned", "proceed"]
    assert [a.action for a in audits(engine, "legal.returned")] == ["legal.returned"]
