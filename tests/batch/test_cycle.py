"""The daily cycle against a real store (SQLite and PostgreSQL), checked against the pure reference."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from arrears.accounts.tables import Account
from arrears.batch import cycle as cycle_module
from arrears.batch.cycle import run_cycle
from arrears.cases.tables import Case
from arrears.delinquency.export import export_delinquency
from arrears.delinquency.model import DelinquencyRules, Hold, Payment, Statement, assess
from arrears.delinquency.tables import BucketChange, CycleRun, DelinquencySnapshot
from arrears.kit.errors import NotFound
from tests.factories import LedgerLoad, load

RULES = DelinquencyRules()
FIG = ("dpd", "delinquent", "bucket", "cycles_delinquent", "amount_past_due", "charge_off")


def snapshots(engine: Engine) -> dict[tuple[str, date], tuple]:
    s = DelinquencySnapshot
    with engine.connect() as conn:
        rows = conn.execute(
            select(Account.account_ref, s.business_date, *(getattr(s, c) for c in FIG),
                   s.past_due_c1, s.past_due_c2, s.past_due_c7p, s.oldest_unpaid_due_date)
            .join(Account, Account.id == s.account_id).where(s.superseded_by_run_id.is_(None))
        ).all()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def changes(engine: Engine) -> dict[tuple[str, date], tuple[str, str, int]]:
    b = BucketChange
    with engine.connect() as conn:
        rows = conn.execute(
            select(Account.account_ref, b.business_date, b.from_bucket, b.to_bucket, b.dpd)
            .join(Account, Account.id == b.account_id).where(b.superseded_by_run_id.is_(None))
        ).all()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def cases(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(Account.account_ref, Case.status, Case.opened_on, Case.closed_on, Case.bucket)
            .join(Account, Account.id == Case.account_id).order_by(Account.account_ref, Case.opened_on)
        ).all()]


def count(engine: Engine, model) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def expected(ledger: LedgerLoad, ref: str, as_of: date):  # type: ignore[no-untyped-def]
    stmts = [Statement(s, d, m, c) for r, s, d, m, c in ledger.statements if r == ref]
    pays = [Payment(v, a) for _p, r, v, a in ledger.payments if r == ref]
    holds = [Hold(s, e, p) for _h, r, s, e, p in ledger.holds if r == ref]
    return assess(stmts, pays, holds, as_of=as_of, rules=RULES)


def months(ref: str, n: int, minimum: int = 50_000, start: date = date(2026, 1, 5)) -> list:
    out = []
    for i in range(n):
        stmt = date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, start.day)
        out.append((ref, stmt, stmt + timedelta(days=20), minimum, 0))
    return out


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_a_missed_payment_opens_a_case_and_is_exported(engine: Engine) -> None:
    ledger = LedgerLoad(accounts=["A1", "A2"], statements=months("A1", 3) + months("A2", 3),
                        payments=[("P1", "A2", date(2026, 1, 20), 50_000), ("P2", "A2", date(2026, 2, 20), 50_000)])
    load(engine, ledger)
    result = run_cycle(engine, business_date=date(2026, 3, 10), rules=RULES)
    # A1 never paid: oldest unpaid statement due 2026-01-25 -> 44 days past due, M2.
    a1 = snapshots(engine)[("A1", date(2026, 3, 10))]
    assert a1[:6] == (44, True, "M2", 2, 100_000, False)
    assert ("A2", date(2026, 3, 10)) not in snapshots(engine)  # current accounts have no snapshot row
    assert cases(engine) == [("A1", "new", date(2026, 3, 10), None, "M2")]
    assert result.delinquent_accounts == 1 and result.cases_opened == 1
    assert {line.bucket: line.accounts for line in result.summary}["M2"] == 1
    out = io.StringIO()
    assert export_delinquency(engine, business_date=date(2026, 3, 10), rules=RULES, stream=out) == 2
    assert out.getvalue().splitlines() == [
        "account_id,business_date,dpd,bucket,cycles_delinquent,amount_past_due_fen,charge_off",
        "A1,2026-03-10,44,M2,2,100000,false",
        "A2,2026-03-10,0,M0,0,0,false",
    ]


def test_export_refuses_a_date_that_was_not_run(engine: Engine) -> None:
    with pytest.raises(NotFound, match="no completed cycle for 2026-03-10"):
        export_delinquency(engine, business_date=date(2026, 3, 10), rules=RULES, stream=io.StringIO())


def test_rerunning_a_date_changes_nothing(engine: Engine) -> None:
    load(engine, LedgerLoad(accounts=["A1", "A2"], statements=months("A1", 3) + months("A2", 2)))
    first = run_cycle(engine, business_date=date(2026, 3, 10), rules=RULES)
    before = (snapshots(engine), changes(engine), cases(engine), count(engine, DelinquencySnapshot))
    again = run_cycle(engine, business_date=date(2026, 3, 10), rules=RULES)
    assert first.snapshots_written == 2 and first.bucket_changes_written == 2
    assert (again.snapshots_written, again.snapshots_superseded, again.bucket_changes_written,
            again.cases_opened, again.cases_closed) == (0, 0, 0, 0, 0)
    assert (snapshots(engine), changes(engine), cases(engine), count(engine, DelinquencySnapshot)) == before


def test_cure_closes_the_case_and_records_the_bucket_change(engine: Engine) -> None:
    ledger = LedgerLoad(accounts=["A1"], statements=months("A1", 2))
    load(engine, ledger)
    run_cycle(engine, business_date=date(2026, 2, 10), rules=RULES)
    assert cases(engine) == [("A1", "new", date(2026, 2, 10), None, "M1")]
    load(engine, LedgerLoad(payments=[("P9", "A1", date(2026, 2, 11), 100_000)]))
    result = run_cycle(engine, business_date=date(2026, 2, 11), rules=RULES)
    assert result.cases_closed == 1
    assert cases(engine) == [("A1", "cured", date(2026, 2, 10), date(2026, 2, 11), "M1")]
    assert changes(engine) == {("A1", date(2026, 2, 10)): ("M0", "M1", 16), ("A1", date(2026, 2, 11)): ("M1", "M0", 0)}


@pytest.mark.parametrize("engine_name", ["arrays", "sql"])
def test_a_backdated_payment_restates_history_as_if_it_had_come_on_time(store_url: str, tmp_path,
                                                                          engine_name: str) -> None:
    from arrears.kit.db import make_engine

    def run_cycle(engine, **kwargs):  # type: ignore[no-untyped-def]  # both engines, same history
        return cycle_module.run_cycle(engine, engine_name=engine_name, **kwargs)

    stmts = months("A1", 3) + months("A2", 3)
    late = [("P1", "A1", date(2026, 2, 20), 50_000), ("P2", "A2", date(2026, 2, 25), 20_000)]
    run_days = days(date(2026, 2, 24), date(2026, 3, 6))

    # B: the payments reach the store only after several runs, dated in the past.
    engine = make_engine(store_url)
    load(engine, LedgerLoad(accounts=["A1", "A2"], statements=stmts))
    for d in run_days[:6]:
        run_cycle(engine, business_date=d, rules=RULES)
    late_snapshots_before = count(engine, DelinquencySnapshot)
    load(engine, LedgerLoad(payments=late))
    results = [run_cycle(engine, business_date=d, rules=RULES) for d in run_days[6:]]
    restated = (snapshots(engine), changes(engine))
    assert count(engine, DelinquencySnapshot) > late_snapshots_before  # superseded rows are kept, not deleted
    with engine.connect() as conn:
        superseded = conn.execute(select(func.count()).select_from(DelinquencySnapshot)
                                  .where(DelinquencySnapshot.superseded_by_run_id.is_not(None))).scalar_one()
    assert superseded > 0
    assert results[0].restated_from == date(2026, 2, 20) and results[0].restated_accounts == 2
    assert results[1].restated_from is None

    # Reference: every day's figures equal the pure model with the payments known from the start.
    full = LedgerLoad(accounts=["A1", "A2"], statements=stmts, payments=late)
    for (ref, d), row in restated[0].items():
        want = expected(full, ref, d)
        assert row[:6] == (want.dpd, want.delinquent, want.bucket, want.cycles_delinquent,
                           want.amount_past_due, want.charge_off), (ref, d)
    for ref in ("A1", "A2"):
        for d in run_days:
            want = expected(full, ref, d)
            assert ((ref, d) in restated[0]) == (want.dpd > 0 or want.amount_past_due > 0 or want.charge_off)
    engine.dispose()

    # A: same ledger, payments on time, same runs -> same current history.
    if store_url.startswith("sqlite"):
        other_url = f"sqlite:///{tmp_path / 'on-time.sqlite'}"
        other = make_engine(other_url)
        from arrears.kit.migrate import upgrade

        upgrade(other)
        load(other, full)
        for d in run_days:
            run_cycle(other, business_date=d, rules=RULES)
        assert (snapshots(other), changes(other)) == restated
        other.dispose()


def test_a_late_dispute_hold_pauses_ageing_from_its_start(engine: Engine) -> None:
    load(engine, LedgerLoad(accounts=["A1"], statements=months("A1", 1)))
    for d in days(date(2026, 1, 26), date(2026, 2, 5)):
        run_cycle(engine, business_date=d, rules=RULES)
    assert snapshots(engine)[("A1", date(2026, 2, 5))][0] == 11
    load(engine, LedgerLoad(holds=[("H1", "A1", date(2026, 1, 30), None, True)]))
    result = run_cycle(engine, business_date=date(2026, 2, 6), rules=RULES)
    assert result.restated_from == date(2026, 1, 30)
    snaps = snapshots(engine)
    # Ageing stopped on 2026-01-30: DPD 4 on the 29th, frozen at 4 from then on.
    assert [snaps[("A1", d)][0] for d in days(date(2026, 1, 28), date(2026, 2, 6))] == [3, 4] + [4] * 8
    assert cases(engine) == [("A1", "new", date(2026, 1, 29), None, "M1")]


def test_a_run_killed_while_writing_leaves_the_store_unchanged(engine: Engine, monkeypatch) -> None:
    ledger = LedgerLoad(accounts=["A1", "A2", "A3"], statements=months("A1", 4) + months("A2", 4) + months("A3", 2),
                        payments=[("P1", "A2", date(2026, 2, 1), 30_000)])
    load(engine, ledger)
    real_insert = cycle_module.insert_arrow
    calls = {"n": 0}

    def dying_insert(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:  # snapshots are in, bucket changes are next: die here
            raise KeyboardInterrupt("killed")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(cycle_module, "insert_arrow", dying_insert)
    with pytest.raises(KeyboardInterrupt):
        run_cycle(engine, business_date=date(2026, 4, 30), rules=RULES)
    assert (count(engine, CycleRun), count(engine, DelinquencySnapshot), count(engine, Case)) == (0, 0, 0)
    monkeypatch.setattr(cycle_module, "insert_arrow", real_insert)
    run_cycle(engine, business_date=date(2026, 4, 30), rules=RULES)
    for ref in ("A1", "A2", "A3"):
        want = expected(ledger, ref, date(2026, 4, 30))
        got = snapshots(engine).get((ref, date(2026, 4, 30)))
        assert got is not None and got[:6] == (want.dpd, want.delinquent, want.bucket, want.cycles_delinquent,
                                               want.amount_past_due, want.charge_off)
    assert count(engine, CycleRun) == 1 and len(cases(engine)) == 3


ledger_events = st.lists(
    st.tuples(st.sampled_from(["A1", "A2", "A3"]), st.integers(0, 70), st.integers(1, 90_000), st.integers(0, 70)),
    max_size=12,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=ledger_events, minimum=st.integers(0, 80_000))
def test_history_equals_the_reference_whatever_order_payments_arrive_in(engine: Engine, events, minimum) -> None:
    """Payments reach the store on arbitrary run days, often backdated; the final history is the
    reference's, day by day."""
    from arrears.kit.models import metadata

    with engine.begin() as conn:  # hypothesis reuses the fixture: start each example empty
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    refs = ["A1", "A2", "A3"]
    stmts = [s for r in refs for s in months(r, 3, minimum=minimum)]
    start = date(2026, 1, 20)
    run_days = [start + timedelta(days=9 * i) for i in range(8)]
    payments = [(f"P{i}", ref, start + timedelta(days=v), amt, start + timedelta(days=arr))
                for i, (ref, v, amt, arr) in enumerate(events)]
    load(engine, LedgerLoad(accounts=refs, statements=stmts))
    loaded: set[str] = set()
    for d in run_days:
        arrived = [(p, r, v, a) for p, r, v, a, arr in payments if arr <= d and p not in loaded]
        if arrived:
            load(engine, LedgerLoad(payments=arrived))
            loaded.update(p for p, *_ in arrived)
        run_cycle(engine, business_date=d, rules=RULES)
    # The reference knows every payment that reached the store by the last run, from the start.
    full = LedgerLoad(accounts=refs, statements=stmts,
                      payments=[(p, r, v, a) for p, r, v, a, _ in payments if p in loaded])
    snaps = snapshots(engine)
    for ref in refs:
        for d in run_days:
            want = expected(full, ref, d)
            row = snaps.get((ref, d))
            if want.dpd > 0 or want.amount_past_due > 0 or want.charge_off:
                assert row is not None and row[:6] == (want.dpd, want.delinquent, want.bucket,
                                                       want.cycles_delinquent, want.amount_past_due,
                                                       want.charge_off), (ref, d)
            else:
                assert row is None, (ref, d)


def test_cases_carry_the_latest_statement_balance_for_the_work_queue(engine: Engine) -> None:
    load(engine, LedgerLoad(accounts=["A1"], statements=months("A1", 2, minimum=40_000)))
    run_cycle(engine, business_date=date(2026, 2, 10), rules=RULES)

    def balance() -> int:
        with engine.connect() as conn:
            return conn.execute(select(Case.balance)).scalar_one()

    assert balance() == 400_000  # the factory's new balance is ten times the minimum
    load(engine, LedgerLoad(statements=[("A1", date(2026, 3, 5), date(2026, 3, 25), 65_000, 40_000)]))
    result = run_cycle(engine, business_date=date(2026, 3, 6), rules=RULES)
    assert balance() == 650_000 and result.cases_opened == 0
    again = run_cycle(engine, business_date=date(2026, 3, 6), rules=RULES)
    assert (again.cases_opened, again.cases_closed, again.snapshots_written) == (0, 0, 0)
