"""The customer-behaviour simulator: determinism, money, the compliance gate, holds, cure/roll arithmetic."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.contact import Attempt, ContactCandidate, Hold, gate, load_default_pack
from arrears.delinquency.config import load_default_rules
from arrears.plans.config import load_default_plan_products
from arrears.plans.model import PlanInputs, generate_options
from arrears.sim.behaviour import from_rows, synthetic_customers
from arrears.sim.events import EventKind, SimEvent
from arrears.sim.simulate import CURED, DEFAULT_START, PLAN_KINDS, _Simulation, best_fitting_option, simulate
from arrears.strategy.config import load_strategy
from arrears.strategy.experiments import load_experiments
from arrears.strategy.features import FEATURE_SCHEMA, features_table

ROOT = Path(__file__).resolve().parents[2]
EARLY = load_strategy(ROOT / "strategies" / "early-gentle.yaml")
LATE = load_strategy(ROOT / "strategies" / "late-stage.yaml")
CN = load_default_pack("cn")
BANK = ZoneInfo("Asia/Shanghai")

IDLE_YAML = """\
strategy: {name: idle, version: 1}
otherwise: no_treatment
segments:
  - {code: never, when: dpd < 0, path: []}
"""
# No hold segment on purpose: only the gate stands between a held account and a contact.
HARSH_YAML = """\
strategy: {name: harsh, version: 1}
segments:
  - code: everyone
    path:
      - {day: 0, action: sms, template: early.reminder, every: 1}
      - {day: 0, action: call_queue, queue: q, every: 1}
"""
# Five call actions a day: ten tries, more than the pack's six a day.
FLOOD_YAML = """\
strategy: {name: flood, version: 1}
segments:
  - code: everyone
    path:
""" + "".join(f"      - {{day: 0, action: call_queue, queue: q{k}, every: 1}}\n" for k in range(5))


def strategy_file(tmp_path: Path, name: str, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return load_strategy(path)


CONTACTS = (EventKind.CALL_ATTEMPTED, EventKind.MESSAGE_SENT)


def contacts(events: tuple[SimEvent, ...]) -> list[SimEvent]:
    return [e for e in events if e.kind in CONTACTS]


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_report_and_events() -> None:
    a = simulate(synthetic_customers(120, seed=5), [EARLY, LATE], days=6, seed=5)
    b = simulate(synthetic_customers(120, seed=5), [EARLY, LATE], days=6, seed=5)
    assert a.report.to_dict() == b.report.to_dict()
    assert [e.to_dict() for e in a.events] == [e.to_dict() for e in b.events]
    c = simulate(synthetic_customers(120, seed=6), [EARLY, LATE], days=6, seed=6)
    assert c.report.to_dict() != a.report.to_dict()


def test_synthetic_customers_are_reproducible_and_sane() -> None:
    a, b = synthetic_customers(500, seed=3), synthetic_customers(500, seed=3)
    assert np.array_equal(a.balance, b.balance) and np.array_equal(a.answer_p, b.answer_p)
    assert a.balance.dtype == np.int64 and (a.balance > 0).all()
    assert (a.amount_past_due <= a.balance).all() and (a.amount_past_due > 0).all()
    assert (a.dpd >= 1).all() and (a.dpd <= 120).all()
    assert set(a.ctype) <= {"office", "home", "late"}
    # office workers are harder to reach on weekday daytime than in the evening
    office = a.answer_p[a.ctype == "office"]
    tuesday_11, tuesday_19 = 1 * 24 + 11, 1 * 24 + 19
    assert office[:, tuesday_11].mean() < office[:, tuesday_19].mean()
    assert (a.answer_p[:, 3] == 0).all()  # 03:00 is a quiet hour


# -- money ----------------------------------------------------------------------------------------


def check_money(result, customers) -> None:  # type: ignore[no-untyped-def]
    payments = [e for e in result.events if e.kind == EventKind.PAYMENT]
    assert all(isinstance(e.amount, int) and e.amount > 0 for e in payments)
    recovered = result.report.total.recovered
    assert recovered == sum(e.amount for e in payments) == int(result.paid.sum())
    assert result.balance.dtype == np.int64 and (result.balance >= 0).all()
    assert (result.past_due >= 0).all() and (result.past_due <= result.balance).all()
    start = int(customers.balance.sum())
    assert start + result.charged - result.waived - recovered == int(result.balance.sum())
    for i in range(len(customers)):  # per account, too
        own = sum(e.amount for e in payments if e.account_id == int(customers.account_id[i]))
        assert own == int(result.paid[i])


def test_money_is_conserved_on_a_realistic_run() -> None:
    customers = synthetic_customers(300, seed=11)
    result = simulate(customers, [EARLY, LATE], days=12, seed=11)
    assert result.report.total.recovered > 0
    check_money(result, customers)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 25), days=st.integers(1, 6))
def test_money_conservation_property(seed: int, n: int, days: int) -> None:
    customers = synthetic_customers(n, seed=seed)
    # generous customers so that promises, plans and payments happen in a few days
    customers = type(customers)(**{**customers.__dict__, "self_cure_p": customers.self_cure_p * 10,
                                   "respond_p": np.minimum(customers.respond_p * 4, 1.0)})
    result = simulate(customers, [EARLY, LATE], days=days, seed=seed)
    check_money(result, customers)
    t = result.report.total
    assert t.cured <= t.delinquent_at_start and t.rolled <= t.accounts
    assert t.promises_kept + t.promises_broken <= t.promises_made
    assert sum(t.end_states.values()) == t.accounts


# -- the compliance gate --------------------------------------------------------------------------


def replay(events: tuple[SimEvent, ...], customers, pack) -> None:  # type: ignore[no-untyped-def]
    """Every contact made, put to the real gate again with the account's full earlier history: allowed."""
    zones = dict(zip(customers.account_id.tolist(), customers.time_zone.tolist()))
    holds = dict(zip(customers.account_id.tolist(), customers.hold_kind.tolist()))
    made = sorted(contacts(events), key=lambda e: (e.account_id, e.at))
    history: dict[int, list[Attempt]] = defaultdict(list)
    for e in made:
        tz = zones[e.account_id]
        local = e.at.astimezone(ZoneInfo(tz))
        assert 8 <= local.hour < 22, f"contact in quiet hours: {e}"
        hold = () if holds[e.account_id] is None else (Hold(kind=holds[e.account_id], start=e.at - timedelta(days=60)),)
        cand = ContactCandidate(at=e.at, channel=e.channel, party="debtor", purpose="collection", tz=tz,
                                account_id=str(e.account_id), recorded=True, voicemail_limited=True,
                                opt_out_notice=True, attempts=tuple(history[e.account_id]), holds=hold)
        decision = gate(cand, pack)
        assert decision.allowed, (e, [b.rule_id for b in decision.blocks])
        history[e.account_id].append(Attempt(at=e.at, channel=e.channel,
                                             conversation=e.channel == "call" and e.outcome != "no_answer"))


def test_every_contact_passes_the_real_gate() -> None:
    # 2026-03-30 … 2026-04-08 covers Qingming (4–6 April): the holiday hours block some calls
    customers = synthetic_customers(250, seed=2)
    result = simulate(customers, [EARLY, LATE], days=10, seed=2, start=date(2026, 3, 30))
    replay(result.events, customers, CN)
    blocked = [e for e in result.events if e.kind == EventKind.CONTACT_BLOCKED]
    assert result.report.total.contacts_blocked == len(blocked)
    assert sum(result.report.rule_blocks.values()) == sum(len(e.rule_ids) for e in blocked)
    assert result.report.rule_blocks.get("public_holiday", 0) > 0
    for e in contacts(result.events):  # the business date is the bank's date of the contact
        assert e.at.astimezone(BANK).date() == e.business_date
        assert e.at.tzinfo is not None
        if e.channel == "call":  # within the agents' working hours, 08:00-21:00 bank time
            assert 8 <= e.at.astimezone(BANK).hour < 21
    # the event stream is JSON-ready for the store writer
    records = json.loads(json.dumps([e.to_dict() for e in result.events]))
    kinds = {r["kind"] for r in records}
    assert {"call_attempted", "call_answered", "contact_blocked", "message_sent", "promise_made", "payment",
            "rolled"} <= kinds


def test_per_day_attempt_limit_is_respected(tmp_path: Path) -> None:
    flood = strategy_file(tmp_path, "flood", FLOOD_YAML)
    customers = from_rows([{"balance": 500_000, "dpd": 20, "answer_p": 0.0} for _ in range(4)])
    result = simulate(customers, [flood], days=3, seed=1)
    per_day = Counter((e.account_id, e.at.astimezone(BANK).date()) for e in result.events
                      if e.kind == EventKind.CALL_ATTEMPTED)
    assert per_day and max(per_day.values()) == 6  # the pack's limit, reached and never passed
    assert result.report.rule_blocks.get("daily_call_limit", 0) > 0
    replay(result.events, customers, CN)


def test_an_account_on_hold_is_never_contacted(tmp_path: Path) -> None:
    harsh = strategy_file(tmp_path, "harsh", HARSH_YAML)
    rows = [{"balance": 300_000, "dpd": 15, "answer_p": 0.5, "hold_kind": k}
            for k in ("dispute", "hardship", "bankruptcy", None)]
    customers = from_rows(rows)
    result = simulate(customers, [harsh], days=4, seed=3)
    touched = {e.account_id for e in contacts(result.events)}
    assert touched == {4}  # only the account without a hold
    blocks = result.report.rule_blocks
    assert blocks.get("hold_dispute", 0) > 0 and blocks.get("hold_hardship", 0) > 0
    assert blocks.get("hold_protected", 0) > 0
    # the shipped strategies put held accounts in their empty on_hold segment: no attempt at all
    quiet = simulate(from_rows(rows[:3]), [EARLY], days=4, seed=3)
    assert not contacts(quiet.events) and quiet.report.total.contacts_blocked == 0


def test_a_harsher_strategy_makes_more_contacts(tmp_path: Path) -> None:
    harsh = strategy_file(tmp_path, "harsh", HARSH_YAML)
    customers = synthetic_customers(150, seed=8, dpd_range=(1, 30))
    gentle = simulate(customers, [EARLY], days=8, seed=8).report.total
    hard = simulate(customers, [harsh], days=8, seed=8).report.total
    assert hard.sms > gentle.sms
    assert hard.calls_attempted > gentle.calls_attempted
    assert hard.calls_attempted + hard.sms > gentle.calls_attempted + gentle.sms + gentle.email + gentle.letter


# -- cure and roll arithmetic ---------------------------------------------------------------------


def test_cure_and_roll_on_a_tiny_population(tmp_path: Path) -> None:
    idle = strategy_file(tmp_path, "idle", IDLE_YAML)
    customers = from_rows([
        # pays its past due unasked on day 0 (self-cure probability far above 1): cured
        {"balance": 400_000, "dpd": 5, "self_cure_p": 1e9, "affordable": 1_000_000},
        # DPD 30 at the start: after one day 31, bucket M1 -> M2, and a second minimum falls due
        {"balance": 400_000, "dpd": 30},
        # DPD 10: five days later still M1
        {"balance": 400_000, "dpd": 10},
        # pays part of its past due only (two cycles behind, can afford one): DPD goes back 30 days
        {"balance": 400_000, "dpd": 45, "self_cure_p": 1e9, "affordable": 40_000},
    ])
    result = simulate(customers, [idle], days=5, seed=1)
    t = result.report.total
    assert customers.minimum_due.tolist() == [40_000] * 4
    assert result.status[0] == CURED and result.dpd[0] == 0 and result.past_due[0] == 0
    assert result.dpd[1] == 35 and result.past_due[1] == 80_000
    assert result.dpd[2] == 15 and result.past_due[2] == 40_000
    # day 0: pays 40,000 of 80,000 -> one cycle left, DPD 45 - 30 = 15, then ages 5 days; the monthly
    # affordable amount is used up, so no more payments
    assert result.paid.tolist() == [40_000, 0, 0, 40_000]
    assert result.dpd[3] == 20 and result.past_due[3] == 40_000
    assert t.accounts == 4 and t.delinquent_at_start == 4
    assert t.cured == 1 and t.cure_rate == 0.25
    assert t.rolled == 1 and t.roll_rate == 0.25
    assert t.recovered == 80_000
    assert t.end_states == {"active": 3, "cured": 1, "charged_off": 0, "placed": 0}
    assert not contacts(result.events)
    rolled = [e for e in result.events if e.kind == EventKind.ROLLED]
    assert [(e.account_id, e.detail["from"], e.detail["to"], e.business_date) for e in rolled] == [
        (2, "M1", "M2", DEFAULT_START)]


def test_promise_is_kept_or_broken_and_a_plan_fits_affordability(tmp_path: Path) -> None:
    harsh = strategy_file(tmp_path, "harsh", HARSH_YAML)
    customers = from_rows([
        # can afford the past due, always answers, always willing: promises and keeps
        {"balance": 400_000, "dpd": 20, "answer_p": 0.9, "willingness": 5, "keep_p": 1.0, "affordable": 100_000},
        # cannot afford the past due: a plan whose instalments fit 60,000 a month, if any
        {"balance": 2_000_000, "dpd": 40, "answer_p": 0.9, "willingness": 5, "keep_p": 1.0, "affordable": 60_000},
    ])
    result = simulate(customers, [harsh], days=40, seed=4)
    kinds = Counter((e.account_id, e.kind) for e in result.events)
    assert kinds[(1, EventKind.PROMISE_MADE)] >= 1 and kinds[(1, EventKind.PROMISE_KEPT)] >= 1
    assert kinds[(1, EventKind.PROMISE_BROKEN)] == 0
    assert result.status[0] == CURED
    agreed = [e for e in result.events if e.kind == EventKind.PLAN_AGREED]
    assert [e.account_id for e in agreed] == [2]
    assert agreed[0].detail["largest_instalment"] <= 60_000
    assert result.report.total.plans_agreed == 1
    paid = [e for e in result.events if e.kind == EventKind.INSTALMENT_PAID]
    assert paid and paid[0].account_id == 2 and paid[0].amount == agreed[0].detail["largest_instalment"]
    assert paid[0].business_date.isoformat() == agreed[0].detail["first_due"]
    assert result.report.total.plans_kept == 1
    # under an active plan the account does not age
    assert result.dpd[1] == next(e for e in result.events if e.kind == EventKind.PLAN_AGREED).detail["dpd"]


# -- the feature view -----------------------------------------------------------------------------


def test_features_fill_the_whole_schema() -> None:
    customers = synthetic_customers(40, seed=9)
    sim = _Simulation(customers, [EARLY], days=3, start=DEFAULT_START, seed=9, pack=CN, experiments=(),
                      rules=load_default_rules(), products=load_default_plan_products(),
                      bank_tz="Asia/Shanghai", keep_events=True)
    table = sim.features(0)
    assert table.schema == FEATURE_SCHEMA and table.num_rows == 40
    assert features_table(table.to_pylist()).equals(table)
    nullable = {f.name for f in FEATURE_SCHEMA if f.nullable}
    for name in FEATURE_SCHEMA.names:
        if name not in nullable:
            assert table.column(name).null_count == 0, name
    row = table.to_pylist()[0]
    assert row["bucket"] in {"M1", "M2", "M3", "M4"} and row["behaviour_score"] is None
    assert row["contact_attempts_7d"] == 0 and row["last_contact_outcome"] is None


def test_experiment_arms_are_reported(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(
        "experiments:\n  - code: e1\n    salt: e1-salt\n    champion: champ\n    arms:\n"
        "      - {code: champ, share_bp: 5000, strategy: early-gentle}\n"
        "      - {code: m2, share_bp: 5000, segment: early_m2}\n", encoding="utf-8")
    customers = synthetic_customers(120, seed=4, dpd_range=(5, 25))
    result = simulate(customers, [EARLY], days=4, seed=4, experiments=load_experiments(tmp_path / "exp.yaml"))
    arms = result.report.arms
    assert {"e1/champ", "e1/m2"} <= set(arms)
    assert sum(m.accounts for m in arms.values()) == 120
    assert sum(m.recovered for m in arms.values()) == result.report.total.recovered
    # the forced M2 arm calls everyone from day 0; the champion calls only some, from day 3
    assert arms["e1/m2"].calls_attempted > arms["e1/champ"].calls_attempted
    assert "by experiment arm" in result.report.text()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="days"):
        simulate(synthetic_customers(2, seed=1), [EARLY], days=0)
    with pytest.raises(ValueError, match="balance"):
        from_rows([{"balance": 0, "dpd": 3}])


# -- plans ----------------------------------------------------------------------------------------

PRODUCTS = load_default_plan_products()


@settings(max_examples=60, deadline=None)
@given(balance=st.integers(1_000, 20_000_000), overdue_share=st.floats(0.0, 1.0), afford=st.integers(0, 3_000_000),
       willingness=st.integers(1, 5), dpd=st.integers(1, 200))
def test_best_fitting_option_equals_the_plain_search(balance: int, overdue_share: float, afford: int,
                                                      willingness: int, dpd: int) -> None:
    overdue = int(balance * overdue_share)
    inputs = PlanInputs(today=DEFAULT_START, balance=balance, overdue=overdue, minimum_due=min(balance, 10_000),
                        affordable=afford, willingness=willingness, cause="other", role="agent", dpd=dpd)
    fits = [o for o in generate_options(inputs, PRODUCTS)
            if o.kind in PLAN_KINDS and o.offered and o.fits_affordable and o.principal > 0]
    expected = min(fits, key=lambda o: (o.total, len(o.schedule), o.code)) if fits else None
    assert best_fitting_option(inputs, PRODUCTS) == expected
