"""Reading the interaction log into best-time counts, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, update

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.accounts.tables import Hold as LedgerHold
from arrears.cases.tables import Appointment, Case, Interaction, Promise
from arrears.contact.besttime import slot
from arrears.contact.history import read_due_cases, read_profiles, read_slot_counts
from arrears.kit.clock import utc_now
from tests.cases.support import new_case


def _customer(conn, ref: str) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(select(Account.customer_id).where(Account.account_ref == ref)).scalar_one()


def _point(conn, customer_id: int, ref: str, owner: str = "debtor", kind: str = "phone") -> int:  # type: ignore[no-untyped-def]
    return conn.execute(insert(ContactPoint).values(
        contact_ref=ref, customer_id=customer_id, kind=kind, value="13800000000", owner=owner, verified=True,
        opted_out=False, created_at=utc_now()).returning(ContactPoint.id)).scalar_one()


def _call(conn, case_id: int, at: datetime, outcome: str, *, point: int | None = None,  # type: ignore[no-untyped-def]
          direction: str = "outbound", channel: str = "call") -> None:
    conn.execute(insert(Interaction).values(
        case_id=case_id, channel=channel, direction=direction, party="debtor", contact_point_id=point,
        started_at=at, outcome=outcome, created_at=utc_now()))


def test_counts_per_customer_local_hour_of_week(engine) -> None:  # type: ignore[no-untyped-def]
    ny_case = new_case(engine, "ACC-NY")
    sh_case = new_case(engine, "ACC-SH")
    with engine.begin() as conn:
        ny = _customer(conn, "ACC-NY")
        sh = _customer(conn, "ACC-SH")
        conn.execute(update(Customer).where(Customer.id == ny).values(time_zone="America/New_York"))
        own = _point(conn, ny, "CP-NY")
        emergency = _point(conn, ny, "CP-NY-E", owner="emergency")
        # 2026-03-08 is the spring-forward day in New York: 01:30 EST = 06:30 UTC (Sunday 01:00 slot)
        _call(conn, ny_case, datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "right_party_contact", point=own)
        # 03:30 EDT the same morning = 07:30 UTC (Sunday 03:00 slot: there is no 02:00 that day)
        _call(conn, ny_case, datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "no_answer", point=own)
        # fall-back day: 01:30 twice, both Sunday 01:00
        _call(conn, ny_case, datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "promise_to_pay")
        _call(conn, ny_case, datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "busy")
        # not counted: emergency contact's phone, inbound, an SMS
        _call(conn, ny_case, datetime(2026, 3, 9, 23, 0, tzinfo=UTC), "third_party", point=emergency)
        _call(conn, ny_case, datetime(2026, 3, 9, 23, 0, tzinfo=UTC), "right_party_contact", direction="inbound")
        _call(conn, ny_case, datetime(2026, 3, 9, 23, 0, tzinfo=UTC), "left_message", channel="sms")
        # Shanghai: Saturday 2026-03-14 10:20 local = 02:20 UTC, twice (one RPC: refused counts), one Tuesday evening
        _call(conn, sh_case, datetime(2026, 3, 14, 2, 20, tzinfo=UTC), "refused")
        _call(conn, sh_case, datetime(2026, 3, 14, 2, 50, tzinfo=UTC), "no_answer")
        _call(conn, sh_case, datetime(2026, 3, 10, 11, 5, tzinfo=UTC), "callback_requested")
    counts = read_slot_counts(engine)
    assert sorted(counts.customer_ids.tolist()) == sorted([ny, sh])
    i = counts.customer_ids.tolist().index(ny)
    j = counts.customer_ids.tolist().index(sh)
    assert counts.attempts[i].sum() == 4 and counts.rpc[i].sum() == 2
    assert (counts.attempts[i, slot(6, 1)], counts.rpc[i, slot(6, 1)]) == (3, 2)
    assert (counts.attempts[i, slot(6, 3)], counts.rpc[i, slot(6, 3)]) == (1, 0)
    assert (counts.attempts[j, slot(5, 10)], counts.rpc[j, slot(5, 10)]) == (2, 1)
    assert (counts.attempts[j, slot(1, 19)], counts.rpc[j, slot(1, 19)]) == (1, 1)
    # a window, and a customer list that includes one never called
    window = read_slot_counts(engine, since=datetime(2026, 3, 10, tzinfo=UTC), until=datetime(2026, 11, 1, tzinfo=UTC))
    assert window.customer_ids.tolist() == [sh] and window.attempts.sum() == 3
    third = new_case(engine, "ACC-3")
    with engine.begin() as conn:
        other = _customer(conn, "ACC-3")
    some = read_slot_counts(engine, customer_ids=[sh, other])
    assert some.customer_ids.tolist() == sorted([sh, other]) and some.attempts.sum() == 3
    assert third and read_slot_counts(engine, include=[other]).customer_ids.tolist() == sorted([ny, sh, other])


def test_profiles_and_due_cases(engine) -> None:  # type: ignore[no-untyped-def]
    a = new_case(engine, "ACC-D1")
    b = new_case(engine, "ACC-D2")
    c = new_case(engine, "ACC-D3")
    day = date(2026, 3, 10)
    with engine.begin() as conn:
        ca = _customer(conn, "ACC-D1")
        phone = _point(conn, ca, "CP-D1")
        _point(conn, ca, "CP-D1-E", owner="emergency")
        acc_b = conn.execute(select(Case.account_id).where(Case.id == b)).scalar_one()
        conn.execute(insert(LedgerHold).values(account_id=acc_b, kind="hardship", start_date=day - timedelta(days=1),
                                               end_date=None, pauses_ageing=False, created_by="t", created_at=utc_now()))
        conn.execute(update(Case).where(Case.id == a).values(balance=100_000, bucket="M2"))
        # an open promise suppresses contact for case c
        conn.execute(insert(Promise).values(case_id=c, amount=1000, promised_date=day + timedelta(days=2),
                                            created_on=day, grace_days=3, tolerance=0, status="open",
                                            created_by="t", created_at=utc_now()))
        _call(conn, a, datetime(2026, 3, 10, 1, 0, tzinfo=UTC), "no_answer", point=phone)  # 09:00 Shanghai today
        conn.execute(insert(Appointment).values(
            case_id=a, owner_id=1, window_start=datetime(2026, 3, 10, 11, tzinfo=UTC),
            window_end=datetime(2026, 3, 10, 12, tzinfo=UTC), status="scheduled", created_by="t",
            created_at=utc_now()))
    due = {d.case_id: d for d in read_due_cases(engine, day=day, bank_tz="Asia/Shanghai")}
    assert set(due) == {a, b}
    assert due[a].contact_point_id == phone and due[a].weight == 100_000 * 4000
    assert len(due[a].attempts) == 1 and due[a].appointment is not None
    assert due[a].appointment.start == datetime(2026, 3, 10, 11, tzinfo=UTC)
    assert due[b].contact_point_id is None and [h.kind for h in due[b].holds] == ["hardship"]
    assert due[b].holds[0].start == datetime(2026, 3, 8, 16, tzinfo=UTC) and due[b].holds[0].end is None
    profiles = read_profiles(engine)
    assert profiles[_cust(engine, "ACC-D1")].bucket == "M2"
    assert profiles[_cust(engine, "ACC-D1")].segment(day) == "M2|60+"


def _cust(engine, ref: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return _customer(conn, ref)
