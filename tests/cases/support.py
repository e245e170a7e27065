"""Plain helpers for case tests: an account with a case in a chosen lifecycle state."""

from __future__ import annotations

from collections import deque
from datetime import date

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account
from arrears.cases import service
from arrears.cases.model import INITIAL_STATE, TRANSITIONS
from arrears.cases.tables import Case, CaseTransition
from arrears.delinquency.tables import CycleRun
from arrears.kit.clock import utc_now
from tests.factories import LedgerLoad, load


def path_to(state: str) -> list[str]:
    """Shortest list of targets that walks a new case to ``state`` through the transition table."""
    prev: dict[str, str | None] = {INITIAL_STATE: None}
    todo = deque([INITIAL_STATE])
    while todo:
        s = todo.popleft()
        for nxt in sorted(TRANSITIONS[s]):
            if nxt not in prev:
                prev[nxt] = s
                todo.append(nxt)
    out: list[str] = []
    node: str | None = state
    while node is not None and node != INITIAL_STATE:
        out.append(node)
        node = prev[node]
    return out[::-1]


def new_case(engine: Engine, ref: str, *, opened_on: date = date(2026, 2, 10)) -> int:
    """An account ``ref`` with a case in state ``new``, as the cycle leaves it (opening on record)."""
    load(engine, LedgerLoad(accounts=[ref]))
    now = utc_now()
    with engine.begin() as conn:
        account_id = conn.execute(select(Account.id).where(Account.account_ref == ref)).scalar_one()
        run_id = conn.execute(insert(CycleRun).values(
            business_date=opened_on, status="completed", ingest_watermark=0, accounts_assessed=1,
            delinquent_accounts=1, restated_accounts=0, snapshots_written=0, bucket_changes=0, cases_opened=1,
            cases_closed=0, started_at=now, finished_at=now).returning(CycleRun.id)).scalar_one()
        case_id = conn.execute(insert(Case).values(
            account_id=account_id, status=INITIAL_STATE, opened_on=opened_on, open_bucket="M1", bucket="M1", dpd=16,
            opened_by_run_id=run_id, reopen_count=0, created_at=now, updated_at=now).returning(Case.id)).scalar_one()
        conn.execute(insert(CaseTransition).values(case_id=case_id, from_state=None, to_state=INITIAL_STATE,
                                                   actor="cycle", reason="account became delinquent", at=now,
                                                   cycle_run_id=run_id))
    return case_id


def case_in(engine: Engine, ref: str, state: str) -> int:
    case_id = new_case(engine, ref)
    with Session(engine) as session, session.begin():
        for target in path_to(state):
            service.transition(session, case_id=case_id, to_state=target, actor="user:1", reason=f"to {target}")
    return case_id


def moves(engine: Engine, case_id: int) -> list[tuple[str | None, str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(CaseTransition.from_state, CaseTransition.to_state, CaseTransition.actor)
            .where(CaseTransition.case_id == case_id).order_by(CaseTransition.id)
        ).all()]


def status(engine: Engine, case_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(select(Case.status).where(Case.id == case_id)).scalar_one()
