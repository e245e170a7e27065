"""The retention job on both stores: the day a row passes its period against the day before, legal holds,
erasing rows others point at, idempotence, a run killed after its first batch, and its audit records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, insert, select

from arrears.kit.models import metadata
from arrears.retention.model import Schedule, load_schedule
from arrears.retention.service import run_retention

T = metadata.tables
SHANGHAI = ZoneInfo("Asia/Shanghai")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
NAME, NATIONAL_ID, PHONE = "王小明", "11010519491231002X", "13800138000"

SCHEDULE = """
version: "test-1"
keep_while:
  holds: [dispute, complaint, legal]
  open_case: true
  active_plan: true
  legal_referral: true
tables:
  customers:
    purpose: who the debtor is
    action: anonymise
    from: last_activity
    period: {years: 2, source: test}
    set: {name: "", national_id: "", birth_date: 1900-01-01}
  contact_points:
    purpose: how to reach them
    action: anonymise
    from: last_activity
    period: {years: 2, source: test}
    set: {value: "", relation: null}
  interactions:
    purpose: contact records
    action: anonymise
    from: created
    column: started_at
    period: {years: 2, source: test}
    set: {notes: null, recording_ref: null}
  contact_decisions:
    purpose: compliance log
    action: erase
    from: created
    column: at
    period: {years: 2, source: test}
  override_uses:
    purpose: override uses
    action: erase
    from: created
    column: used_at
    period: {days: 10, source: test}
  login_attempts:
    purpose: security log
    action: erase
    from: created
    column: at
    period: {months: 6, source: test}
"""


@pytest.fixture(scope="module")
def schedule(tmp_path_factory: pytest.TempPathFactory) -> Schedule:
    path = tmp_path_factory.mktemp("retention") / "schedule.yaml"
    path.write_text(SCHEDULE, encoding="utf-8")
    return load_schedule(path)


def _run(engine: Engine, schedule: Schedule, as_of: date, **kw):  # type: ignore[no-untyped-def]
    return run_retention(engine, as_of=as_of, actor="test", metadata=metadata, schedule=schedule, **kw)


def _rows(report, table: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    (t,) = [t for t in report.tables if t.table == table]
    return t.rows, t.held


def _debtor(engine: Engine, ref: str, *, closed_on: date | None, status: str = "closed",
            contacts: tuple[datetime, ...] = ()) -> dict[str, int]:
    """A customer (added long ago) with one account, one case (closed on ``closed_on``), a phone number and
    the given contacts; returns the ids."""
    with engine.begin() as conn:
        run = conn.execute(insert(T["cycle_runs"]).values(business_date=date(2020, 1, 1), status="completed")
                           .returning(T["cycle_runs"].c.id)).scalar_one()
        cust = conn.execute(insert(T["customers"]).values(
            customer_ref=f"C-{ref}", name=NAME, national_id=NATIONAL_ID, birth_date=date(1949, 12, 31),
            time_zone="Asia/Shanghai", language="zh_CN", created_at=LONG_AGO).returning(T["customers"].c.id)).scalar_one()
        acct = conn.execute(insert(T["accounts"]).values(
            account_ref=ref, customer_id=cust, product="standard", credit_limit=5_000_000, currency="CNY",
            statement_day=5, due_day=25, status="closed", opened_on=date(2020, 1, 1), created_at=LONG_AGO,
        ).returning(T["accounts"].c.id)).scalar_one()
        case = conn.execute(insert(T["cases"]).values(
            account_id=acct, status=status, opened_on=date(2020, 2, 1), closed_on=closed_on,
            close_reason="paid" if closed_on else None, open_bucket="M1", bucket="M1", dpd=30,
            opened_by_run_id=run, created_at=LONG_AGO, updated_at=LONG_AGO).returning(T["cases"].c.id)).scalar_one()
        point = conn.execute(insert(T["contact_points"]).values(
            contact_ref=f"P-{ref}", customer_id=cust, kind="phone", value=PHONE, owner="debtor", relation=None,
            verified=True, opted_out=False, created_at=LONG_AGO).returning(T["contact_points"].c.id)).scalar_one()
        for at in contacts:
            conn.execute(insert(T["interactions"]).values(
                case_id=case, channel="call", direction="outbound", party="debtor", contact_point_id=point,
                started_at=at, outcome="promise", notes=f"{NAME} says the salary comes on Friday",
                recording_ref=f"rec-{ref}-{at:%H%M}", created_at=at))
    return {"customer": cust, "account": acct, "case": case, "point": point}


def _customer(engine: Engine, cust: int) -> tuple[str, str, date]:
    with engine.connect() as conn:
        row = conn.execute(select(T["customers"].c.name, T["customers"].c.national_id, T["customers"].c.birth_date)
                           .where(T["customers"].c.id == cust)).one()
    return row[0], row[1], row[2]


def _audit(engine: Engine) -> list[tuple[str, str, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(select(T["audit_records"].c.action, T["audit_records"].c.entity,
                                   T["audit_records"].c.detail).order_by(T["audit_records"].c.seq)).all()
    return [(a, e, d if isinstance(d, dict) else json.loads(d)) for a, e, d in rows]


def test_a_contact_record_passes_its_period_on_its_day_in_the_banks_calendar(engine: Engine,
                                                                            schedule: Schedule) -> None:
    """Two years from a call at 23:30 Beijing time on 1 March 2024: kept on 28 February 2026, emptied on
    1 March 2026; a call ten minutes after that midnight (still 1 March in UTC) waits a day more."""
    late = datetime(2024, 3, 1, 23, 30, tzinfo=SHANGHAI)
    next_day = datetime(2024, 3, 2, 0, 10, tzinfo=SHANGHAI)
    _debtor(engine, "A1", closed_on=date(2024, 3, 1), contacts=(late, next_day))

    def notes() -> list[tuple[datetime, str | None, str | None]]:
        i = T["interactions"]
        with engine.connect() as conn:
            return [(a.astimezone(SHANGHAI), n, r) for a, n, r in conn.execute(
                select(i.c.started_at, i.c.notes, i.c.recording_ref).order_by(i.c.started_at)).all()]

    report = _run(engine, schedule, date(2026, 2, 28))
    assert _rows(report, "interactions") == (0, 0)
    assert all(n is not None and r is not None for _, n, r in notes())
    report = _run(engine, schedule, date(2026, 3, 1))
    assert _rows(report, "interactions") == (1, 0)
    assert [(n, r) for _, n, r in notes()] == [(None, None), (f"{NAME} says the salary comes on Friday", "rec-A1-0010")]
    report = _run(engine, schedule, date(2026, 3, 2))
    assert _rows(report, "interactions") == (1, 0)
    assert [(n, r) for _, n, r in notes()] == [(None, None), (None, None)]
    # the record itself stays: when, how and what came of it
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(T["interactions"])).scalar_one() == 2


def test_the_customer_is_anonymised_two_years_after_their_last_activity(engine: Engine, schedule: Schedule) -> None:
    """The case closed on 1 March 2024 is the last activity of one customer; the other paid on 1 June 2024,
    which restarts their clock."""
    ids = _debtor(engine, "A2", closed_on=date(2024, 3, 1),
                  contacts=(datetime(2024, 2, 20, 10, 0, tzinfo=SHANGHAI),))
    payer = _debtor(engine, "A3", closed_on=date(2024, 3, 1))
    with engine.begin() as conn:
        run = conn.execute(insert(T["ingest_runs"]).values(
            kind="payments", file_name="f", sha256="0" * 64, status="loaded", started_at=LONG_AGO,
        ).returning(T["ingest_runs"].c.id)).scalar_one()
        conn.execute(insert(T["payments"]).values(payment_ref="PAY-1", account_id=payer["account"], amount=100,
                                                  value_date=date(2024, 6, 1), channel="mobile_app", ingest_run_id=run))
    report = _run(engine, schedule, date(2026, 2, 28))
    assert _rows(report, "customers") == (0, 0)
    assert _customer(engine, ids["customer"]) == (NAME, NATIONAL_ID, date(1949, 12, 31))
    report = _run(engine, schedule, date(2026, 3, 1))
    assert _rows(report, "customers") == (1, 0) and _rows(report, "contact_points") == (1, 0)
    assert _customer(engine, ids["customer"]) == ("", "", date(1900, 1, 1))
    assert _customer(engine, payer["customer"]) == (NAME, NATIONAL_ID, date(1949, 12, 31))
    with engine.connect() as conn:
        points = T["contact_points"]
        assert conn.execute(select(points.c.value).where(points.c.customer_id == ids["customer"])).scalar_one() == ""
    assert _rows(_run(engine, schedule, date(2026, 5, 31)), "customers") == (0, 0)
    assert _rows(_run(engine, schedule, date(2026, 6, 1)), "customers") == (1, 0)


def _hold(engine: Engine, ids: dict[str, int], kind: str, end: date | None) -> None:
    with engine.begin() as conn:
        conn.execute(insert(T["holds"]).values(account_id=ids["account"], kind=kind, start_date=date(2023, 1, 1),
                                               end_date=end, pauses_ageing=False, reason="test", created_by="test"))


def _open_case(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        run = conn.execute(select(T["cycle_runs"].c.id).limit(1)).scalar_one()
        conn.execute(insert(T["cases"]).values(
            account_id=ids["account"], status="charged_off", opened_on=date(2023, 1, 1), open_bucket="M7",
            bucket="M7", dpd=400, opened_by_run_id=run, created_at=LONG_AGO, updated_at=LONG_AGO))


def _legal_referral(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(T["legal_referrals"]).values(case_id=ids["case"], referred_on=date(2023, 6, 1),
                                                         status="proceed", created_at=LONG_AGO))


def _active_plan(engine: Engine, ids: dict[str, int]) -> None:
    with engine.begin() as conn:
        user = conn.execute(insert(T["users"]).values(username="agent1", password_hash="x", role="agent")
                            .returning(T["users"].c.id)).scalar_one()
        conn.execute(insert(T["plan_agreements"]).values(
            case_id=ids["case"], account_id=ids["account"], version=1, product_code="instalment", kind="instalment",
            start_date=date(2023, 7, 1), principal=100_000, fees=0, interest=0, waived=0, total=100_000,
            largest_instalment=10_000, status="active", needs_approval=False, created_by=user, terms_locale="zh_CN",
            terms_text="条款", terms_sha256="0" * 64, pdf=b"%PDF", pdf_sha256="0" * 64, created_at=LONG_AGO))


def test_a_legal_hold_keeps_every_piece_of_the_customers_data(engine: Engine, schedule: Schedule) -> None:
    """One customer per legal hold, all past their period: only the one whose hold ended (and whose other
    open hold is of a kind the schedule does not keep data for) is anonymised."""
    contact = (datetime(2022, 12, 1, 10, tzinfo=SHANGHAI),)
    held = {}
    for n, hold in enumerate(("dispute", "complaint", "legal", "open case", "legal referral", "active plan")):
        ids = held[hold] = _debtor(engine, f"H{n}", closed_on=date(2023, 1, 1), contacts=contact)
        if hold in ("dispute", "complaint", "legal"):
            _hold(engine, ids, hold, None)
        else:
            {"open case": _open_case, "legal referral": _legal_referral, "active plan": _active_plan}[hold](engine, ids)
    ended = _debtor(engine, "H-ended", closed_on=date(2023, 1, 1), contacts=contact)
    _hold(engine, ended, "dispute", date(2026, 12, 6))  # ended the day before
    _hold(engine, ended, "hardship", None)  # not a kind the schedule keeps data for
    report = _run(engine, schedule, date(2026, 12, 7))
    assert _rows(report, "customers") == (1, 6)
    assert _rows(report, "interactions") == (1, 6)
    assert _rows(report, "contact_points") == (1, 6)
    for hold, ids in held.items():
        assert _customer(engine, ids["customer"]) == (NAME, NATIONAL_ID, date(1949, 12, 31)), hold
    assert _customer(engine, ended["customer"]) == ("", "", date(1900, 1, 1))
    assert [e for a, e, d in _audit(engine)] == ["interactions", "contact_points", "customers"]
    # a dispute that ends on the day of the run still holds the data that day
    _hold(engine, ended, "dispute", date(2026, 12, 7))
    with engine.begin() as conn:
        conn.execute(T["customers"].update().where(T["customers"].c.id == ended["customer"]).values(name=NAME))
    assert _rows(_run(engine, schedule, date(2026, 12, 7)), "customers") == (0, 7)


def test_rows_others_point_at_are_erased_after_them_and_a_second_run_finds_nothing(engine: Engine,
                                                                                    schedule: Schedule) -> None:
    ids = _debtor(engine, "E1", closed_on=date(2023, 1, 1))
    d, u = T["contact_decisions"], T["override_uses"]
    old = datetime(2023, 1, 1, 12, tzinfo=UTC)
    with engine.begin() as conn:
        decision = conn.execute(insert(d).values(
            at=old, case_id=ids["case"], account_id=ids["account"], channel="call", party="debtor",
            purpose="collection", pack="cn", pack_version="1", allowed=False, blocks=[], overrides=[],
            actor="user:1", source="api", created_at=old).returning(d.c.id)).scalar_one()
        conn.execute(insert(u).values(decision_id=decision, used_at=datetime(2026, 12, 1, tzinfo=UTC), used_by="u"))
        conn.execute(insert(T["login_attempts"]).values(username="agent1", at=datetime(2026, 6, 6, 15, 59, tzinfo=UTC),
                                                         outcome="bad_password", remote="10.0.0.1"))
        conn.execute(insert(T["login_attempts"]).values(username="agent1", at=datetime(2026, 6, 6, 16, 0, tzinfo=UTC),
                                                         outcome="ok", remote="10.0.0.1"))
    report = _run(engine, schedule, date(2026, 12, 6))
    # the decision is past two years, but a use (only five days old) points at it: it waits for the use
    assert _rows(report, "contact_decisions") == (0, 0) and _rows(report, "override_uses") == (0, 0)
    # six months: 2026-06-06 (Beijing) goes on 2026-12-06, the attempt at 00:00 on 2026-06-07 Beijing stays
    assert _rows(report, "login_attempts") == (1, 0)
    report = _run(engine, schedule, date(2026, 12, 11))
    assert _rows(report, "override_uses") == (1, 0) and _rows(report, "contact_decisions") == (1, 0)
    before = len(_audit(engine))
    report = _run(engine, schedule, date(2026, 12, 11))
    assert report.rows == 0 and len(_audit(engine)) == before


def test_a_run_killed_after_its_first_batch_is_completed_by_the_next(engine: Engine, schedule: Schedule) -> None:
    contacts = tuple(datetime(2023, 1, 1, 9 + n, tzinfo=SHANGHAI) for n in range(5))
    _debtor(engine, "K1", closed_on=date(2023, 1, 1), contacts=contacts)
    calls: list[tuple[str, int]] = []

    def die_on_the_second_batch(table: str, rows: int) -> None:
        calls.append((table, rows))
        if len(calls) == 2:
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        _run(engine, schedule, date(2026, 12, 7), batch_size=2, on_batch=die_on_the_second_batch)
    i = T["interactions"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(i.c.notes.is_(None))).scalar_one() == 2
    assert [(a, e, d["rows"]) for a, e, d in _audit(engine)] == [("retention.anonymise", "interactions", 2)]
    report = _run(engine, schedule, date(2026, 12, 7), batch_size=2)
    assert _rows(report, "interactions") == (3, 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(i.c.notes.is_not(None))).scalar_one() == 0
    audit = _audit(engine)
    assert [(e, d["rows"]) for a, e, d in audit if e == "interactions"] == [
        ("interactions", 2), ("interactions", 2), ("interactions", 1)]
    # every batch is one audit record with its counts and the rule, never a value
    for action, _entity, detail in audit:
        assert action in ("retention.anonymise", "retention.erase")
        assert detail["as_of"] == "2026-12-07" and detail["schedule_version"] == "test-1"
        text = json.dumps(detail, ensure_ascii=False)
        assert NAME not in text and NATIONAL_ID not in text and PHONE not in text and "rec-" not in text


def test_the_shipped_schedule_runs_on_the_store(engine: Engine) -> None:
    """The shipped schedule, checked against the store, counted (dry run) then applied to an old closed debt."""
    from arrears.retention.service import active_schedule

    ids = _debtor(engine, "S1", closed_on=date(2020, 3, 1), contacts=(datetime(2020, 2, 20, 10, tzinfo=SHANGHAI),))
    sent = datetime(2020, 2, 21, 9, tzinfo=SHANGHAI)
    with engine.begin() as conn:
        conn.execute(insert(T["outbox_messages"]).values(
            idempotency_key="S1-reminder", channel="sms", case_id=ids["case"], contact_point_id=ids["point"],
            template="reminder", locale="zh_CN", payload={"name": NAME, "phone": PHONE}, status="sent", attempts=1,
            next_attempt_at=sent, created_at=sent, sent_at=sent))
    shipped = active_schedule(metadata)
    dry = run_retention(engine, as_of=date(2026, 12, 7), actor="test", metadata=metadata, schedule=shipped,
                        dry_run=True)
    assert _rows(dry, "customers") == (1, 0) and _rows(dry, "interactions") == (1, 0)
    assert _customer(engine, ids["customer"]) == (NAME, NATIONAL_ID, date(1949, 12, 31))  # a dry run changes nothing
    assert _audit(engine) == []
    report = run_retention(engine, as_of=date(2026, 12, 7), actor="test", metadata=metadata, schedule=shipped)
    assert _rows(report, "customers") == (1, 0) and _rows(report, "interactions") == (1, 0)
    assert _customer(engine, ids["customer"]) == ("", "", date(1900, 1, 1))
    assert _rows(report, "outbox_messages") == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(T["outbox_messages"].c.payload)).scalar_one() == {}
    # every kind of value the shipped schedule sets (null, empty text, a date, {}) is seen as done
    assert run_retention(engine, as_of=date(2026, 12, 7), actor="test", metadata=metadata, schedule=shipped).rows == 0


def test_any_contact_is_emptied_exactly_when_its_bank_date_has_passed_the_period(engine: Engine,
                                                                                  schedule: Schedule) -> None:
    """Random contact times and run dates: a contact's notes are gone after a run exactly when its date on
    the bank's calendar, moved two years on, is the run's date or earlier."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from arrears.retention.model import Span

    ids = _debtor(engine, "P1", closed_on=date(2022, 1, 1))
    i = T["interactions"]

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(as_of=st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)),
           minutes=st.lists(st.integers(-48 * 60, 48 * 60), min_size=1, max_size=12))
    def check(as_of: date, minutes: list[int]) -> None:
        # contacts within two days either side of the midnight that ends the last day past the period
        edge = datetime.combine(Span(years=2).before(as_of) + timedelta(days=1), datetime.min.time(), SHANGHAI)
        times = [(edge + timedelta(minutes=m)).astimezone(UTC) for m in minutes]
        with engine.begin() as conn:
            conn.execute(insert(i), [{"case_id": ids["case"], "channel": "call", "direction": "outbound",
                                      "party": "debtor", "started_at": t, "outcome": "no_answer", "notes": "n",
                                      "recording_ref": "r", "created_at": t} for t in times])
        _run(engine, schedule, as_of)
        with engine.begin() as conn:
            rows = conn.execute(select(i.c.started_at, i.c.notes)).all()
            conn.execute(i.delete())
        last_kept = Span(years=2).before(as_of)
        for started, notes in rows:
            assert (notes is None) == (started.astimezone(SHANGHAI).date() <= last_kept), (started, as_of)

    check()
