"""The pure case rules: transition table, affordability and promise judgement."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.cases.model import (
    ENDED_STATES,
    INITIAL_STATE,
    OPEN_STATES,
    STATES,
    TRANSITIONS,
    InvalidTransition,
    LivingReserve,
    PromiseRules,
    affordable_monthly,
    apply_transitions,
    can_transition,
    check_transition,
    judge_promise,
    reachable_states,
)
from arrears.kit.errors import ArrearsError

ALL_PAIRS = [(a, b) for a in STATES for b in STATES]


def test_the_documented_table() -> None:
    assert TRANSITIONS["new"] == {"contacting", "cured"}
    assert TRANSITIONS["contacting"] == {"investigating", "negotiating", "follow_up", "cured"}
    assert TRANSITIONS["investigating"] == {"negotiating", "follow_up", "cured"}
    assert TRANSITIONS["negotiating"] == {"plan_active", "investigating", "follow_up", "cured"}
    assert TRANSITIONS["plan_active"] == {"follow_up", "cured"}
    assert TRANSITIONS["follow_up"] == {"contacting", "negotiating", "legal_review", "agency_placement",
                                        "charged_off", "closed", "cured"}
    assert TRANSITIONS["cured"] == {"new"} and TRANSITIONS["closed"] == {"new"}
    assert set(ENDED_STATES) == {"cured", "closed"} and "charged_off" in OPEN_STATES


def test_every_state_is_reachable_from_new_and_every_open_state_can_cure() -> None:
    assert reachable_states(INITIAL_STATE) == set(STATES)
    assert all(can_transition(s, "cured") for s in OPEN_STATES)
    assert not any(can_transition(s, s) for s in STATES)  # no silent self-moves


@pytest.mark.parametrize(("a", "b"), ALL_PAIRS)
def test_check_transition_agrees_with_the_table(a: str, b: str) -> None:
    if b in TRANSITIONS[a]:
        check_transition(a, b)
    else:
        with pytest.raises(InvalidTransition, match=f"cannot move to '{b}'"):
            check_transition(a, b)


def test_unknown_target_is_refused() -> None:
    with pytest.raises(InvalidTransition, match="unknown case state 'paid'"):
        check_transition("new", "paid")


@given(st.lists(st.sampled_from(STATES), max_size=40))
def test_any_attempt_sequence_stays_in_reachable_states(attempts: list[str]) -> None:
    state, done = apply_transitions(INITIAL_STATE, attempts)
    reachable = reachable_states(INITIAL_STATE)
    assert state in reachable
    walk = INITIAL_STATE
    for a, b in done:
        assert a == walk and b in TRANSITIONS[a]
        walk = b
    assert walk == state
    assert len(done) <= len(attempts)


# -- affordability ------------------------------------------------------------------------------

RESERVE = LivingReserve(base_fen=150_000, per_dependant_fen=80_000)


def test_affordability_formula() -> None:
    # 12,000.00 income − 5,000.00 essentials − 2,000.00 other debts − 2 × 800.00 − 1,500.00 = 1,900.00
    assert affordable_monthly(income=1_200_000, essential=500_000, other_debts=200_000, dependants=2,
                              reserve=RESERVE) == 190_000
    # exactly nothing left, and less than nothing
    assert affordable_monthly(income=310_000, essential=0, other_debts=0, dependants=2, reserve=RESERVE) == 0
    assert affordable_monthly(income=310_001, essential=0, other_debts=0, dependants=2, reserve=RESERVE) == 1
    assert affordable_monthly(income=100_000, essential=500_000, other_debts=0, dependants=0, reserve=RESERVE) == 0
    assert affordable_monthly(income=1_000_000, essential=0, other_debts=0, dependants=0,
                              reserve=LivingReserve(0, 0)) == 1_000_000


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 12),
       st.integers(0, 10**6), st.integers(0, 10**6))
def test_affordability_is_exact_integer_and_never_negative(income, essential, debts, deps, base, per) -> None:
    got = affordable_monthly(income=income, essential=essential, other_debts=debts, dependants=deps,
                             reserve=LivingReserve(base, per))
    assert isinstance(got, int) and got == max(0, income - essential - debts - per * deps - base)


@pytest.mark.parametrize("bad", [{"income": -1}, {"dependants": -1}, {"income": 100.5}, {"essential": True}])
def test_affordability_refuses_negative_or_non_integer_input(bad: dict) -> None:
    kwargs = {"income": 1, "essential": 0, "other_debts": 0, "dependants": 0} | bad
    with pytest.raises(ArrearsError):
        affordable_monthly(reserve=RESERVE, **kwargs)


# -- promise judgement --------------------------------------------------------------------------

MADE, DUE = date(2026, 3, 1), date(2026, 3, 10)
RULES = PromiseRules(grace_days=3, tolerance_fen=1_000)
LAST = DUE + timedelta(days=3)
AFTER = LAST + timedelta(days=1)


def judge(payments, as_of=AFTER, amount=100_000):  # type: ignore[no-untyped-def]
    return judge_promise(amount=amount, created_on=MADE, promised_date=DUE, payments=payments, as_of=as_of,
                         rules=RULES)


@pytest.mark.parametrize(("payments", "status", "paid"), [
    ([(DUE, 100_000)], "kept", 100_000),
    ([(DUE, 99_000)], "kept", 99_000),                       # short by exactly the tolerance
    ([(DUE, 98_999)], "partly_kept", 98_999),                # one fen beyond the tolerance
    ([(MADE, 60_000), (LAST, 40_000)], "kept", 100_000),     # first and last day of the window both count
    ([(MADE - timedelta(days=1), 100_000)], "broken", 0),    # paid before the promise was made
    ([(AFTER, 100_000)], "broken", 0),                       # one day after grace
    ([(LAST, 1)], "partly_kept", 1),
    ([], "broken", 0),
])
def test_judgement_at_the_edges_of_tolerance_and_grace(payments, status: str, paid: int) -> None:
    got = judge(payments)
    assert (got.status, got.paid) == (status, paid)


def test_a_promise_stays_open_until_its_grace_ends_unless_already_kept() -> None:
    assert judge([], as_of=LAST).status == "open"
    assert judge([(DUE, 50_000)], as_of=LAST).status == "open"
    assert judge([], as_of=AFTER).status == "broken"
    assert judge([(MADE, 99_000)], as_of=MADE).status == "kept"  # kept is known at once
    # a payment dated after as_of is not known yet
    assert judge([(LAST, 100_000)], as_of=DUE).status == "open"
