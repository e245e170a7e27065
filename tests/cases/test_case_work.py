"""Interactions and the holds outcomes place, investigations, promises, tasks and appointments,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Hold
from arrears.cases import service
from arrears.cases.config import load_default_case_rules
from arrears.cases.tables import Appointment, Interaction, Investigation, Promise, Task
from arrears.kit.clock import frozen_at
from arrears.kit.errors import ArrearsError
from tests.cases.support import case_in, moves, new_case, status
from tests.factories import LedgerLoad, load

RULES = load_default_case_rules()
T0 = datetime(2026, 3, 2, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, business date 2026-03-02
HOLD_OUTCOMES = {"dispute": ("dispute", True), "complaint": ("complaint", False), "deceased": ("deceased", False),
                 "bankruptcy_claimed": ("bankruptcy", False)}


def call(session: Session, case_id: int, outcome: str, *, at: datetime = T0, agent: int | None = 42):
    party = RULES.outcome(outcome).allowed_parties()[0]  # the party the outcome says was reached
    return service.record_interaction(
        session, case_id=case_id, channel="call", direction="outbound", party=party, started_at=at,
        ended_at=at + timedelta(minutes=4), outcome=outcome, rules=RULES, agent_id=agent, notes="通话记录",
        recording_ref="rec-001")


# -- interactions and holds ---------------------------------------------------------------------

# refused_contact is recorded against the contact point reached (tests/contact/test_cn_records.py)
@pytest.mark.parametrize("outcome", sorted(set(RULES.outcomes) - {"refused_contact"}))
def test_each_outcome_places_its_hold_and_stops_contact_until_reviewed(engine: Engine, outcome: str) -> None:
    case_id = new_case(engine, "A1")
    on = date(2026, 3, 2)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        rec = call(session, case_id, outcome)
        assert rec.interaction.id is not None
        holds = [(h.kind, h.pauses_ageing, h.created_by, h.start_date, h.end_date)
                 for h in session.execute(select(Hold)).scalars()]
        allowed = service.contact_status(session, case_id=case_id, on=on).allowed
    if outcome in HOLD_OUTCOMES:
        kind, pauses = HOLD_OUTCOMES[outcome]
        assert holds == [(kind, pauses, "user:42", on, None)]
        assert rec.review is not None and rec.review.status == "pending" and rec.review.hold_id == rec.hold.id
        assert not allowed
        with Session(engine, expire_on_commit=False) as session, session.begin():
            service.review_hold(session, review_id=rec.review.id, reviewer_id=9, note="confirmed")
            st = service.contact_status(session, case_id=case_id, on=on)
        assert st.allowed and st.pending_reviews == ()
    else:
        assert holds == [] and rec.hold is None and rec.review is None and allowed


def test_interaction_fields_are_stored(engine: Engine) -> None:
    case_id = new_case(engine, "A1")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        call(session, case_id, "right_party_contact")
    with engine.connect() as conn:
        row = conn.execute(
            select(Interaction.channel, Interaction.direction, Interaction.party, Interaction.started_at,
                   Interaction.ended_at, Interaction.outcome, Interaction.agent_id, Interaction.recording_ref,
                   Interaction.notes)).one()
    assert tuple(row) == ("call", "outbound", "debtor", T0, T0 + timedelta(minutes=4), "right_party_contact", 42,
                          "rec-001", "通话记录")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("channel", "fax", "channel"), ("direction", "sideways", "direction"), ("party", "neighbour", "party"),
    ("outcome", "shrugged", "unknown interaction outcome"), ("started_at", datetime(2026, 3, 2), "timezone"),
    ("ended_at", T0 - timedelta(minutes=1), "before"),
])
def test_bad_interactions_are_refused(engine: Engine, field: str, value, words: str) -> None:
    case_id = new_case(engine, "A1")
    kwargs = dict(case_id=case_id, channel="sms", direction="outbound", party="nobody", started_at=T0,
                  outcome="no_answer", rules=RULES) | {field: value}
    with Session(engine, expire_on_commit=False) as session, session.begin(), pytest.raises(ArrearsError, match=words):
        service.record_interaction(session, **kwargs)


def test_lifting_a_hold_on_review_ends_it(engine: Engine) -> None:
    case_id = new_case(engine, "A1")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        rec = call(session, case_id, "complaint")
        service.review_hold(session, review_id=rec.review.id, reviewer_id=9, note="resolved",
                            lift_hold_on=date(2026, 3, 5))
        with pytest.raises(ArrearsError, match="already reviewed"):
            service.review_hold(session, review_id=rec.review.id, reviewer_id=9, note="again")
    with engine.connect() as conn:
        assert conn.execute(select(Hold.end_date)).scalar_one() == date(2026, 3, 5)


# -- investigations -----------------------------------------------------------------------------

def test_every_investigation_update_is_a_new_version(engine: Engine) -> None:
    case_id = new_case(engine, "A1")
    figures = [(1_200_000, 500_000, 200_000, 2, 190_000), (800_000, 500_000, 200_000, 1, 0),
               (900_000, 400_000, 0, 0, 350_000)]
    for income, essential, debts, deps, _ in figures:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            service.record_investigation(
                session, case_id=case_id, cause="job_loss", monthly_income=income, essential_spending=essential,
                other_debt_payments=debts, dependants=deps, willingness=4, recorded_by="user:42", rules=RULES)
    with Session(engine, expire_on_commit=False) as session:
        current = service.current_investigation(session, case_id=case_id)
        assert current is not None and current.version == 3 and current.affordable_monthly == 350_000
        rows = session.execute(select(Investigation.version, Investigation.monthly_income,
                                      Investigation.affordable_monthly, Investigation.reserve_base)
                               .order_by(Investigation.version)).all()
    assert [tuple(r) for r in rows] == [(i + 1, f[0], f[4], 150_000) for i, f in enumerate(figures)]


@pytest.mark.parametrize(("field", "value"), [("cause", "bad_luck"), ("willingness", 6), ("monthly_income", -1),
                                              ("dependants", 1.5)])
def test_bad_investigations_are_refused_and_write_nothing(engine: Engine, field: str, value) -> None:
    case_id = new_case(engine, "A1")
    kwargs = dict(case_id=case_id, cause="illness", monthly_income=1, essential_spending=0, other_debt_payments=0,
                  dependants=0, willingness=3, recorded_by="user:1", rules=RULES) | {field: value}
    with Session(engine, expire_on_commit=False) as session, session.begin(), pytest.raises(ArrearsError):
        service.record_investigation(session, **kwargs)
    with Session(engine, expire_on_commit=False) as session:
        assert service.current_investigation(session, case_id=case_id) is None


# -- promises -----------------------------------------------------------------------------------

MADE, DUE = date(2026, 3, 2), date(2026, 3, 10)
LAST, AFTER = date(2026, 3, 13), date(2026, 3, 14)


def promise_with_payments(engine: Engine, state: str, payments: list[tuple[date, int]]) -> tuple[int, int]:
    case_id = case_in(engine, "A1", state)
    load(engine, LedgerLoad(payments=[(f"P{i}", "A1", d, a) for i, (d, a) in enumerate(payments)]))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        promise = service.record_promise(session, case_id=case_id, amount=100_000, promised_date=DUE,
                                         created_on=MADE, created_by="user:42", rules=RULES)
    return case_id, promise.id


@pytest.mark.parametrize(("payments", "status_", "paid"), [
    ([(DUE, 99_000)], "kept", 99_000),
    ([(DUE, 98_999)], "partly_kept", 98_999),
    ([(MADE, 50_000), (LAST, 50_000)], "kept", 100_000),
    ([(MADE - timedelta(days=1), 100_000), (AFTER, 100_000)], "broken", 0),
])
def test_due_promises_are_judged_against_payments(engine: Engine, payments, status_: str, paid: int) -> None:
    case_id, promise_id = promise_with_payments(engine, "negotiating", payments)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        early = service.judge_due_promises(session, as_of=LAST)
    assert [j.judgement.status for j in early] == (["kept"] if status_ == "kept" else [])
    with Session(engine, expire_on_commit=False) as session, session.begin():
        judged = service.judge_due_promises(session, as_of=AFTER)
    with Session(engine, expire_on_commit=False) as session:
        promise = session.get(Promise, promise_id)
        tasks = [(t.kind, t.due_on, t.status, t.promise_id) for t in session.execute(select(Task)).scalars()]
    if status_ == "kept":  # a kept promise may already be judged on LAST
        assert promise.status == "kept" and promise.paid == paid
    else:
        assert [(j.promise_id, j.judgement.status, j.judgement.paid) for j in judged] == [(promise_id, status_, paid)]
        assert (promise.status, promise.paid) == (status_, paid)
    if status_ == "broken":
        assert tasks == [("broken_promise", AFTER, "open", promise_id)]
        assert status(engine, case_id) == "follow_up"
        assert moves(engine, case_id)[-1] == ("negotiating", "follow_up", "promise-judge")
    else:
        assert status(engine, case_id) == "negotiating"
        assert tasks == ([("promise_short", AFTER, "open", promise_id)] if status_ == "partly_kept" else [])


def test_a_broken_promise_in_a_state_without_follow_up_only_creates_the_task(engine: Engine) -> None:
    case_id, _ = promise_with_payments(engine, "charged_off", [])
    before = moves(engine, case_id)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        (judged,) = service.judge_due_promises(session, as_of=AFTER)
    assert judged.judgement.status == "broken" and judged.moved_to_follow_up is False and judged.task_id
    assert status(engine, case_id) == "charged_off" and moves(engine, case_id) == before


def test_an_open_promise_suppresses_contact_until_its_date_plus_grace(engine: Engine) -> None:
    case_id, _ = promise_with_payments(engine, "contacting", [])
    with Session(engine, expire_on_commit=False) as session:
        assert service.contact_suppressed_until(session, case_id=case_id) == LAST
        assert not service.contact_status(session, case_id=case_id, on=LAST).allowed
        assert service.contact_status(session, case_id=case_id, on=AFTER).allowed
    with Session(engine, expire_on_commit=False) as session, session.begin():
        service.judge_due_promises(session, as_of=AFTER)
        assert service.contact_suppressed_until(session, case_id=case_id) is None


@pytest.mark.parametrize(("amount", "promised"), [(0, DUE), (-5, DUE), (100.0, DUE), (1, MADE - timedelta(days=1))])
def test_bad_promises_are_refused(engine: Engine, amount, promised: date) -> None:
    case_id = new_case(engine, "A1")
    with Session(engine, expire_on_commit=False) as session, session.begin(), pytest.raises(ArrearsError):
        service.record_promise(session, case_id=case_id, amount=amount, promised_date=promised, created_on=MADE,
                               created_by="user:1", rules=RULES)


# -- appointments -------------------------------------------------------------------------------

W0 = datetime(2026, 3, 3, 11, 0, tzinfo=UTC)  # 19:00-20:00 in Shanghai
W1 = W0 + timedelta(hours=1)


def test_due_appointments_of_an_owner(engine: Engine) -> None:
    case_id = new_case(engine, "A1")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        mine = service.schedule_appointment(session, case_id=case_id, owner_id=5, window_start=W0, window_end=W1,
                                            created_by="user:5")
        service.schedule_appointment(session, case_id=case_id, owner_id=6, window_start=W0, window_end=W1,
                                     created_by="user:5")
        gone = service.schedule_appointment(session, case_id=case_id, owner_id=5, window_start=W0, window_end=W1,
                                            created_by="user:5")
        service.cancel_appointment(session, appointment_id=gone.id)
    with Session(engine, expire_on_commit=False) as session:
        due = lambda at: [a.id for a in service.due_appointments(session, owner_id=5, at=at)]  # noqa: E731
        assert due(W0 - timedelta(seconds=1)) == [] and due(W0) == [mine.id] and due(W1) == [mine.id]
        assert due(W1 + timedelta(seconds=1)) == []


def test_missed_appointments_for_the_team_lead(engine: Engine) -> None:
    case_a, case_b = new_case(engine, "A1"), new_case(engine, "A2")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        kept = service.schedule_appointment(session, case_id=case_a, owner_id=5, window_start=W0, window_end=W1,
                                            created_by="user:5")
        missed = service.schedule_appointment(session, case_id=case_b, owner_id=6, window_start=W0, window_end=W1,
                                              created_by="user:6")
        later = service.schedule_appointment(session, case_id=case_b, owner_id=6, window_start=W1,
                                             window_end=W1 + timedelta(hours=1), created_by="user:6")
        call(session, case_a, "right_party_contact", at=W0 + timedelta(minutes=10))
        call(session, case_b, "no_answer", at=W0 - timedelta(minutes=1))  # before the window: does not count
    after = W1 + timedelta(minutes=1)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        assert [a.id for a in service.missed_appointments(session, at=W1)] == []  # windows not over yet
        assert [a.id for a in service.missed_appointments(session, at=after)] == [missed.id]
        assert [a.id for a in service.missed_appointments(session, at=after, owner_id=5)] == []
        assert service.settle_ended_appointments(session, at=after) == (1, 1)
    with Session(engine, expire_on_commit=False) as session:
        got = {a.id: (a.status, a.interaction_id is not None) for a in session.execute(select(Appointment)).scalars()}
        assert got == {kept.id: ("done", True), missed.id: ("missed", False), later.id: ("scheduled", False)}
        assert [a.id for a in service.missed_appointments(session, at=after)] == [missed.id]  # still visible


def test_appointment_rules(engine: Engine) -> None:
    case_id, other = new_case(engine, "A1"), new_case(engine, "A2")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        with pytest.raises(ArrearsError, match="end after"):
            service.schedule_appointment(session, case_id=case_id, owner_id=5, window_start=W1, window_end=W0,
                                         created_by="user:5")
        appt = service.schedule_appointment(session, case_id=case_id, owner_id=5, window_start=W0, window_end=W1,
                                            created_by="user:5")
        foreign = call(session, other, "busy").interaction
        with pytest.raises(ArrearsError, match="not on the appointment's case"):
            service.complete_appointment(session, appointment_id=appt.id, interaction_id=foreign.id)
        own = call(session, case_id, "right_party_contact", at=W0).interaction
        service.complete_appointment(session, appointment_id=appt.id, interaction_id=own.id)
        with pytest.raises(ArrearsError, match="is done"):
            service.cancel_appointment(session, appointment_id=appt.id)


def test_record_promise_defaults_to_todays_business_date(engine: Engine) -> None:
    case_id = new_case(engine, "A1")
    with frozen_at(datetime(2026, 3, 1, 17, 0, tzinfo=UTC)), Session(engine, expire_on_commit=False) as session, session.begin():
        p = service.record_promise(session, case_id=case_id, amount=5_000, promised_date=date(2026, 3, 2),
                                   created_by="user:1", rules=RULES)
        assert p.created_on == date(2026, 3, 2)  # 01:00 on the 2nd in Shanghai
