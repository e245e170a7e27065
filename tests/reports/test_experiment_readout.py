"""The champion/challenger read-out from the store (SQLite and PostgreSQL): each account's arm and
outcome over a window, summed per arm in SQL; figures worked out by hand on a small experiment, team
scope, how the champion is known, and a property: the store's sums equal ``arm_stats`` of the pure
outcomes built in Python from the same random rows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Hold
from arrears.auth.service import get_or_create_team
from arrears.cases.tables import Case, CaseTransition, Interaction
from arrears.channels.tables import OutboxMessage
from arrears.delinquency.tables import BucketChange, CycleRun, DelinquencySnapshot
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.reports.experiments import (
    SPLIT,
    champion_experiment,
    experiment_readouts,
    refresh_arm_stats,
    store_arm_stats,
    stored_arm_stats,
    stored_readouts,
)
from arrears.strategy.experiments import Arm, ArmStats, Experiment, Outcome, arm_stats, assign
from arrears.strategy.repository import add_experiment_entries
from arrears.strategy.tables import StrategyDecision
from tests.factories import LedgerLoad, load

FROM, TO = date(2026, 3, 1), date(2026, 3, 31)
BUCKETS = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"]


@dataclass
class Acct:
    """One account of a hand-built experiment and everything that happened to it."""

    ref: str
    team: str | None
    decisions: list[tuple[date, str | None, str | None]]  # business date, experiment, arm
    cured: list[tuple[date, bool]] = field(default_factory=list)  # date, by a cycle (else at noon, no run)
    changes: list[tuple[date, str, str, bool]] = field(default_factory=list)  # date, from, to, superseded
    payments: list[tuple[date, int]] = field(default_factory=list)
    interactions: list[tuple[datetime, str, str]] = field(default_factory=list)  # started, direction, outcome
    messages: list[tuple[str, datetime | None]] = field(default_factory=list)  # status, sent_at
    holds: list[tuple[date, bool]] = field(default_factory=list)  # complaint hold start, from the bank's file
    snapshots: list[tuple[date, str]] = field(default_factory=list)  # a current delinquency snapshot's bucket


_refs = itertools.count()


def build(engine: Engine, accounts: list[Acct]) -> dict[str, int]:
    """Write the accounts, their cases (one each, in their team), decisions and outcome events."""
    load(engine, LedgerLoad(accounts=[a.ref for a in accounts],
                            payments=[(f"P{next(_refs)}", a.ref, d, amount) for a in accounts for d, amount in a.payments],
                            holds=[(f"H{next(_refs)}", a.ref, d, None, False) for a in accounts for d, filed in a.holds
                                   if filed]))
    with transaction(engine) as s:
        teams = {t: get_or_create_team(s, code=t, actor="test").id for t in {a.team for a in accounts} if t}
    now = utc_now()
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)
                                .where(Account.account_ref.in_([a.ref for a in accounts]))).all())
        runs: dict[date, int] = {}

        def run(day: date) -> int:
            if day not in runs:
                runs[day] = conn.execute(insert(CycleRun).values(
                    business_date=day, status="completed", ingest_watermark=0, started_at=now, finished_at=now)
                    .returning(CycleRun.id)).scalar_one()
            return runs[day]

        for a in accounts:
            acc = ids[a.ref]
            case_id = conn.execute(insert(Case).values(
                account_id=acc, status="contacting", opened_on=date(2026, 2, 1), open_bucket="M1", bucket="M1", dpd=10,
                opened_by_run_id=run(date(2026, 2, 1)), team_id=teams.get(a.team) if a.team else None, balance=0,
                created_at=now, updated_at=now).returning(Case.id)).scalar_one()
            for day, exp, arm in a.decisions:
                conn.execute(insert(StrategyDecision).values(
                    business_date=day, account_id=acc, case_id=case_id, strategy="early", strategy_version=1,
                    segment="m1", segment_since=day, days_in_segment=0, experiment=exp, arm=arm, actions=[],
                    created_by="cycle", created_at=now))
            for day, by_cycle in a.cured:
                conn.execute(insert(CaseTransition).values(
                    case_id=case_id, from_state="contacting", to_state="cured", actor="cycle", reason="paid",
                    at=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=4),
                    cycle_run_id=run(day) if by_cycle else None))
            for day, frm, to, superseded in a.changes:
                conn.execute(insert(BucketChange).values(
                    account_id=acc, business_date=day, from_bucket=frm, to_bucket=to, dpd=30, cycle_run_id=run(day),
                    superseded_by_run_id=run(day) if superseded else None))
            for day, bucket in a.snapshots:
                conn.execute(insert(DelinquencySnapshot).values(
                    account_id=acc, business_date=day, dpd=BUCKETS.index(bucket) * 30 + 2, delinquent=bucket != "M0",
                    bucket=bucket, cycles_delinquent=1, amount_past_due=100, past_due_c1=100, past_due_c2=0,
                    past_due_c3=0, past_due_c4=0, past_due_c5=0, past_due_c6=0, past_due_c7p=0, charge_off=False,
                    oldest_unpaid_due_date=day - timedelta(days=2), cycle_run_id=run(day)))
            for at, direction, outcome in a.interactions:
                conn.execute(insert(Interaction).values(
                    case_id=case_id, channel="call", direction=direction, party="debtor", started_at=at,
                    outcome=outcome, created_at=now))
            for status, sent_at in a.messages:
                conn.execute(insert(OutboxMessage).values(
                    idempotency_key=f"k{next(_refs)}", channel="sms", case_id=case_id, template="early.sms",
                    locale="zh_CN", payload={}, status=status, attempts=1, next_attempt_at=now, created_at=now,
                    sent_at=sent_at))
            for start, filed in a.holds:
                if not filed:  # placed by an agent's "complaint" outcome: no ingest run
                    conn.execute(insert(Hold).values(
                        account_id=acc, kind="complaint", start_date=start, pauses_ageing=False, reason="interaction",
                        created_by="user:1", created_at=now))
    return teams


def precompute(engine: Engine, accounts: list[Acct], also: tuple[date, ...] = ()) -> None:
    """What the strategy step writes after its decisions, for every decision date in order (entries,
    then the sums) and for the cycle dates ``also`` (a cycle that treated nobody new)."""
    days = sorted({d for a in accounts for d, exp, _ in a.decisions if exp} | set(also))
    for day in days:
        with transaction(engine) as s:
            add_experiment_entries(s, business_date=day)
            refresh_arm_stats(s, business_date=day)


def at(day: date, hour: int = 10) -> datetime:
    """A moment on a business date in Shanghai (UTC+8)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=8)


def small_experiment() -> list[Acct]:
    """Experiment ``sms-first``: arm ``current`` A1 A2 A3, arm ``sms`` B1 B2; east has A1 A2 B1.

    current: A1 cured by the cycle of 3-02, pays 100.00 in the window (and 50.00 in February), two
    outbound calls and one SMS sent (an inbound call is no contact); treated in ``sms`` on 3-03 after
    a share change: still counts in ``current``, its first arm. A2 rolls M1→M2 on 3-02, one outbound
    call with the outcome complaint (and the hold it placed, not counted again). A3 pays 25,000.00;
    a superseded roll, a pending message and one sent after the window count for nothing.
    sms: B1 cured outside a cycle on 3-10, pays 30.00 + 40.00, three SMS sent, gets better M2→M1.
    B2 (first treated 3-02) rolls M1→M3 on 3-03, pays 12,345.67, a complaint hold from the bank's file.
    Also: C treated only in February, N treated with no experiment: neither is in the read-out.
    """
    d = date
    return [
        Acct("A1", "east", [(d(2026, 3, 1), "sms-first", "current"), (d(2026, 3, 2), "sms-first", "current"),
                            (d(2026, 3, 3), "sms-first", "sms")],
             cured=[(d(2026, 3, 2), True)], payments=[(d(2026, 3, 5), 10_000), (d(2026, 2, 20), 5_000)],
             interactions=[(at(d(2026, 3, 2)), "outbound", "no_answer"), (at(d(2026, 3, 4)), "outbound", "refused"),
                           (at(d(2026, 3, 4), 11), "inbound", "right_party_contact")],
             messages=[("sent", at(d(2026, 3, 1), 9))]),
        Acct("A2", "east", [(d(2026, 3, 1), "sms-first", "current")],
             changes=[(d(2026, 3, 2), "M1", "M2", False)],
             interactions=[(at(d(2026, 3, 6)), "outbound", "complaint")], holds=[(d(2026, 3, 6), False)]),
        Acct("A3", "west", [(d(2026, 3, 4), "sms-first", "current")],
             payments=[(d(2026, 3, 31), 2_500_000)], changes=[(d(2026, 3, 8), "M1", "M2", True)],
             messages=[("pending", None), ("sent", at(d(2026, 4, 1), 1))]),
        Acct("B1", "east", [(d(2026, 3, 1), "sms-first", "sms")],
             cured=[(d(2026, 3, 10), False)], payments=[(d(2026, 3, 3), 3_000), (d(2026, 3, 4), 4_000)],
             changes=[(d(2026, 3, 2), "M2", "M1", False)],
             messages=[("sent", at(d(2026, 3, 1), 0)), ("sent", at(d(2026, 3, 2))), ("sent", at(d(2026, 3, 31), 23))]),
        Acct("B2", "west", [(d(2026, 2, 28), "sms-first", "sms"), (d(2026, 3, 2), "sms-first", "sms")],
             changes=[(d(2026, 3, 3), "M1", "M3", False)], payments=[(d(2026, 3, 15), 1_234_567)],
             holds=[(d(2026, 3, 5), True)]),
        Acct("C", "east", [(d(2026, 2, 27), "sms-first", "current")], cured=[(d(2026, 3, 2), True)]),
        Acct("N", "east", [(d(2026, 3, 1), None, None)], payments=[(d(2026, 3, 5), 999)]),
    ]


@pytest.fixture
def experiment_book(engine: Engine) -> dict[str, int]:
    return build(engine, small_experiment())


def test_arm_sums_are_worked_out_by_hand(engine: Engine, experiment_book: dict[str, int]) -> None:
    with Session(engine) as s:
        everyone = store_arm_stats(s, from_date=FROM, to_date=TO)
        east = store_arm_stats(s, from_date=FROM, to_date=TO, team_id=experiment_book["east"])
        west = store_arm_stats(s, from_date=FROM, to_date=TO, team_id=experiment_book["west"])
        first_days = store_arm_stats(s, from_date=FROM, to_date=date(2026, 3, 2))
    assert everyone == {"sms-first": {
        # A1 A2 A3: cured A1, rolled A2; 100.00 + 25,000.00; contacts 3 (A1) + 1 (A2); A2's complaint
        "current": ArmStats("current", n=3, cured=1, rolled=1, recovered_fen=2_510_000,
                            recovered_sq=10_000**2 + 2_500_000**2, contacts=4, contacts_sq=3**2 + 1**2, complaints=1),
        # B1 B2: cured B1, rolled B2; 70.00 + 12,345.67; three SMS (B1); the bank's complaint hold (B2)
        "sms": ArmStats("sms", n=2, cured=1, rolled=1, recovered_fen=1_241_567, recovered_sq=7_000**2 + 1_234_567**2,
                        contacts=3, contacts_sq=9, complaints=1)}}
    assert east == {"sms-first": {
        "current": ArmStats("current", 2, 1, 1, 10_000, 10_000**2, 4, 10, 1),
        "sms": ArmStats("sms", 1, 1, 0, 7_000, 7_000**2, 3, 9, 0)}}
    assert west == {"sms-first": {
        "current": ArmStats("current", 1, 0, 0, 2_500_000, 2_500_000**2, 0, 0, 0),
        "sms": ArmStats("sms", 1, 0, 1, 1_234_567, 1_234_567**2, 0, 0, 1)}}
    # a shorter window: A3 (first treated 3-04) is out; what happens after 3-02 does not count
    assert first_days["sms-first"]["current"] == ArmStats("current", 2, 1, 1, 0, 0, 2, 4, 0)
    assert first_days["sms-first"]["sms"] == ArmStats("sms", 2, 0, 0, 0, 0, 2, 4, 0)
    with Session(engine) as s, pytest.raises(ValueError):
        store_arm_stats(s, from_date=TO, to_date=FROM)


def test_the_readout_names_the_champion_and_compares_the_challenger(engine: Engine,
                                                                    experiment_book: dict[str, int]) -> None:
    with Session(engine) as s:
        by_size = experiment_readouts(s, from_date=FROM, to_date=TO)
        sms_champion = Experiment("sms-first", (Arm("sms", 5000), Arm("current", 5000), Arm("letter", 0)),
                                  salt="sms-first-v1")
        from_file = experiment_readouts(s, from_date=FROM, to_date=TO, known=[sms_champion])
        other_arms = experiment_readouts(s, from_date=FROM, to_date=TO,
                                         known=[Experiment("sms-first", (Arm("x", 10_000),), salt="v1")])
    [r] = by_size
    assert r.champion_rule == "largest arm" and r.readout.champion == "current"
    assert [a.arm for a in r.readout.arms] == ["current", "sms"]
    assert r.readout.arm("current").cure_rate.value == pytest.approx(1 / 3)
    assert r.readout.arm("sms").recovered_fen.value == 620_783.5  # Decimal fen: (7,000 + 1,234,567) / 2
    cure = next(d for d in r.readout.differences if d.measure == "cure_rate")
    assert (cure.challenger, cure.champion) == ("sms", "current")
    assert cure.value == pytest.approx(1 / 2 - 1 / 3) and cure.low < 0 < cure.high
    assert "no clear difference in cure rate" in cure.verdict
    [f] = from_file
    assert f.champion_rule == "file" and f.readout.champion == "sms"
    assert [a.arm for a in f.readout.arms] == ["sms", "current", "letter"] and f.readout.arm("letter").n == 0
    assert {d.challenger for d in f.readout.differences} == {"current"}  # the empty arm is not compared
    assert other_arms[0].champion_rule == "largest arm"  # the file's experiment lacks the store's arms


def test_precomputed_sums_are_the_live_readout_since_the_experiment_began(engine: Engine,
                                                                          experiment_book: dict[str, int]) -> None:
    """Entries and sums as the step writes them: C (first treated 2-27) starts the experiment; A1 stays in
    ``current`` though treated in ``sms`` on 3-03; each cycle date's sums equal the live read-out from
    2-27 to that date, per team and for the whole book."""
    accounts = small_experiment()
    precompute(engine, accounts, also=(TO,))
    start = date(2026, 2, 27)
    with Session(engine) as s:
        for day in (start, date(2026, 3, 1), date(2026, 3, 3), TO):
            for team in (None, experiment_book["east"], experiment_book["west"]):
                as_of, since, got = stored_arm_stats(s, to_date=day, team_id=team)
                assert (as_of, since) == (day, {"sms-first": start} if got else {})
                assert got == store_arm_stats(s, from_date=start, to_date=day, team_id=team), (day, team)
        # between cycle dates the page reads the latest one before
        assert stored_arm_stats(s, to_date=date(2026, 3, 20))[0] == date(2026, 3, 4)
        _, _, everyone = stored_arm_stats(s, to_date=TO)
        as_of, [r] = stored_readouts(s, to_date=TO)
    # the hand-worked figures, plus C in current: cured by the cycle of 3-02, nothing else
    assert everyone == {"sms-first": {
        "current": ArmStats("current", n=4, cured=2, rolled=1, recovered_fen=2_510_000,
                            recovered_sq=10_000**2 + 2_500_000**2, contacts=4, contacts_sq=3**2 + 1**2, complaints=1),
        "sms": ArmStats("sms", n=2, cured=1, rolled=1, recovered_fen=1_241_567, recovered_sq=7_000**2 + 1_234_567**2,
                        contacts=3, contacts_sq=9, complaints=1)}}
    assert (as_of, r.as_of, r.since, r.readout.champion, r.champion_rule) == (TO, TO, start, "current", "largest arm")
    assert r.readout.arm("current").cure_rate.value == pytest.approx(2 / 4)


def test_outcomes_count_from_each_accounts_own_entry(engine: Engine) -> None:
    """What brought an account into the arm is not the treatment's doing, and a roll is ending up worse
    than where it started. X1 entered in grace (M0) on 3-05 after a call and a payment the day before,
    reached M1 on 3-06: no roll. X2 entered with no snapshot (current), reached M1 on its entry day's
    cycle (before the treatment) and M2 on 3-20: rolled. X3 entered in M2, was cured to M0, fell behind
    to M1 and M2 again: no roll. X4 entered in M2 and reached M3: rolled."""
    d = date
    entry = d(2026, 3, 5)
    accounts = [
        Acct("X1", "east", [(entry, "entry", "a")], snapshots=[(entry, "M0")],
             changes=[(d(2026, 3, 6), "M0", "M1", False)],
             payments=[(d(2026, 3, 4), 50_000), (entry, 70_000)],
             interactions=[(at(d(2026, 3, 4)), "outbound", "no_answer"), (at(entry), "outbound", "no_answer")]),
        Acct("X2", "east", [(entry, "entry", "a"), (d(2026, 3, 6), "entry", "a")],
             changes=[(entry, "M0", "M1", False), (d(2026, 3, 20), "M1", "M2", False)],
             cured=[(entry, False)], messages=[("sent", at(d(2026, 3, 4), 23)), ("sent", at(entry, 0))]),
        Acct("X3", "west", [(entry, "entry", "a")], snapshots=[(entry, "M2")],
             changes=[(d(2026, 3, 10), "M2", "M0", False), (d(2026, 3, 15), "M0", "M1", False),
                      (d(2026, 3, 25), "M1", "M2", False)]),
        Acct("X4", "west", [(entry, "entry", "a")], snapshots=[(entry, "M2")],
             changes=[(d(2026, 3, 28), "M2", "M3", False)]),
    ]
    build(engine, accounts)
    precompute(engine, accounts, also=(TO,))
    # X2's case moved to cured by a person on its entry day counts (after the cycle had treated it)
    want = {"entry": {"a": ArmStats("a", n=4, cured=1, rolled=2, recovered_fen=70_000, recovered_sq=70_000**2,
                                    contacts=2, contacts_sq=2, complaints=0)}}
    with Session(engine) as s:
        assert store_arm_stats(s, from_date=FROM, to_date=TO) == want
        assert stored_arm_stats(s, to_date=TO)[2] == want


def test_the_largest_arm_rule_breaks_ties_by_code() -> None:
    stats = {"b": ArmStats("b", 5), "a": ArmStats("a", 5), "c": ArmStats("c", 2)}
    experiment, rule = champion_experiment("e", stats)
    assert rule == "largest arm" and experiment.champion_arm.code == "a"
    assert [a.code for a in experiment.arms] == ["a", "b", "c"]


# -- property: the store's sums are arm_stats of the same rows, outcome by outcome in Python -------------

DAYS = [FROM + timedelta(days=i) for i in range(-3, 34)]  # some before, some after the window
day = st.sampled_from(DAYS)


def _account(i: int) -> st.SearchStrategy[dict]:  # type: ignore[type-arg]
    return st.fixed_dictionaries({
        "team": st.sampled_from(["east", "west", None]),
        "days": st.lists(day, min_size=1, max_size=3, unique=True),
        "cured": st.lists(st.tuples(day, st.booleans()), max_size=2),
        "changes": st.lists(st.tuples(day, st.sampled_from(BUCKETS), st.sampled_from(BUCKETS), st.booleans()),
                            max_size=3, unique_by=lambda c: c[0]),
        "payments": st.lists(st.tuples(day, st.integers(1, 5 * SPLIT * SPLIT)), max_size=3),
        "interactions": st.lists(st.tuples(day, st.integers(0, 23), st.sampled_from(["outbound", "inbound"]),
                                           st.sampled_from(["complaint", "no_answer"])), max_size=3),
        "messages": st.lists(st.tuples(st.sampled_from(["sent", "pending", "dead"]), day, st.integers(0, 23)),
                             max_size=3),
        "holds": st.lists(st.tuples(day, st.booleans()), max_size=2),
    })


def _expected(ref: str, spec: dict) -> Outcome:  # type: ignore[type-arg]
    """The outcome from the account's first treated date of the window (``since``) to its end: a cure
    or a roll by a cycle after that date (the day's own cycle ran before the treatment), anything
    else on or after it."""
    since = min(d for d in spec["days"] if FROM <= d <= TO)

    def inside(d: date) -> bool:
        return since <= d <= TO

    def after(d: date) -> bool:
        return since < d <= TO

    rank = BUCKETS.index
    # only current bucket changes; one per account and date (the store's unique key)
    return Outcome(
        account_id=ref,
        cured=any(after(d) if by_cycle else inside(d) for d, by_cycle in spec["cured"]),
        # no snapshots here: every account entered as current, so a roll is reaching M2 or worse
        rolled=any(after(d) and not sup and rank(t) > rank("M1") for d, f, t, sup in spec["changes"]),
        recovered_fen=sum(a for d, a in spec["payments"] if inside(d)),
        contacts=sum(1 for d, _, direction, _ in spec["interactions"] if inside(d) and direction == "outbound")
        + sum(1 for status, d, _ in spec["messages"] if status == "sent" and inside(d)),
        complaints=sum(1 for d, _, _, outcome in spec["interactions"] if inside(d) and outcome == "complaint")
        + sum(1 for d, filed in spec["holds"] if filed and inside(d)))


_experiments = itertools.count()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(_account(0), min_size=1, max_size=8))
def test_store_sums_equal_arm_stats_of_the_pure_outcomes(engine: Engine, specs: list[dict]) -> None:  # type: ignore[type-arg]
    n = next(_experiments)
    experiment = Experiment(f"exp{n}", (Arm("champ", 6000), Arm("chal", 3000), Arm("other", 1000)), salt=f"s{n}")
    accounts, outcomes = [], []
    for i, spec in enumerate(specs):
        ref = f"X{n}-{i}"
        arm = assign(ref, experiment).code
        accounts.append(Acct(
            ref, spec["team"], [(d, experiment.code, arm) for d in spec["days"]], cured=spec["cured"],
            changes=spec["changes"], payments=spec["payments"],
            interactions=[(at(d, h), direction, outcome) for d, h, direction, outcome in spec["interactions"]],
            messages=[(status, at(d, h) if status == "sent" else None) for status, d, h in spec["messages"]],
            holds=spec["holds"]))
        if any(FROM <= d <= TO for d in spec["days"]):
            outcomes.append(_expected(ref, spec))
    teams = build(engine, accounts)
    with Session(engine) as s:
        got = store_arm_stats(s, from_date=FROM, to_date=TO).get(experiment.code, {})
        east = store_arm_stats(s, from_date=FROM, to_date=TO, team_id=teams["east"]).get(experiment.code, {}) \
            if "east" in teams else {}
    want = {code: stats for code, stats in arm_stats(outcomes, experiment).items() if stats.n}
    assert got == want
    east_refs = {a.ref for a in accounts if a.team == "east"}
    want_east = {code: stats for code, stats in
                 arm_stats([o for o in outcomes if o.account_id in east_refs], experiment).items() if stats.n}
    assert east == want_east
