"""Cases through the real daily cycle: opened in ``new``, cured, reopened in place, on both stores."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arrears.batch.cycle import run_cycle
from arrears.cases import service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Case, CaseTransition
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.tables import DelinquencySnapshot
from tests.factories import LedgerLoad, load

RULES = DelinquencyRules()


def the_case(engine: Engine) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(select(
            Case.id, Case.status, Case.opened_on, Case.closed_on, Case.reopened_on, Case.reopen_count, Case.bucket,
        )).one())


def history(engine: Engine, case_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(CaseTransition.from_state, CaseTransition.to_state, CaseTransition.actor,
                   CaseTransition.cycle_run_id.is_not(None))
            .where(CaseTransition.case_id == case_id).order_by(CaseTransition.id)).all()]


def delinquent_then_cured(engine: Engine) -> int:
    load(engine, LedgerLoad(accounts=["A1"], statements=[("A1", date(2026, 1, 5), date(2026, 1, 25), 50_000, 0)]))
    first = run_cycle(engine, business_date=date(2026, 2, 10), rules=RULES)
    assert first.cases_opened == 1
    case_id = the_case(engine)[0]
    return case_id


def test_the_cycle_opens_in_new_cures_and_reopens_the_same_case(engine: Engine) -> None:
    case_id = delinquent_then_cured(engine)
    assert the_case(engine) == (case_id, "new", date(2026, 2, 10), None, None, 0, "M1")
    load(engine, LedgerLoad(payments=[("P1", "A1", date(2026, 2, 11), 50_000)]))
    cured = run_cycle(engine, business_date=date(2026, 2, 11), rules=RULES)
    assert (cured.cases_closed, cured.cases_opened) == (1, 0)
    assert the_case(engine) == (case_id, "cured", date(2026, 2, 10), date(2026, 2, 11), None, 0, "M1")

    # next statement is missed: the account rolls back into delinquency
    load(engine, LedgerLoad(statements=[("A1", date(2026, 3, 5), date(2026, 3, 25), 60_000, 0)]))
    again = run_cycle(engine, business_date=date(2026, 3, 30), rules=RULES)
    assert (again.cases_opened, again.cases_reopened, again.cases_closed) == (1, 1, 0)
    assert the_case(engine) == (case_id, "new", date(2026, 2, 10), None, date(2026, 3, 30), 1, "M1")
    assert history(engine, case_id) == [(None, "new", "cycle", True), ("new", "cured", "cycle", True),
                                        ("cured", "new", "cycle", True)]
    # re-running the date changes nothing, and records nothing twice
    rerun = run_cycle(engine, business_date=date(2026, 3, 30), rules=RULES)
    assert (rerun.cases_opened, rerun.cases_closed) == (0, 0) and len(history(engine, case_id)) == 3
    with engine.connect() as conn:
        assert len(conn.execute(select(Case.id)).all()) == 1


def test_a_case_further_along_cures_from_its_own_state(engine: Engine) -> None:
    case_id = delinquent_then_cured(engine)
    with Session(engine) as session, session.begin():
        for target in ("contacting", "investigating", "negotiating", "plan_active"):
            service.transition(session, case_id=case_id, to_state=target, actor="user:4", reason="work")
    run_cycle(engine, business_date=date(2026, 2, 12), rules=RULES)  # still delinquent: bucket/dpd refreshed
    assert the_case(engine)[1] == "plan_active"
    load(engine, LedgerLoad(payments=[("P1", "A1", date(2026, 2, 13), 50_000)]))
    run_cycle(engine, business_date=date(2026, 2, 13), rules=RULES)
    assert the_case(engine)[1] == "cured"
    assert history(engine, case_id)[-1] == ("plan_active", "cured", "cycle", True)


def test_a_case_closed_by_decision_is_not_reopened_by_the_cycle(engine: Engine) -> None:
    case_id = delinquent_then_cured(engine)
    with Session(engine) as session, session.begin():
        for target in ("contacting", "follow_up", "closed"):
            service.transition(session, case_id=case_id, to_state=target, actor="user:4", reason="debt sold")
    result = run_cycle(engine, business_date=date(2026, 2, 12), rules=RULES)
    assert (result.cases_opened, result.cases_closed) == (0, 0)
    assert the_case(engine)[:2] == (case_id, "closed")
    # a person can reopen it; from then on the cycle follows it again
    with Session(engine) as session, session.begin():
        service.transition(session, case_id=case_id, to_state="new", actor="user:4", reason="buy-back")
    load(engine, LedgerLoad(payments=[("P1", "A1", date(2026, 2, 13), 50_000)]))
    assert run_cycle(engine, business_date=date(2026, 2, 13), rules=RULES).cases_closed == 1
    assert the_case(engine)[1] == "cured"


def test_a_dispute_recorded_on_a_call_pauses_ageing_in_the_next_cycle(engine: Engine) -> None:
    case_id = delinquent_then_cured(engine)  # dpd 16 on 2026-02-10
    with Session(engine) as session, session.begin():
        service.record_interaction(
            session, case_id=case_id, channel="call", direction="inbound", party="debtor",
            started_at=datetime(2026, 2, 11, 3, 0, tzinfo=UTC), outcome="dispute", rules=load_default_case_rules(),
            agent_id=8)
    for d in (date(2026, 2, 11), date(2026, 2, 15)):
        run_cycle(engine, business_date=d, rules=RULES)
    with engine.connect() as conn:
        dpd = dict(conn.execute(select(DelinquencySnapshot.business_date, DelinquencySnapshot.dpd)
                                .where(DelinquencySnapshot.superseded_by_run_id.is_(None))).all())
    # ageing stops from the hold's first day (2026-02-11): 16 on the 10th, still 16 afterwards
    assert dpd == {date(2026, 2, 10): 16, date(2026, 2, 11): 16, date(2026, 2, 15): 16}
