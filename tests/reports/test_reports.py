"""The collections reports on a small hand-built store (SQLite and PostgreSQL), figures worked out by
hand; and the pure arithmetic (rates, roll matrix, hour grid) with properties."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer
from arrears.auth.service import get_or_create_team
from arrears.auth.tables import User
from arrears.cases.tables import Case, CaseTransition, Interaction, Promise, Task
from arrears.delinquency.repository import refresh_book_figures
from arrears.delinquency.tables import CycleRun, DelinquencySnapshot
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.reports import service
from arrears.reports.model import HourGrid, percent, rate_bp, roll_matrix
from tests.factories import LedgerLoad, load

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)
SH = ZoneInfo("Asia/Shanghai")


# -- pure ------------------------------------------------------------------------------------------

def test_rate_is_half_up_and_none_without_a_denominator() -> None:
    assert [rate_bp(1, 3), rate_bp(2, 3), rate_bp(1, 8), rate_bp(0, 5), rate_bp(5, 5)] == [3333, 6667, 1250, 0, 10000]
    assert rate_bp(3, 0) is None and percent(None) == "–" and percent(1250) == "12.50 %"
    with pytest.raises(ValueError):
        rate_bp(-1, 3)


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_rate_is_the_nearest_basis_point(num: int, den: int) -> None:
    bp = rate_bp(num, den)
    assert bp is not None and abs(bp * den - num * 10_000) * 2 <= den


@given(st.lists(st.tuples(st.sampled_from(["M0", "M1", "M2", "M3"]), st.sampled_from(["M0", "M1", "M2", "M3"]),
                          st.integers(1, 50)), max_size=30))
def test_roll_matrix_rows_add_up(pairs: list[tuple[str, str, int]]) -> None:
    m = roll_matrix(pairs, ["M0", "M1", "M2", "M3"])
    for row in m.table():
        f = row["from_bucket"]
        assert sum(row[f"to_{t}"] for t in m.buckets) == row["accounts"] == sum(n for a, _, n in pairs if a == f)
        better_or_same = sum(row[f"to_{t}"] for t in m.buckets[: m.buckets.index(f) + 1])
        assert rate_bp(row["accounts"] - better_or_same, row["accounts"]) == m.roll_forward_bp(f)


def test_roll_matrix_refuses_an_unknown_bucket() -> None:
    with pytest.raises(ValueError, match="M9"):
        roll_matrix([("M1", "M9", 1)], ["M0", "M1"])


def test_hour_grid_uses_the_customers_zone() -> None:
    grid = HourGrid()
    # Monday 2026-03-02 01:30 UTC is 09:30 in Shanghai and 07:30 in Urumqi
    grid.add(datetime(2026, 3, 2, 1, 30, tzinfo=UTC), SH, True)
    grid.add(datetime(2026, 3, 2, 1, 30, tzinfo=UTC), ZoneInfo("Asia/Urumqi"), False)
    assert grid.cells() == [{"weekday": "Mon", "hour": 7, "attempts": 1, "rpc": 0, "rpc_bp": 0},
                            {"weekday": "Mon", "hour": 9, "attempts": 1, "rpc": 1, "rpc_bp": 10000}]
    with pytest.raises(ValueError):
        grid.add(datetime(2026, 3, 2, 1, 30), SH, True)


# -- the store -------------------------------------------------------------------------------------

def _run(conn, day: date) -> int:  # type: ignore[no-untyped-def]
    now = utc_now()
    return conn.execute(insert(CycleRun).values(
        business_date=day, status="completed", ingest_watermark=0, accounts_assessed=6, delinquent_accounts=4,
        restated_accounts=0, snapshots_written=4, bucket_changes=0, cases_opened=0, cases_closed=0, started_at=now,
        finished_at=now).returning(CycleRun.id)).scalar_one()


def _snap(conn, account_id: int, day: date, run: int, bucket: str, dpd: int, past_due: int,  # type: ignore[no-untyped-def]
          delinquent: bool = True) -> None:
    conn.execute(insert(DelinquencySnapshot).values(
        account_id=account_id, business_date=day, dpd=dpd, delinquent=delinquent, bucket=bucket, cycles_delinquent=1,
        amount_past_due=past_due, past_due_c1=past_due, past_due_c2=0, past_due_c3=0, past_due_c4=0, past_due_c5=0,
        past_due_c6=0, past_due_c7p=0, charge_off=False, oldest_unpaid_due_date=None, cycle_run_id=run))


@pytest.fixture
def book(engine: Engine) -> dict[str, int]:
    """Six accounts A–F. Team east has A, B, C; west has D, E; F has no case.

    D1: A M1, B M1, C M2, D M3, E M1 in arrears.   D2: A cured (current), B M1, C M3, D M3, E M2, F M1.
    D3: like D2. Cases: A cured by the D2 cycle; the others open. Promises due in March: A kept, B broken,
    D kept, E open. Calls: three by agent_e on D2 (two reach the cardholder), one by agent_w.
    """
    refs = ["A", "B", "C", "D", "E", "F"]
    load(engine, LedgerLoad(accounts=refs))
    with transaction(engine) as s:
        east = get_or_create_team(s, code="east", actor="test").id
        west = get_or_create_team(s, code="west", actor="test").id
        s.add_all([User(username="agent_e", password_hash="x", role="agent", team_id=east, active=True),
                   User(username="agent_w", password_hash="x", role="agent", team_id=west, active=True)])
    with engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        users = dict(conn.execute(select(User.username, User.id)).all())
        conn.execute(update(Customer).where(Customer.customer_ref == "C-D").values(time_zone="Asia/Urumqi"))
        r1, r2, r3 = _run(conn, D1), _run(conn, D2), _run(conn, D3)
        for ref, b, dpd, due in (("A", "M1", 10, 100), ("B", "M1", 20, 200), ("C", "M2", 40, 300),
                                 ("D", "M3", 70, 400), ("E", "M1", 25, 500)):
            _snap(conn, ids[ref], D1, r1, b, dpd, due)
        for day, run in ((D2, r2), (D3, r3)):
            _snap(conn, ids["A"], day, run, "M0", 0, 0, delinquent=False)  # paid in full (a leftover row)
            for ref, b, dpd, due in (("B", "M1", 21, 200), ("C", "M3", 70, 350), ("D", "M3", 71, 400),
                                     ("E", "M2", 35, 600), ("F", "M1", 5, 700)):
                _snap(conn, ids[ref], day, run, b, dpd, due)
        cases = {}
        now = utc_now()
        for ref, team, status, balance in (("A", east, "cured", 0), ("B", east, "contacting", 10_000),
                                           ("C", east, "follow_up", 20_000), ("D", west, "contacting", 30_000),
                                           ("E", west, "new", 40_000)):
            cases[ref] = conn.execute(insert(Case).values(
                account_id=ids[ref], status=status, opened_on=date(2026, 2, 1), open_bucket="M1", bucket="M1", dpd=10,
                opened_by_run_id=r1, team_id=team, balance=balance, created_at=now, updated_at=now,
                held_by=users["agent_e"] if ref == "B" else None).returning(Case.id)).scalar_one()
        conn.execute(insert(CaseTransition).values(case_id=cases["A"], from_state="contacting", to_state="cured",
                                                   actor="cycle", reason="paid", at=now, cycle_run_id=r2))
        for ref, status, promised in (("A", "kept", date(2026, 3, 1)), ("B", "broken", date(2026, 3, 2)),
                                      ("D", "kept", date(2026, 3, 2)), ("E", "open", date(2026, 3, 5)),
                                      ("C", "broken", date(2026, 2, 20))):
            conn.execute(insert(Promise).values(
                case_id=cases[ref], amount=10_000, promised_date=promised, created_on=min(D1, promised), grace_days=3,
                tolerance=0,
                status=status, created_by=f"user:{users['agent_e' if ref in 'ABC' else 'agent_w']}", created_at=now))
        # D2 in Shanghai: 10:15 and 19:40 reach the debtor, 12:05 does not; Urumqi (D) call at 03:00 UTC = 09:00 there
        for ref, at, party, agent in (("B", datetime(2026, 3, 2, 2, 15, tzinfo=UTC), "debtor", "agent_e"),
                                      ("C", datetime(2026, 3, 2, 4, 5, tzinfo=UTC), "nobody", "agent_e"),
                                      ("C", datetime(2026, 3, 2, 11, 40, tzinfo=UTC), "debtor", "agent_e"),
                                      ("D", datetime(2026, 3, 2, 3, 0, tzinfo=UTC), "debtor", "agent_w")):
            conn.execute(insert(Interaction).values(
                case_id=cases[ref], channel="call", direction="outbound", party=party, started_at=at,
                outcome="right_party_contact" if party == "debtor" else "no_answer", agent_id=users[agent],
                created_at=now))
        for ref, due in (("B", D3), ("C", D2), ("D", D3)):
            conn.execute(insert(Task).values(case_id=cases[ref], kind="call", due_on=due, status="open",
                                             created_by="test", created_at=now))
        refresh_book_figures(conn, [D1, D2, D3])  # what each date's cycle writes with its snapshots
    return {"east": east, "west": west, **{f"case_{k}": v for k, v in cases.items()}}


def test_by_bucket_counts_accounts_past_due_and_balance(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        assert service.by_bucket(s, business_date=D2) == [
            {"bucket": "M1", "accounts": 2, "past_due_fen": 900, "balance_fen": 10_000},  # B and F (no case)
            {"bucket": "M2", "accounts": 1, "past_due_fen": 600, "balance_fen": 40_000},
            {"bucket": "M3", "accounts": 2, "past_due_fen": 750, "balance_fen": 50_000}]
        assert service.by_bucket(s, business_date=D2, team_id=book["east"]) == [
            {"bucket": "M1", "accounts": 1, "past_due_fen": 200, "balance_fen": 10_000},
            {"bucket": "M3", "accounts": 1, "past_due_fen": 350, "balance_fen": 20_000}]


def test_roll_rates_from_one_date_to_another(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        m = service.roll_rates(s, from_date=D1, to_date=D2)
        east = service.roll_rates(s, from_date=D1, to_date=D2, team_id=book["east"])
        with pytest.raises(ValueError):
            service.roll_rates(s, from_date=D2, to_date=D1)
    # M1 on D1: A (cured), B (stays), E (to M2); M2: C (to M3); M3: D (stays)
    assert m.rows() == ["M1", "M2", "M3"]
    assert (m.counts[("M1", "M0")], m.counts[("M1", "M1")], m.counts[("M1", "M2")]) == (1, 1, 1)
    assert m.cure_bp("M1") == 3333 and m.roll_forward_bp("M1") == 3333 and m.roll_forward_bp("M2") == 10000
    assert m.roll_forward_bp("M3") == 0
    assert east.table()[0]["accounts"] == 2 and east.cure_bp("M1") == 5000


def test_cure_trend_per_cycle_date(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        trend = service.cure_trend(s, from_date=D1, to_date=D3)
        west = service.cure_trend(s, from_date=D1, to_date=D3, team_id=book["west"])
    assert trend == [{"business_date": D2, "cured": 1, "in_arrears_before": 5, "cure_bp": 2000},
                     {"business_date": D3, "cured": 0, "in_arrears_before": 5, "cure_bp": 0}]
    assert [r["cured"] for r in west] == [0, 0] and west[0]["in_arrears_before"] == 2


def test_promise_kept_rate(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        march = service.promise_kept(s, from_date=date(2026, 3, 1), to_date=date(2026, 3, 31))
        east = service.promise_kept(s, from_date=date(2026, 3, 1), to_date=date(2026, 3, 31), team_id=book["east"])
    assert (march["kept"], march["broken"], march["open"], march["kept_bp"]) == (2, 1, 1, 6667)
    assert (east["kept"], east["broken"], east["kept_bp"]) == (1, 1, 5000)


def test_rpc_by_hour_of_week_in_the_customers_zone(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        grid = service.rpc_by_hour(s, from_date=D2, to_date=D2)
        east = service.rpc_by_hour(s, from_date=D2, to_date=D2, team_id=book["east"])
        other_day = service.rpc_by_hour(s, from_date=D3, to_date=D3)
    assert grid.cells() == [
        {"weekday": "Mon", "hour": 9, "attempts": 1, "rpc": 1, "rpc_bp": 10000},  # D, Urumqi
        {"weekday": "Mon", "hour": 10, "attempts": 1, "rpc": 1, "rpc_bp": 10000},
        {"weekday": "Mon", "hour": 12, "attempts": 1, "rpc": 0, "rpc_bp": 0},
        {"weekday": "Mon", "hour": 19, "attempts": 1, "rpc": 1, "rpc_bp": 10000}]
    assert sum(east.attempts) == 3 and sum(other_day.attempts) == 0


def test_queue_health_and_agent_activity(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        health = service.queue_health(s, today=D3)
        activity = service.agent_activity(s, business_date=D2)
        day_before = service.agent_activity(s, business_date=D1)
        west = service.agent_activity(s, business_date=D2, team_id=book["west"])
    assert [(r["team"], r["open"], r["held"], r["unclaimed"], r["tasks_due"], r["tasks_overdue"]) for r in health] == [
        ("east", 2, 1, 1, 1, 1), ("west", 2, 0, 2, 1, 0)]
    assert health[0]["states"] == {"contacting": 1, "follow_up": 1} and health[0]["oldest_opened"] == date(2026, 2, 1)
    assert activity == [
        {"agent": "agent_e", "calls": 3, "rpc": 2, "promises": 0, "agreements": 0, "rpc_bp": 6667},
        {"agent": "agent_w", "calls": 1, "rpc": 1, "promises": 0, "agreements": 0, "rpc_bp": 10000}]
    # promises taken on D1: A and B by agent_e, D and E by agent_w (C's was taken in February)
    assert [(r["agent"], r["calls"], r["promises"], r["rpc_bp"]) for r in day_before] == [
        ("agent_e", 0, 2, None), ("agent_w", 0, 2, None)]
    assert [r["agent"] for r in west] == ["agent_w"]


def test_csv_export_of_a_report(engine: Engine, book: dict[str, int]) -> None:
    with Session(engine) as s:
        text = service.to_csv(service.queue_health(s, today=D3))
        empty = service.to_csv([], ["bucket", "accounts"])
    lines = text.splitlines()
    assert lines[0] == "team,open,held,unclaimed,tasks_due,tasks_overdue,oldest_opened,states"
    assert lines[1] == "east,2,1,1,1,1,2026-02-01,contacting=1;follow_up=1"
    assert empty == "bucket,accounts\n"


def test_report_command_prints_and_writes_csv(engine: Engine, book: dict[str, int], store_url: str,
                                              monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from arrears.cli import app
    from arrears.config import get_settings

    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["report", "kpis", "--date", "2026-03-02", "--days", "2", "--team", "east",
                                          "--csv-dir", str(tmp_path)], env={"COLUMNS": "200"})
        unknown = CliRunner().invoke(app, ["report", "kpis", "--date", "2026-03-02", "--team", "north"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "by_bucket (east" in result.output and "queue_health" in result.output
    assert (tmp_path / "promise_kept-2026-03-02.csv").read_text(encoding="utf-8").splitlines()[1] == \
        "2026-03-01,2026-03-02,0,1,0,1,5000"
    assert (tmp_path / "by_bucket-2026-03-02.csv").read_text(encoding="utf-8").splitlines()[1:] == [
        "M1,1,200,10000", "M3,1,350,20000"]
    assert unknown.exit_code == 1 and "no team 'north'" in unknown.output
