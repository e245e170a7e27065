"""Charge-off approval (once per account, asked for by a task) and the recoveries report."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.cases import service as case_service
from arrears.cases.model import InvalidTransition
from arrears.cases.tables import Task
from arrears.escalation import service
from arrears.escalation.model import EscalationError
from arrears.escalation.tables import AgencyPlacement, ChargeOff
from arrears.kit.db import transaction
from tests.escalation.support import account_id, agencies, audits, escalated, pay, ready_to_place, status, task


def _approve(engine, case_id: int, on: date, by: str = "chen.committee") -> ChargeOff:
    with transaction(engine) as session:
        return service.approve_charge_off(session, case_id=case_id, by=by, on=on)


def test_approval_records_the_balance_and_moves_the_case(engine):
    case_id = escalated(engine, "ACC-CO", "follow_up", dpd=185, balance=3_456_789)
    task_id = task(engine, case_id, "charge_off")
    row = _approve(engine, case_id, date(2026, 3, 31))
    assert (row.charged_off_on, row.balance, row.dpd, row.task_id) == (date(2026, 3, 31), 3_456_789, 185, task_id)
    assert (row.requested_by, row.approved_by) == ("strategy:late-stage v1", "chen.committee")
    assert status(engine, case_id) == "charged_off"
    with Session(engine) as s:
        assert s.get(Task, task_id).status == "done"
    [audit] = audits(engine, "case.charged_off")
    assert audit.detail["balance_fen"] == 3_456_789 and audit.actor == "chen.committee"

    task(engine, case_id, "charge_off")                       # asked again: refused, the account is written off
    with pytest.raises(EscalationError, match="was charged off on 2026-03-31 .* an account is charged off once"):
        _approve(engine, case_id, date(2026, 4, 30))
    with Session(engine) as s:
        assert len(s.scalars(select(ChargeOff)).all()) == 1


def test_approval_needs_a_task_and_a_state_that_allows_it(engine):
    no_task = escalated(engine, "ACC-NT", "follow_up")
    with pytest.raises(EscalationError, match="has no open charge_off task"):
        _approve(engine, no_task, date(2026, 3, 31))
    too_early = escalated(engine, "ACC-EARLY", "contacting")
    task(engine, too_early, "charge_off")
    with pytest.raises(InvalidTransition, match="a case in 'contacting' cannot move to 'charged_off'"):
        _approve(engine, too_early, date(2026, 3, 31))
    with Session(engine) as s:
        assert s.scalars(select(ChargeOff)).all() == []
        assert {t.status for t in s.scalars(select(Task))} == {"open"}
    assert status(engine, too_early) == "contacting"


def _collect(engine, tmp_path, rows, name):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text("collection_ref,placement_id,account_ref,value_date,amount_fen\n"
                    + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    with transaction(engine) as session:
        service.load_collections(session, agency=agencies().get("huaxia"), path=path, actor="t")


def _placement(engine, ref: str) -> int:
    with Session(engine) as s:
        return s.scalars(select(AgencyPlacement.id).where(AgencyPlacement.account_id == account_id(engine, ref))).one()


def test_recoveries_by_charge_off_month_and_channel(engine, tmp_path):
    # X: placed with huaxia (DPD 120, 15 %) on 10 January, charged off on 31 January with the placement live
    x = escalated(engine, "ACC-X", "agency_placement", dpd=120)
    ready_to_place(engine, "huaxia", date(2026, 1, 10))
    with transaction(engine) as session:
        service.place_accounts(session, agency=agencies().get("huaxia"), on=date(2026, 1, 10), actor="t", role="admin",
                               reason="placement")
    _collect(engine, tmp_path, [("X-1", _placement(engine, "ACC-X"), "ACC-X", "2026-01-20", 4_000),   # before c/o
                                ("X-2", _placement(engine, "ACC-X"), "ACC-X", "2026-02-12", 5_000)], "x.csv")
    task(engine, x, "charge_off")
    _approve(engine, x, date(2026, 1, 31))
    # Y: charged off on 15 February, then placed with huaxia (DPD 200, 20 %)
    y = escalated(engine, "ACC-Y", "follow_up", dpd=200)
    task(engine, y, "charge_off")
    _approve(engine, y, date(2026, 2, 15))
    with transaction(engine) as session:
        case_service.transition(session, case_id=y, to_state="agency_placement", actor="cycle", reason="strategy")
    ready_to_place(engine, "huaxia", date(2026, 2, 16))
    with transaction(engine) as session:
        service.place_accounts(session, agency=agencies().get("huaxia"), on=date(2026, 2, 16), actor="t", role="admin",
                               reason="placement")
    _collect(engine, tmp_path, [("Y-1", _placement(engine, "ACC-Y"), "ACC-Y", "2026-03-01", 10_001)], "y.csv")
    escalated(engine, "ACC-Z", "follow_up")                  # never charged off
    pay(engine, "ACC-X", (date(2026, 1, 31), 100),           # on the charge-off day: not a recovery
        (date(2026, 2, 10), 1_000), (date(2026, 3, 5), 2_000))
    pay(engine, "ACC-Y", (date(2026, 2, 20), 500), (date(2026, 4, 1), 700))   # 1 April: after the period
    pay(engine, "ACC-Z", (date(2026, 2, 10), 9_999))

    with transaction(engine) as session:
        report = service.recoveries_report(session, first=date(2026, 2, 1), last=date(2026, 3, 31))
    assert [(x.charge_off_month, x.channel, x.items, x.gross, x.commission, x.net) for x in report.lines] == [
        ("2026-01", "direct", 2, 3_000, 0, 3_000),
        ("2026-01", "agency", 1, 5_000, 750, 4_250),
        ("2026-02", "direct", 1, 500, 0, 500),
        ("2026-02", "agency", 1, 10_001, 2_000, 8_001),      # 20 % of 100.01 = 20.002 -> 20.00
    ]
    assert report.total("direct") == (3_500, 0, 3_500)
    assert report.total("agency") == (15_001, 2_750, 12_251)
    assert report.total() == (18_501, 2_750, 15_751)

    with transaction(engine) as session:
        april = service.recoveries_report(session, first=date(2026, 4, 1), last=date(2026, 4, 30))
        assert [(x.charge_off_month, x.channel, x.gross) for x in april.lines] == [("2026-02", "direct", 700)]
        with pytest.raises(Exception, match="before --from"):
            service.recoveries_report(session, first=date(2026, 4, 2), last=date(2026, 4, 1))
