"""The daily plan: optimal (brute force, linear_sum_assignment, MILP), capacity and gate never violated,
the vectorised gate mask equal to the gate, the dialer CSV, and idempotent message batches."""

from __future__ import annotations

import csv
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint
from arrears.channels.tables import OutboxMessage
from arrears.contact import Appointment, Attempt, Hold, load_default_pack
from arrears.contact.besttime import SLOTS, slot
from arrears.contact.plan import (
    COST_SCALE,
    DIALER_COLUMNS,
    DueCase,
    Recipient,
    Shift,
    allowed_matrix,
    build_plan,
    enqueue_message_batches,
    export_dialer_csv,
    fill_from,
    gate_allows_hour,
    hour_starts,
    plan_value,
    random_plan,
    solve,
)
from arrears.kit.clock import utc_now
from tests.cases.support import new_case

PACK = load_default_pack("cn")
TUESDAY = date(2026, 3, 10)


def brute_force(value: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> float:
    n, hours = value.shape
    best = 0.0
    for choice in itertools.product(range(-1, hours), repeat=n):
        used = np.zeros(hours, int)
        total = 0.0
        ok = True
        for i, j in enumerate(choice):
            if j < 0:
                continue
            if not allowed[i, j]:
                ok = False
                break
            used[j] += 1
            total += value[i, j]
        if ok and (used <= capacity).all():
            best = max(best, total)
    return best


def lsa_optimum(value: np.ndarray, allowed: np.ndarray, capacity: np.ndarray) -> float:
    """The same problem as an assignment: one column per unit of capacity, one idle column per case."""
    n, _ = value.shape
    cols = [j for j, c in enumerate(capacity) for _ in range(c)]
    gain = np.zeros((n, len(cols) + n))
    for k, j in enumerate(cols):
        gain[:, k] = np.where(allowed[:, j], value[:, j], -1e9)
    rows, chosen = linear_sum_assignment(gain, maximize=True)
    return float(sum(max(gain[r, c], 0.0) for r, c in zip(rows, chosen)))


def check(value: np.ndarray, allowed: np.ndarray, capacity: np.ndarray, result: np.ndarray) -> None:
    hours = value.shape[1]
    assert result.shape == (value.shape[0],)
    assert ((result >= -1) & (result < hours)).all()
    called = result >= 0
    assert allowed[np.flatnonzero(called), result[called]].all(), "a call in an hour the gate blocks"
    assert (np.bincount(result[called], minlength=hours) <= capacity).all(), "capacity exceeded"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_optimal_against_brute_force(n: int, hours: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    value = np.round(rng.random((n, hours)), 3)
    allowed = rng.random((n, hours)) < 0.75
    capacity = rng.integers(0, 3, size=hours)
    result = solve(value, allowed, capacity)
    check(value, allowed, capacity, result)
    assert plan_value(value, result) == pytest.approx(brute_force(value, allowed, capacity), abs=n / COST_SCALE)


@pytest.mark.parametrize("seed", range(5))
def test_optimal_against_linear_sum_assignment(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, hours = 60, 6
    value = rng.random((n, hours))
    allowed = rng.random((n, hours)) < 0.8
    capacity = rng.integers(0, 12, size=hours)
    result = solve(value, allowed, capacity)
    check(value, allowed, capacity, result)
    assert plan_value(value, result) == pytest.approx(lsa_optimum(value, allowed, capacity), abs=n / COST_SCALE)


def test_optimal_against_milp() -> None:
    from scipy.optimize import Bounds, LinearConstraint, milp

    rng = np.random.default_rng(9)
    n, hours, teams = 40, 5, 2
    value = rng.random((n, hours))
    allowed = rng.random((n, hours)) < 0.8
    capacity = rng.integers(0, 8, size=(teams, hours))
    team = rng.integers(0, teams, size=n)
    result = solve(value, allowed, capacity, team)
    for t in range(teams):
        mine = (team == t) & (result >= 0)
        assert (np.bincount(result[mine], minlength=hours) <= capacity[t]).all()
    # the MILP: x[i, j] binary, each case once, each (team, hour) within capacity, x = 0 where blocked
    a_case = np.kron(np.eye(n), np.ones(hours))
    a_cap = np.zeros((teams * hours, n * hours))
    for i in range(n):
        for j in range(hours):
            a_cap[team[i] * hours + j, i * hours + j] = 1
    ref = milp(-value.reshape(-1), integrality=np.ones(n * hours),
               bounds=Bounds(0, allowed.reshape(-1).astype(float)),
               constraints=[LinearConstraint(a_case, 0, 1), LinearConstraint(a_cap, 0, capacity.reshape(-1))])
    assert ref.success
    assert plan_value(value, result) == pytest.approx(-ref.fun, abs=n / COST_SCALE)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 40), st.integers(1, 13), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_capacity_and_gate_never_violated(n: int, hours: int, teams: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    value = rng.random((n, hours)) * (rng.random((n, hours)) < 0.9)
    allowed = rng.random((n, hours)) < rng.random()
    capacity = rng.integers(0, 6, size=(teams, hours))
    team = rng.integers(-1, teams, size=n)
    result = solve(value, allowed, capacity, team)
    assert (result[team < 0] == -1).all()
    for t in range(teams):
        mine = (team == t) & (result >= 0)
        assert (np.bincount(result[mine], minlength=hours) <= capacity[t]).all()
    called = np.flatnonzero(result >= 0)
    assert allowed[called, result[called]].all()
    # a baseline respects the same limits
    if teams == 1:
        for other in (fill_from(allowed, capacity[0], min(2, hours - 1)), random_plan(allowed, capacity[0], rng)):
            check(value, allowed, capacity[0], other)


# -- the gate mask ------------------------------------------------------------------------------------

ZONES = ("Asia/Shanghai", "Asia/Urumqi", "America/New_York", "Asia/Kolkata", "Europe/London")


def random_case(rng: random.Random, i: int, day: date) -> DueCase:
    tz = rng.choice(ZONES)
    local = ZoneInfo(tz)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=local)
    holds: tuple[Hold, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    appointment = None
    r = rng.random()
    if r < 0.15:
        start = noon + timedelta(hours=rng.randint(-30, 10))
        holds = (Hold(rng.choice(["dispute", "hardship", "legal", "deceased"]), start,
                      None if rng.random() < 0.3 else start + timedelta(hours=rng.randint(1, 20))),)
    elif r < 0.3:
        k = rng.choice([2, 5, 6, 7])
        attempts = tuple(Attempt(at=noon - timedelta(hours=4, minutes=m)) for m in range(k))
    elif r < 0.4:
        start = noon + timedelta(hours=rng.randint(-5, 8))
        appointment = Appointment(start, start + timedelta(hours=1))
    return DueCase(case_id=i, account_ref=f"A{i}", customer_id=i, time_zone=tz,
                   contact_point_id=None if rng.random() < 0.05 else 1000 + i,
                   country=rng.choice([None, "CN", "US"]), opted_out=rng.random() < 0.05,
                   holds=holds, attempts=attempts, appointment=appointment)


@pytest.mark.parametrize("day", [TUESDAY, date(2026, 10, 1), date(2026, 3, 8), date(2026, 11, 1)])
def test_allowed_matrix_equals_the_gate_case_by_case(day: date) -> None:
    rng = random.Random(day.toordinal())
    cases = [random_case(rng, i, day) for i in range(120)]
    starts = hour_starts(day, "Asia/Shanghai")
    fast = allowed_matrix(cases, starts, PACK)
    for i, case in enumerate(cases):
        for j, start in enumerate(starts):
            expected = case.contact_point_id is not None and gate_allows_hour(case, start, PACK)
            assert fast[i, j] == expected, (case, start)
    assert fast.any() and not fast.all()


def test_urumqi_customers_are_never_called_before_their_08_00() -> None:
    cases = [DueCase(1, "A1", 1, "Asia/Urumqi", 11), DueCase(2, "A2", 2, "Asia/Shanghai", 12)]
    starts = hour_starts(TUESDAY, "Asia/Shanghai")
    ok = allowed_matrix(cases, starts, PACK)
    assert ok[0].tolist() == [False, False] + [True] * 11  # bank 08:00 and 09:00 are 06:00 and 07:00 there
    assert ok[1].all()
    # National Day: holiday hours 09:00–20:00 local
    holiday = allowed_matrix(cases, hour_starts(date(2026, 10, 1), "Asia/Shanghai"), PACK)
    assert holiday[1].tolist() == [False] + [True] * 11 + [False]


# -- the plan ----------------------------------------------------------------------------------------


def probabilities(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, SLOTS)) * 0.6


def test_plan_uses_the_local_slot_honours_appointments_and_the_gate() -> None:
    probs = np.zeros((3, SLOTS))
    probs[0, slot(1, 19)] = 0.9           # Shanghai customer: best at Tuesday 19:00 local
    probs[1, slot(1, 19)] = 0.9           # Urumqi customer: 19:00 local = 21:00 bank, after hours
    probs[1, slot(1, 18)] = 0.5           # 18:00 local = 20:00 bank
    probs[2, slot(1, 19)] = 0.9
    appt_start = datetime(2026, 3, 10, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    cases = [DueCase(1, "A1", 1, "Asia/Shanghai", 11), DueCase(2, "A2", 2, "Asia/Urumqi", 12),
             DueCase(3, "A3", 3, "Asia/Shanghai", 13, appointment=Appointment(appt_start, appt_start + timedelta(hours=1)))]
    plan = build_plan(cases, probs, day=TUESDAY, shifts=[Shift(1, None)], pack=PACK, calls_per_agent_hour=5)
    by_case = {c.case_id: c for c in plan.calls}
    assert by_case[1].hour == 19 and by_case[1].local_start.hour == 19
    assert by_case[2].hour == 20 and by_case[2].local_start.hour == 18
    assert by_case[3].hour == 10 and by_case[3].appointment and "appointment" in by_case[3].reason
    assert plan.expected_rpc == pytest.approx(0.9 + 0.5 + 0.0)  # the model's estimate, not the override


def test_plan_with_teams_shifts_and_too_little_capacity() -> None:
    n = 50
    cases = [DueCase(i, f"A{i}", i, "Asia/Shanghai", 100 + i, team_id=1 + i % 3) for i in range(n)]
    shifts = [Shift(1, 1, 8, 12), Shift(2, 1, 18, 21), Shift(3, 2, 8, 21)]  # nobody in team 3
    plan = build_plan(cases, probabilities(n), day=TUESDAY, shifts=shifts, pack=PACK, calls_per_agent_hour=2)
    per = {}
    for c in plan.calls:
        per[(c.team_id, c.hour)] = per.get((c.team_id, c.hour), 0) + 1
        assert c.team_id in (1, 2)
    assert all(v <= 2 for v in per.values())
    assert all(h in (8, 9, 10, 11, 18, 19, 20) for (t, h) in per if t == 1)
    team3 = {c.case_id for c in cases if c.team_id == 3}
    assert set(plan.blocked) == team3
    assert len(plan.calls) + len(plan.unplanned) + len(plan.blocked) == n
    assert len({c.case_id for c in plan.calls}) == len(plan.calls)
    for hour in plan.hours:  # priorities 1..k within each hour, by weighted probability
        ranked = sorted((c for c in plan.calls if c.hour == hour), key=lambda c: c.priority)
        assert sorted(c.priority for c in ranked) == list(range(1, len(ranked) + 1))


def test_dialer_csv(tmp_path: Path) -> None:
    cases = [DueCase(i, f"62220000{i:04d}", i, "Asia/Shanghai" if i % 2 else "Asia/Urumqi", 500 + i)
             for i in range(1, 11)]
    plan = build_plan(cases, probabilities(10), day=TUESDAY, shifts=[Shift(1, None)], pack=PACK,
                      calls_per_agent_hour=3)
    path = tmp_path / "dialer.csv"
    assert export_dialer_csv(plan, path) == 10
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == DIALER_COLUMNS == ("case_id", "account_ref", "contact_point_id", "scheduled_hour_local",
                                                "customer_time_zone", "priority", "reason", "scheduled_at_utc")
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert sorted(int(r["case_id"]) for r in body) == list(range(1, 11))
    times = [datetime.fromisoformat(r["scheduled_at_utc"]) for r in body]
    assert times == sorted(times) and all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    for r in body:
        case = cases[int(r["case_id"]) - 1]
        local = datetime.fromisoformat(r["scheduled_hour_local"])
        assert local.minute == 0 and local.utcoffset() == ZoneInfo(case.time_zone).utcoffset(local.replace(tzinfo=None))
        assert local == datetime.fromisoformat(r["scheduled_at_utc"])
        assert 8 <= local.hour < 22
        assert int(r["contact_point_id"]) == case.contact_point_id and r["customer_time_zone"] == case.time_zone
        assert int(r["priority"]) >= 1 and r["reason"]
        assert r["account_ref"] == case.account_ref


# -- message batches ---------------------------------------------------------------------------------


def test_message_batches_are_idempotent(engine) -> None:  # type: ignore[no-untyped-def]
    case_id = new_case(engine, "ACC-B1")
    new_case(engine, "ACC-B2")
    with engine.begin() as conn:
        acc1, cust1 = conn.execute(select(Account.id, Account.customer_id).where(Account.account_ref == "ACC-B1")).one()
        acc2 = conn.execute(select(Account.id).where(Account.account_ref == "ACC-B2")).scalar_one()
        phone = conn.execute(insert(ContactPoint).values(
            contact_ref="CP-1", customer_id=cust1, kind="phone", value="13800000000", owner="debtor",
            verified=True, opted_out=False, created_at=utc_now()).returning(ContactPoint.id)).scalar_one()
    actions = [
        {"step": 1, "kind": "sms", "day": 0, "template": "early.reminder", "queue": None, "priority": 5, "note": None},
        {"step": 2, "kind": "email", "day": 0, "template": "early.reminder", "queue": None, "priority": 5,
         "note": None},
        {"step": 3, "kind": "call_queue", "day": 0, "template": None, "queue": "early_calls", "priority": 4,
         "note": None},
    ]
    treatments = [
        {"account_id": acc1, "strategy": "early-gentle", "strategy_version": 1, "segment": "early_m1",
         "segment_since": TUESDAY, "days_in_segment": 0, "actions": actions},
        {"account_id": acc2, "strategy": "early-gentle", "strategy_version": 1, "segment": "early_m1",
         "segment_since": TUESDAY, "days_in_segment": 0, "actions": actions[:1]},
    ]
    recipients = {acc1: Recipient("ACC-B1", case_id=case_id, sms=phone), acc2: Recipient("ACC-B2")}
    with Session(engine) as s, s.begin():
        first = enqueue_message_batches(s, treatments, business_date=TUESDAY, recipients=recipients)
    assert first.enqueued == {"sms": 1, "email": 0, "letter": 0}
    assert sorted(first.skipped) == [("ACC-B1", 2, "no email contact point"), ("ACC-B2", 1, "no sms contact point")]
    with Session(engine) as s, s.begin():
        again = enqueue_message_batches(s, treatments, business_date=TUESDAY, recipients=recipients)
    assert again.enqueued == {"sms": 0, "email": 0, "letter": 0} and again.already["sms"] == 1
    with Session(engine) as s:
        rows = s.execute(select(OutboxMessage)).scalars().all()
        assert len(rows) == 1
        m = rows[0]
        assert m.idempotency_key == "2026-03-10:ACC-B1:early-gentle:1:early_m1:1"
        assert (m.channel, m.template, m.case_id, m.contact_point_id) == ("sms", "early.reminder", case_id, phone)
        assert m.payload["step"] == 1 and "13800000000" not in str(m.payload)
    # the next day is another message
    with Session(engine) as s, s.begin():
        enqueue_message_batches(s, treatments, business_date=TUESDAY + timedelta(days=1), recipients=recipients)
    with Session(engine) as s:
        assert s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 2


def test_hour_starts_follow_the_bank_clock() -> None:
    starts = hour_starts(TUESDAY, "Asia/Shanghai")
    assert len(starts) == 13 and starts[0] == datetime(2026, 3, 10, 0, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 3, 10, 12, tzinfo=UTC)
