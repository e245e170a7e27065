"""The work queue on both stores: ranking, scope, suppression, leases, capacity, assignment rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer
from arrears.auth.tables import Team, User
from arrears.cases import queue
from arrears.cases.tables import Appointment, Case, HoldReview, Interaction, Promise, Task
from arrears.kit.db import transaction
from tests.auth.factories import add_user
from tests.cases.support import case_in, new_case

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, business date 2026-03-02


def team_id(engine, code: str) -> int:
    with transaction(engine) as s:
        row = s.scalars(select(Team).where(Team.code == code)).one_or_none()
        if row is None:
            row = Team(code=code, name=code)
            s.add(row)
            s.flush()
        return row.id


def set_case(engine, case_id: int, **values) -> None:
    with transaction(engine) as s:
        s.execute(update(Case).where(Case.id == case_id).values(**values))


def mk(engine, ref: str, *, team: int | None, balance: int = 100_000, bucket: str = "M1", state: str = "new",
       product: str = "standard", language: str = "zh_CN", propensity_bp: int | None = None) -> int:
    case_id = new_case(engine, ref) if state == "new" else case_in(engine, ref, state)
    set_case(engine, case_id, team_id=team, balance=balance, bucket=bucket, propensity_bp=propensity_bp)
    with transaction(engine) as s:
        account = s.scalars(select(Account).where(Account.account_ref == ref)).one()
        account.product = product
        s.execute(update(Customer).where(Customer.id == account.customer_id).values(language=language))
    return case_id


def agent(engine, name: str, team: str = "T1", *, role: str = "agent", capacity: int = 10) -> User:
    uid = add_user(engine, name, role=role, team=team)
    with transaction(engine) as s:
        user = s.get(User, uid)
        user.capacity = capacity
    return user


def take(engine, user: User, now: datetime = NOW, **kw) -> int | None:
    with transaction(engine) as s:
        got = queue.next_case(s, user=user, now=now, **kw)
        return got.id if got is not None else None


def holder(engine, case_id: int) -> tuple[int | None, datetime | None]:
    with Session(engine) as s:
        row = s.get(Case, case_id)
        return row.held_by, row.lease_expires_at


def test_ranking_appointment_then_broken_promise_then_expected_value(engine):
    t1 = team_id(engine, "T1")
    ann = agent(engine, "ann")
    bob = agent(engine, "bob")
    low_ev = mk(engine, "A1", team=t1, balance=1_000)                       # 1,000 × 6000
    appt_other = mk(engine, "A2", team=t1, balance=2_000)                   # appointment of bob
    appt_mine = mk(engine, "A3", team=t1, balance=1_000)                    # appointment of ann, due now
    appt_later = mk(engine, "A4", team=t1, balance=1_500)                   # ann's, window not yet open
    broken = mk(engine, "A5", team=t1, balance=1_000, state="follow_up")
    big_low_p = mk(engine, "A6", team=t1, balance=900_000, bucket="M7+")    # 900,000 × 500 = 4.5e8
    mid = mk(engine, "A7", team=t1, balance=100_000, bucket="M1")           # 100,000 × 6000 = 6e8
    own_p = mk(engine, "A8", team=t1, balance=100_000, bucket="M7+", propensity_bp=9000)  # 9e8
    with transaction(engine) as s:
        for case_id, owner, start in ((appt_other, bob.id, NOW - timedelta(minutes=5)),
                                      (appt_mine, ann.id, NOW - timedelta(minutes=5)),
                                      (appt_later, ann.id, NOW + timedelta(hours=1))):
            s.add(Appointment(case_id=case_id, owner_id=owner, window_start=start,
                              window_end=start + timedelta(minutes=30), status="scheduled", created_by="test"))
        s.add(Task(case_id=broken, kind="broken_promise", due_on=date(2026, 3, 1), status="open", created_by="t"))
        # a broken-promise task on a case not in follow_up gives it no priority
        s.add(Task(case_id=low_ev, kind="broken_promise", due_on=date(2026, 3, 1), status="open", created_by="t"))
    got = [take(engine, ann) for _ in range(8)]
    assert got[:2] == [appt_mine, broken]
    assert got[2:5] == [own_p, mid, big_low_p]
    # the rest by expected value: A2 (2,000) > A4 (1,500) > A1 (1,000, id before) ... all M1
    assert got[5:] == [appt_other, appt_later, low_ev]
    assert take(engine, ann) is None
    with Session(engine) as s:
        cases = {c.id: c for c in s.scalars(select(Case))}
        assert queue.expected_value(cases[own_p]) == 100_000 * 9000
        assert queue.expected_value(cases[big_low_p]) == 900_000 * 500
        assert all(c.held_by == ann.id and c.claims == 1 for c in cases.values())


def test_agent_sees_only_their_team_and_supervisor_sees_all(engine):
    t1, t2 = team_id(engine, "T1"), team_id(engine, "T2")
    c1 = mk(engine, "B1", team=t1)
    c2 = mk(engine, "B2", team=t2, balance=999_999)
    unassigned = mk(engine, "B3", team=None, balance=5_000_000)
    ann = agent(engine, "ann", "T1")
    assert take(engine, ann) == c1
    assert take(engine, ann) is None
    boss = agent(engine, "boss", "T9", role="supervisor")
    assert take(engine, boss) == unassigned
    assert take(engine, boss) == c2
    assert take(engine, boss) is None


def test_ended_cases_are_not_offered(engine):
    t1 = team_id(engine, "T1")
    mk(engine, "E1", team=t1, state="cured")
    mk(engine, "E2", team=t1, state="closed")
    ann = agent(engine, "ann")
    assert take(engine, ann) is None


def test_suppressed_cases_are_skipped_until_the_promise_window_ends(engine):
    t1 = team_id(engine, "T1")
    promised = mk(engine, "S1", team=t1, balance=900_000)
    reviewed = mk(engine, "S2", team=t1, balance=800_000)
    plain = mk(engine, "S3", team=t1, balance=1_000)
    with transaction(engine) as s:
        s.add(Promise(case_id=promised, amount=50_000, promised_date=date(2026, 3, 1), created_on=date(2026, 2, 25),
                      grace_days=2, tolerance=1000, status="open", created_by="t"))
        talk = Interaction(case_id=reviewed, channel="call", direction="outbound", party="debtor",
                           started_at=NOW - timedelta(days=1), outcome="dispute")
        s.add(talk)
        s.flush()
        s.add(HoldReview(case_id=reviewed, interaction_id=talk.id, outcome="dispute", status="pending"))
    ann = agent(engine, "ann")
    # 2026-03-02 and 03-03 are inside the window (promised 03-01 + 2 days grace)
    assert take(engine, ann, lease=timedelta(days=10)) == plain
    assert take(engine, ann, NOW + timedelta(days=1)) is None
    # 03-04: the window has ended; the pending review still stops contact
    assert take(engine, ann, NOW + timedelta(days=2)) == promised
    assert take(engine, ann, NOW + timedelta(days=2)) is None
    with transaction(engine) as s:
        s.execute(update(HoldReview).values(status="reviewed"))
    assert take(engine, ann, NOW + timedelta(days=2)) == reviewed


def test_lease_blocks_others_until_it_expires_or_is_released(engine):
    t1 = team_id(engine, "T1")
    c = mk(engine, "L1", team=t1)
    ann, bob = agent(engine, "ann"), agent(engine, "bob")
    lease = timedelta(minutes=10)
    assert take(engine, ann, lease=lease) == c
    assert holder(engine, c) == (ann.id, NOW + lease)
    assert take(engine, bob, NOW + lease - timedelta(seconds=1)) is None
    # ann renews before expiry: bob still cannot take it at the old expiry
    with transaction(engine) as s:
        queue.renew(s, case_id=c, user=ann, now=NOW + timedelta(minutes=5), lease=lease)
    assert take(engine, bob, NOW + lease) is None
    # expired: bob takes it over, ann can no longer renew or release it
    assert take(engine, bob, NOW + timedelta(minutes=15)) == c
    for fn in (queue.release, queue.renew):
        with pytest.raises(queue.NotHolder), transaction(engine) as s:
            fn(s, case_id=c, user=ann)
    with transaction(engine) as s:
        queue.release(s, case_id=c, user=bob)
    assert holder(engine, c) == (None, None)
    assert take(engine, ann, NOW + timedelta(minutes=16)) == c
    with Session(engine) as s:
        assert s.get(Case, c).claims == 3


def test_release_of_unknown_case_is_not_found(engine):
    ann = agent(engine, "ann")
    from arrears.kit.errors import NotFound
    with pytest.raises(NotFound), transaction(engine) as s:
        queue.release(s, case_id=12345, user=ann)


def test_capacity_limits_live_leases(engine):
    t1 = team_id(engine, "T1")
    ids = [mk(engine, f"K{i}", team=t1, balance=1000 * (10 - i)) for i in range(4)]
    ann = agent(engine, "ann", capacity=2)
    assert take(engine, ann) == ids[0]
    assert take(engine, ann) == ids[1]
    with pytest.raises(queue.AtCapacity):
        take(engine, ann)
    assert holder(engine, ids[2]) == (None, None)  # the refused claim took nothing
    with transaction(engine) as s:
        queue.release(s, case_id=ids[0], user=ann)
        assert [c.id for c in queue.held_cases(s, user=ann, now=NOW)] == [ids[1]]
    assert take(engine, ann) == ids[0]
    # expired leases do not count against capacity
    later = NOW + queue.DEFAULT_LEASE + timedelta(seconds=1)
    assert take(engine, ann, later) in set(ids)
    assert take(engine, ann, later) in set(ids)
    with pytest.raises(queue.AtCapacity):
        take(engine, ann, later)


def test_assignment_rules_match_bucket_language_and_product(engine):
    early, late, english = team_id(engine, "EARLY"), team_id(engine, "LATE"), team_id(engine, "EN")
    other = team_id(engine, "OTHER")
    with transaction(engine) as s:
        queue.set_skills(s, team_id=early, skills=[queue.Skill("M1", "M2", languages=("zh_CN",))])
        queue.set_skills(s, team_id=late, skills=[queue.Skill("M3", "M7+")])
        queue.set_skills(s, team_id=english, skills=[queue.Skill("M1", "M7+", languages=("en",), priority=10)])
        queue.set_skills(s, team_id=other, skills=[queue.Skill("M1", "M1", products=("gold",), priority=1)])
    m1 = mk(engine, "R1", team=None, bucket="M1")
    m2 = mk(engine, "R2", team=None, bucket="M2")
    m5 = mk(engine, "R3", team=None, bucket="M5")
    en = mk(engine, "R4", team=None, bucket="M2", language="en")
    gold = mk(engine, "R5", team=None, bucket="M1", product="gold")
    m0 = mk(engine, "R6", team=None, bucket="M0")
    kept = mk(engine, "R7", team=other, bucket="M1")
    ended = mk(engine, "R8", team=None, bucket="M1", state="cured")
    with transaction(engine) as s:
        counts = queue.assign_cases(s)
    assert counts == {early: 2, late: 1, english: 1, other: 1}
    with Session(engine) as s:
        got = dict(s.execute(select(Case.id, Case.team_id)).all())
    assert got == {m1: early, m2: early, m5: late, en: english, gold: other, m0: None, kept: other, ended: None}
    with transaction(engine) as s:
        assert queue.assign_cases(s) == {}


def test_skill_ranges_are_checked():
    with pytest.raises(Exception, match="inverted"):
        queue.Skill("M3", "M1")
    with pytest.raises(Exception, match="bucket_to"):
        queue.Skill("M1", "M9")
    assert queue.Skill("M2", "M4").buckets == ("M2", "M3", "M4")


def test_agent_skills_narrow_what_the_agent_takes(engine):
    t1 = team_id(engine, "T1")
    zh = mk(engine, "G1", team=t1, balance=900_000, bucket="M1")
    en = mk(engine, "G2", team=t1, balance=1_000, bucket="M1", language="en")
    late = mk(engine, "G3", team=t1, balance=5_000_000, bucket="M4", language="en")
    ann = agent(engine, "ann")
    with transaction(engine) as s:
        queue.set_skills(s, user_id=ann.id, skills=[queue.Skill("M1", "M3", languages=("en",))])
    assert take(engine, ann) == en
    assert take(engine, ann) is None
    with transaction(engine) as s:
        queue.set_skills(s, user_id=ann.id, skills=[])
    assert [take(engine, ann), take(engine, ann)] == [late, zh]


def test_naive_now_is_refused(engine):
    ann = agent(engine, "ann")
    with pytest.raises(Exception, match="aware"):
        take(engine, ann, datetime(2026, 3, 2, 10, 0))
