"""Lifecycle moves in the store (SQLite and PostgreSQL): allowed ones succeed and are recorded,
others are refused and leave no trace."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arrears.cases import service
from arrears.cases.model import STATES, TRANSITIONS, InvalidTransition, apply_transitions, reachable_states
from arrears.cases.tables import Case, CaseTransition
from arrears.kit.errors import ArrearsError
from tests.cases.support import case_in, moves, new_case, path_to, status

ALLOWED = [(a, b) for a in STATES for b in sorted(TRANSITIONS[a])]
REFUSED = {a: sorted(set(STATES) - TRANSITIONS[a]) for a in STATES}


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED)
def test_every_allowed_transition_succeeds_and_is_recorded(engine: Engine, from_state: str, to_state: str) -> None:
    case_id = case_in(engine, "A1", from_state)
    before = moves(engine, case_id)
    with Session(engine) as session, session.begin():
        move = service.transition(session, case_id=case_id, to_state=to_state, actor="user:7",
                                  reason="customer asked")
        assert move.id is not None
    assert status(engine, case_id) == to_state
    assert moves(engine, case_id) == [*before, (from_state, to_state, "user:7")]
    with engine.connect() as conn:
        last = conn.execute(
            select(CaseTransition.reason, CaseTransition.at).where(CaseTransition.case_id == case_id)
            .order_by(CaseTransition.id.desc()).limit(1)).one()
        case = conn.execute(select(Case.closed_on, Case.reopen_count).where(Case.id == case_id)).one()
    assert last.reason == "customer asked" and last.at.tzinfo is not None
    if to_state in ("cured", "closed"):
        assert case.closed_on is not None
    if from_state in ("cured", "closed"):
        assert case.closed_on is None and case.reopen_count == 1


@pytest.mark.parametrize("from_state", STATES)
def test_every_other_transition_is_refused_and_writes_nothing(engine: Engine, from_state: str) -> None:
    case_id = case_in(engine, "A1", from_state)
    before = moves(engine, case_id)
    for to_state in REFUSED[from_state]:
        with Session(engine) as session, session.begin():
            with pytest.raises(InvalidTransition):
                service.transition(session, case_id=case_id, to_state=to_state, actor="user:7", reason="try")
    assert status(engine, case_id) == from_state and moves(engine, case_id) == before


def test_a_transition_needs_a_reason(engine: Engine) -> None:
    case_id = new_case(engine, "A1")
    with Session(engine) as session, session.begin(), pytest.raises(ArrearsError, match="reason"):
        service.transition(session, case_id=case_id, to_state="contacting", actor="user:7", reason=" ")


def test_one_open_case_per_account_is_enforced_by_the_store(engine: Engine) -> None:
    case_id = case_in(engine, "A1", "follow_up")
    with Session(engine) as session:
        case = session.get(Case, case_id)
        assert case is not None
        twin = Case(account_id=case.account_id, status="negotiating", opened_on=case.opened_on, open_bucket="M1",
                    bucket="M1", dpd=1, opened_by_run_id=case.opened_by_run_id, reopen_count=0)
        session.add(twin)
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()
    # an ended case does not count: a second, open case may exist beside a closed one
    with Session(engine) as session, session.begin():
        service.transition(session, case_id=case_id, to_state="closed", actor="user:7", reason="settled")
        case = session.get(Case, case_id)
        session.add(Case(account_id=case.account_id, status="new", opened_on=case.opened_on, open_bucket="M1",
                         bucket="M1", dpd=1, opened_by_run_id=case.opened_by_run_id, reopen_count=0))
    # ... but then the closed one cannot come back while the other is open
    with Session(engine) as session, pytest.raises(IntegrityError):
        service.transition(session, case_id=case_id, to_state="new", actor="user:7", reason="reopen")


_refs = itertools.count()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(st.sampled_from(STATES), max_size=25))
def test_any_attempted_sequence_leaves_a_reachable_state_and_records_exactly_the_successes(
        engine: Engine, attempts: list[str]) -> None:
    case_id = new_case(engine, f"H{next(_refs)}")
    succeeded = []
    for target in attempts:
        with Session(engine) as session, session.begin():
            try:
                service.transition(session, case_id=case_id, to_state=target, actor="user:3", reason="try")
                succeeded.append(target)
            except InvalidTransition:
                pass
    final, done = apply_transitions("new", attempts)
    assert status(engine, case_id) == final and final in reachable_states("new")
    assert moves(engine, case_id) == [(None, "new", "cycle")] + [(a, b, "user:3") for a, b in done]
    assert [b for _a, b in done] == succeeded


def test_support_paths_walk_the_table() -> None:
    for state in STATES:
        walk = "new"
        for target in path_to(state):
            assert target in TRANSITIONS[walk]
            walk = target
        assert walk == state


def test_transitions_are_counted_per_case(engine: Engine) -> None:
    a, b = case_in(engine, "A1", "negotiating"), case_in(engine, "A2", "new")
    with engine.connect() as conn:
        counts = dict(conn.execute(select(CaseTransition.case_id, func.count()).group_by(CaseTransition.case_id)).all())
    assert counts == {a: 3, b: 1}  # opened, contacting, negotiating
