"""One contact budget per customer: the gate counts the person's attempts and conversations on all
their accounts (per person or per debt, as the pack's rule says), wherever it reads the history — the
gate check, an agent's record, the worker's message context and the call plan (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Hold
from arrears.cases import service as cases
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Case
from arrears.channels import repository as channel_repo
from arrears.channels.tables import OutboxMessage
from arrears.contact.besttime import SLOTS
from arrears.contact.config import load_default_pack
from arrears.contact.history import read_due_cases
from arrears.contact.plan import DueCase, Shift, build_plan, call_candidate
from arrears.contact.policy import gate
from arrears.contact.service import ContactBlocked, candidate_for_case, check_contact
from tests.cases.support import new_case

RULES = load_default_case_rules()
DAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai, a Monday
_refs = itertools.count()


def same_customer(engine: Engine, *refs: str) -> list[int]:
    """A case on each account ``refs``, every account held by the first one's customer."""
    case_ids = [new_case(engine, ref) for ref in refs]
    with Session(engine) as s, s.begin():
        owner = s.execute(select(Account.customer_id).where(Account.account_ref == refs[0])).scalar_one()
        s.execute(update(Account).where(Account.account_ref.in_(refs)).values(customer_id=owner))
    return case_ids


def call(engine: Engine, case_id: int, at: datetime, outcome: str = "no_answer") -> None:
    """An agent's recorded outbound call (passes the gate; raises ContactBlocked when it blocks)."""
    party = "debtor" if outcome == "right_party_contact" else "nobody"
    with Session(engine) as s, s.begin():
        cases.record_interaction(s, case_id=case_id, channel="call", direction="outbound", party=party,
                                 started_at=at, outcome=outcome, rules=RULES, agent_id=42, recording_ref="R")


def may_call(engine: Engine, case_id: int, at: datetime, pack: str = "cn") -> tuple[bool, list[str]]:
    with Session(engine) as s:
        c = candidate_for_case(s, case_id=case_id, channel="call", party="debtor", purpose="collection", at=at,
                               has_recording=True, voicemail_limited=True,
                               content={"collector_disclosure": "full"})
    d = gate(c, load_default_pack(pack))
    return d.allowed, [b.rule_id for b in d.blocks]


def test_six_calls_on_one_account_block_a_seventh_on_the_other(engine: Engine) -> None:
    first, second = same_customer(engine, "B1", "B2")
    for i in range(6):
        call(engine, first, DAY + timedelta(minutes=10 * i))
    later = DAY + timedelta(hours=2)
    assert may_call(engine, second, later) == (False, ["daily_call_limit"])
    with Session(engine) as s, s.begin():
        d = check_contact(s, case_id=second, channel="call", party="debtor", purpose="collection", at=later,
                          actor="user:7", source="api", has_recording=True)
    assert [b.rule_id for b in d.blocks] == ["daily_call_limit"]
    with pytest.raises(ContactBlocked):
        call(engine, second, later)


def test_another_customers_calls_do_not_count(engine: Engine) -> None:
    first = new_case(engine, "B1")
    other = new_case(engine, "B2")
    for i in range(6):
        call(engine, first, DAY + timedelta(minutes=10 * i))
    assert may_call(engine, other, DAY + timedelta(hours=2)) == (True, [])


def test_reg_f_counts_per_debt_and_the_attempt_carries_its_account(engine: Engine) -> None:
    first, second = same_customer(engine, "B1", "B2")
    call(engine, first, DAY)
    with Session(engine) as s:
        c = candidate_for_case(s, case_id=second, channel="call", party="debtor", purpose="collection",
                               at=DAY + timedelta(hours=1), has_recording=True)
    assert [a.account_id for a in c.attempts] == ["B1"] and c.account_id == "B2"
    # 7 calls on B1 in 7 days: Reg F's frequency limit is per debt, so B2 may still be called
    for i in range(1, 7):
        call(engine, first, DAY + timedelta(days=i // 2, hours=i % 2 * 4))
    at = DAY + timedelta(days=3, hours=5)
    allowed, rules = may_call(engine, second, at, pack="us-reg-f")
    assert "call_frequency" not in rules
    assert "call_frequency" in may_call(engine, first, at, pack="us-reg-f")[1]


def test_a_deceased_hold_on_one_account_holds_the_person_a_dispute_does_not(engine: Engine) -> None:
    first, second = same_customer(engine, "B1", "B2")
    with Session(engine) as s, s.begin():
        acc = s.execute(select(Case.account_id).where(Case.id == first)).scalar_one()
        s.add(Hold(account_id=acc, kind="dispute", start_date=date(2026, 3, 1), end_date=None, pauses_ageing=True,
                   reason="test", created_by="test"))
    assert may_call(engine, second, DAY) == (True, [])
    with Session(engine) as s, s.begin():
        s.add(Hold(account_id=acc, kind="deceased", start_date=date(2026, 3, 1), end_date=None,
                   pauses_ageing=False, reason="test", created_by="test"))
    allowed, rules = may_call(engine, second, DAY)
    assert not allowed and rules == ["hold_protected"]


def test_the_worker_reads_the_persons_history(engine: Engine) -> None:
    first, second = same_customer(engine, "B1", "B2")
    call(engine, first, DAY)
    with Session(engine) as s, s.begin():
        m = OutboxMessage(idempotency_key="k-budget", channel="sms", template="reminder", locale="zh_CN",
                          payload={}, case_id=second, status="pending", attempts=0, created_at=DAY,
                          next_attempt_at=DAY)
        s.add(m)
        s.flush()
        ctx = channel_repo.message_context(s, m.id, since=DAY - timedelta(days=31))
    assert [(i[0], i[5]) for i in ctx.interactions] == [(DAY, "B1")]


def test_the_call_plan_reads_the_persons_history(engine: Engine) -> None:
    first, second = same_customer(engine, "B1", "B2")
    for i in range(6):
        call(engine, first, DAY + timedelta(minutes=10 * i))
    due = {c.case_id: c for c in read_due_cases(engine, day=date(2026, 3, 2), bank_tz="Asia/Shanghai")}
    assert len(due[second].attempts) == 6 and {a.account_id for a in due[second].attempts} == {"B1"}
    d = gate(call_candidate(due[second], DAY + timedelta(hours=3)), load_default_pack("cn"))
    assert [b.rule_id for b in d.blocks] == ["daily_call_limit"]


def test_the_days_plan_calls_a_customer_once_whatever_the_number_of_accounts() -> None:
    # customer 1 has three due accounts, customer 2 one: two calls, customer 1's on its most valuable case
    cases = [DueCase(case_id=i, account_ref=f"A{i}", customer_id=1 if i < 4 else 2, time_zone="Asia/Shanghai",
                     contact_point_id=100 + i, weight=float(i)) for i in range(1, 5)]
    plan = build_plan(cases, np.full((4, SLOTS), 0.3), day=date(2026, 3, 10), shifts=[Shift(1, None)],
                      pack=load_default_pack("cn"), calls_per_agent_hour=10)
    assert sorted(c.case_id for c in plan.calls) == [3, 4]
    assert sorted(plan.unplanned) == [1, 2] and plan.blocked == ()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(min_value=2, max_value=4), picks=st.lists(st.integers(min_value=0, max_value=3), min_size=7,
                                                                max_size=12))
def test_a_customer_gets_at_most_the_days_limit_of_calls_whatever_the_split(engine: Engine, k: int,
                                                                            picks: list[int]) -> None:
    """k accounts, calls tried one after another on any of them through the day: at most 6 get through
    (the CN pack's daily limit to the debtor), however they are spread across the accounts."""
    n = next(_refs)
    case_ids = same_customer(engine, *(f"P{n}-{i}" for i in range(k)))
    allowed = 0
    for j, pick in enumerate(picks):
        try:
            call(engine, case_ids[pick % k], DAY + timedelta(minutes=20 * j))
        except ContactBlocked as exc:
            assert [b.rule_id for b in exc.decision.blocks] == ["daily_call_limit"]
        else:
            allowed += 1
    assert allowed == 6


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(min_value=2, max_value=3), picks=st.lists(st.integers(min_value=0, max_value=2), min_size=8,
                                                                max_size=14))
def test_under_reg_f_each_debt_gets_at_most_seven_calls_in_seven_days(engine: Engine, k: int,
                                                                      picks: list[int]) -> None:
    """The same person under ``us-reg-f``: its call frequency counts per debt (scope ``debt``), so each
    account gets at most 7 calls in 7 days, and the person's other accounts do not use them up."""
    n = next(_refs)
    case_ids = same_customer(engine, *(f"R{n}-{i}" for i in range(k)))
    allowed = [0] * k
    for j, pick in enumerate(picks):
        at = DAY + timedelta(hours=j % 2 * 3, days=j // 2)  # 09:00 and 12:00 local, all within seven days
        which = pick % k
        if may_call(engine, case_ids[which], at, pack="us-reg-f")[0]:
            allowed[which] += 1
            with Session(engine) as s, s.begin():  # recorded without an agent: not gated again by the cn pack
                cases.record_interaction(s, case_id=case_ids[which], channel="call", direction="outbound",
                                         party="nobody", started_at=at, outcome="no_answer", rules=RULES)
    asked = [sum(1 for p in picks if p % k == i) for i in range(k)]
    assert all(a == min(q, 7) for a, q in zip(allowed, asked, strict=True)), (allowed, asked)
