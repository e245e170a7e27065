"""The complaint rule and state machine, pure: deadlines in calendar days from the bank date of
receipt, one extension to the rule's limit, the moves a complaint may make."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.complaints import model
from arrears.complaints.model import CN_RULE, ComplaintError

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@settings(max_examples=60, deadline=None)
@given(at=moments)
def test_the_deadline_is_fifteen_calendar_days_after_the_bank_date_and_runs_out_at_its_midnight(at: datetime) -> None:
    received = model.received_on(at, "Asia/Shanghai")
    deadline = CN_RULE.deadline(received)
    assert (deadline - received).days == 15
    due = model.due_instant(deadline, "Asia/Shanghai")
    assert due - at > timedelta(days=15) and due - at <= timedelta(days=16)
    assert not model.is_overdue(status="received", deadline=deadline, today=deadline)
    assert model.is_overdue(status="investigating", deadline=deadline, today=deadline + timedelta(days=1))
    assert not model.is_overdue(status="answered", deadline=deadline, today=deadline + timedelta(days=30))


def test_late_evening_in_beijing_is_still_that_day() -> None:
    assert model.received_on(datetime(2026, 3, 1, 15, 59, tzinfo=UTC), "Asia/Shanghai") == date(2026, 3, 1)
    assert model.received_on(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "Asia/Shanghai") == date(2026, 3, 2)


@settings(max_examples=60, deadline=None)
@given(received=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 1, 1)), day=st.integers(0, 40))
def test_one_extension_before_the_deadline_to_thirty_days(received: date, day: int) -> None:
    deadline = CN_RULE.deadline(received)
    today = received + timedelta(days=day)
    if today > deadline:
        with pytest.raises(ComplaintError):
            model.extension(rule=CN_RULE, status="acknowledged", received=received, deadline=deadline,
                            extended=False, today=today)
        return
    new = model.extension(rule=CN_RULE, status="acknowledged", received=received, deadline=deadline, extended=False,
                          today=today)
    assert new == received + timedelta(days=30)
    with pytest.raises(ComplaintError, match="once already"):
        model.extension(rule=CN_RULE, status="acknowledged", received=received, deadline=new, extended=True,
                        today=today)


def test_the_moves() -> None:
    assert model.move("received", "acknowledge") == "acknowledged"
    assert model.move("received", "answer") == "answered"
    assert model.move("answered", "close") == "closed"
    for status, action in (("closed", "answer"), ("answered", "acknowledge"), ("received", "close"),
                           ("received", "reopen")):
        with pytest.raises(ComplaintError):
            model.move(status, action)
    with pytest.raises(ComplaintError):
        model.extension(rule=CN_RULE, status="answered", received=date(2026, 3, 1), deadline=date(2026, 3, 16),
                        extended=False, today=date(2026, 3, 2))


def test_per_thousand_rounds_half_up_and_needs_accounts() -> None:
    from decimal import Decimal

    assert model.per_thousand(2, 3) == Decimal("666.7")
    assert model.per_thousand(1, 8) == Decimal("125.0")
    assert model.per_thousand(1, 16000) == Decimal("0.1")  # 0.0625 → 0.1 half up
    assert model.per_thousand(0, 0) is None


def test_ageing_stops_at_the_answer() -> None:
    received, deadline = date(2026, 3, 1), date(2026, 3, 16)
    open_ = model.ageing(status="investigating", received=received, deadline=deadline, answered=None,
                         today=date(2026, 3, 18))
    assert (open_.days_open, open_.days_left, open_.overdue) == (17, -2, True)
    done = model.ageing(status="answered", received=received, deadline=deadline, answered=date(2026, 3, 10),
                        today=date(2026, 3, 18))
    assert (done.days_open, done.days_left, done.overdue) == (9, -2, False)
