"""Worked examples for every delinquency rule, against the pure reference ``assess``."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from arrears.delinquency.model import (
    Bucket,
    BucketTable,
    DelinquencyRules,
    Hold,
    Payment,
    Statement,
    assess,
    paused_days,
)

RULES = DelinquencyRules()  # tolerance 1000 fen, grace 3 days, charge-off at 180 DPD

JAN = Statement(date(2024, 1, 5), date(2024, 1, 25), 20_000)


def run(statements, payments=(), holds=(), *, as_of, rules=RULES):
    return assess(statements, payments, holds, as_of=as_of, rules=rules)


def monthly(n, own=10_000, start=date(2024, 1, 5)):
    """n statements on the 5th, due on the 25th, each adding ``own``; the printed minimum
    includes everything still unpaid (as a bank prints it) so past_due_included grows."""
    out = []
    for i in range(n):
        month = start.month - 1 + i
        sd = date(start.year + month // 12, month % 12 + 1, 5)
        out.append(Statement(sd, sd + timedelta(days=20), own * (i + 1), own * i))
    return out


def test_unpaid_minimum_ages_from_due_date():
    s = run([JAN], as_of=date(2024, 2, 4))
    assert s.dpd == 10
    assert s.delinquent and s.bucket == "M1"
    assert s.cycles_delinquent == 1
    assert s.amount_past_due == 20_000
    assert s.past_due_by_cycle == (20_000, 0, 0, 0, 0, 0, 0)
    assert s.oldest_unpaid_due_date == date(2024, 1, 25)
    assert not s.charge_off


def test_not_past_due_on_the_due_date_itself():
    s = run([JAN], as_of=date(2024, 1, 25))
    assert (s.dpd, s.amount_past_due, s.cycles_delinquent, s.oldest_unpaid_due_date) == (0, 0, 0, None)
    assert run([JAN], as_of=date(2024, 1, 26)).dpd == 1


def test_payment_on_the_due_date_is_on_time():
    s = run([JAN], [Payment(date(2024, 1, 25), 20_000)], as_of=date(2024, 2, 10))
    assert (s.dpd, s.delinquent, s.amount_past_due) == (0, False, 0)


@pytest.mark.parametrize(
    ("paid", "dpd", "delinquent", "past_due"),
    [
        (19_000, 0, False, 1_000),  # 1000 left = tolerance: satisfied, but still reported as past due
        (18_999, 10, True, 1_001),  # 1001 left: above tolerance
    ],
)
def test_tolerance(paid, dpd, delinquent, past_due):
    s = run([JAN], [Payment(date(2024, 1, 20), paid)], as_of=date(2024, 2, 4))
    assert (s.dpd, s.delinquent, s.amount_past_due) == (dpd, delinquent, past_due)
    assert s.cycles_delinquent == (1 if delinquent else 0)


def test_small_minimum_at_or_below_tolerance_never_makes_delinquent():
    s = run([Statement(date(2024, 1, 5), date(2024, 1, 25), 800)], as_of=date(2024, 6, 1))
    assert (s.dpd, s.delinquent, s.amount_past_due) == (0, False, 800)


@pytest.mark.parametrize(("day", "dpd", "delinquent", "bucket"), [(28, 3, False, "M0"), (29, 4, True, "M1")])
def test_grace_days(day, dpd, delinquent, bucket):
    s = run([JAN], as_of=date(2024, 1, day))
    assert (s.dpd, s.delinquent, s.bucket) == (dpd, delinquent, bucket)


def test_partial_payment_leaves_the_rest_past_due():
    s = run([JAN], [Payment(date(2024, 1, 24), 5_000)], as_of=date(2024, 2, 4))
    assert (s.amount_past_due, s.dpd, s.cycles_delinquent) == (15_000, 10, 1)


def test_overpayment_is_not_a_credit_against_the_next_minimum():
    feb = Statement(date(2024, 2, 5), date(2024, 2, 25), 8_000)
    # 50 000 paid while only January's 20 000 was issued: the excess is not kept for February
    s = run([JAN, feb], [Payment(date(2024, 1, 20), 50_000)], as_of=date(2024, 3, 1))
    assert s.amount_past_due == 8_000
    assert s.oldest_unpaid_due_date == date(2024, 2, 25)
    assert s.dpd == 5


def test_payment_on_statement_date_pays_older_statements_only():
    feb = Statement(date(2024, 2, 5), date(2024, 2, 25), 10_000)
    s = run([JAN, feb], [Payment(date(2024, 2, 5), 25_000)], as_of=date(2024, 3, 1))
    # January gets 20 000, the other 5 000 cannot pay February (dated the same day) and is dropped
    assert s.past_due_by_cycle[:2] == (10_000, 0)
    assert s.oldest_unpaid_due_date == date(2024, 2, 25)
    # one day later the same payment does pay February
    s = run([JAN, feb], [Payment(date(2024, 2, 6), 25_000)], as_of=date(2024, 3, 1))
    assert s.past_due_by_cycle[:2] == (5_000, 0)


def test_payments_go_to_the_oldest_statement_first():
    feb = Statement(date(2024, 2, 5), date(2024, 2, 25), 30_000, 20_000)  # own minimum 10 000
    s = run([JAN, feb], [Payment(date(2024, 2, 10), 20_000)], as_of=date(2024, 3, 1))
    assert s.past_due_by_cycle[:2] == (10_000, 0)  # January paid off, February still open
    assert s.oldest_unpaid_due_date == date(2024, 2, 25)
    assert s.dpd == 5


def test_backdated_payment_cures_retroactively():
    late_file = [Payment(date(2024, 1, 24), 20_000)]
    assert run([JAN], as_of=date(2024, 2, 10)).dpd == 16
    # the same as-of date, with a payment whose value date is before the due date
    s = run([JAN], late_file, as_of=date(2024, 2, 10))
    assert (s.dpd, s.amount_past_due) == (0, 0)
    # payments dated after the as-of date are not counted yet
    assert run([JAN], [Payment(date(2024, 2, 11), 20_000)], as_of=date(2024, 2, 10)).dpd == 16


def test_carried_over_minimum_is_not_double_counted():
    statements = monthly(3)  # minimums printed 10 000, 20 000 (10 000 carried), 30 000 (20 000 carried)
    s = run(statements, as_of=date(2024, 4, 1))
    assert s.amount_past_due == 30_000  # not 60 000
    assert s.past_due_by_cycle[:3] == (10_000, 10_000, 10_000)
    assert s.cycles_delinquent == 3
    assert s.oldest_unpaid_due_date == date(2024, 1, 25)
    assert s.dpd == (date(2024, 4, 1) - date(2024, 1, 25)).days


def test_aged_by_cycle_with_seven_and_older_in_the_last_slot():
    statements = [
        Statement(date(2024, m, 5), date(2024, m, 25), 1_000 * m + 5_000) for m in range(1, 10)
    ]
    s = run(statements, [Payment(date(2024, 1, 20), 2_000)], as_of=date(2024, 9, 30))
    # cycle 1 = September (newest past due) ... cycle 6 = April, 7+ = March + February + rest of January
    assert s.past_due_by_cycle == (14_000, 13_000, 12_000, 11_000, 10_000, 9_000, 8_000 + 7_000 + 4_000)
    assert s.amount_past_due == sum(s.past_due_by_cycle)
    assert s.cycles_delinquent == 9


def test_statement_not_yet_due_is_not_past_due():
    feb = Statement(date(2024, 2, 5), date(2024, 2, 25), 10_000)
    s = run([JAN, feb], as_of=date(2024, 2, 10))
    assert s.amount_past_due == 20_000  # February is issued but not due
    assert s.cycles_delinquent == 1


def test_cure_after_paying_the_oldest_moves_dpd_to_the_next_statement():
    statements = monthly(3)
    s = run(statements, [Payment(date(2024, 3, 28), 10_000)], as_of=date(2024, 4, 1))
    assert s.oldest_unpaid_due_date == date(2024, 2, 25)
    assert s.dpd == 36
    assert s.bucket == "M2"


def test_charge_off_from_charge_off_dpd():
    due = JAN.due_date
    assert not run([JAN], as_of=due + timedelta(days=179)).charge_off
    s = run([JAN], as_of=due + timedelta(days=180))
    assert s.charge_off and s.bucket == "M6"
    assert run([JAN], as_of=due + timedelta(days=181)).bucket == "M7+"


def test_pausing_hold_stops_the_clock():
    hold = Hold(date(2024, 2, 1), date(2024, 2, 10), True)  # 10 days, inclusive
    s = run([JAN], holds=[hold], as_of=date(2024, 2, 20))
    assert s.dpd == 26 - 10
    assert s.amount_past_due == 20_000  # the money is still owed
    # a hold that does not pause ageing changes nothing
    assert run([JAN], holds=[Hold(date(2024, 2, 1), date(2024, 2, 10), False)], as_of=date(2024, 2, 20)).dpd == 26


def test_overlapping_holds_count_a_day_once():
    holds = [Hold(date(2024, 2, 1), date(2024, 2, 10), True), Hold(date(2024, 2, 5), date(2024, 2, 14), True)]
    assert run([JAN], holds=holds, as_of=date(2024, 2, 20)).dpd == 26 - 14


def test_open_ended_hold_runs_to_the_as_of_date():
    s = run([JAN], holds=[Hold(date(2024, 2, 1), None, True)], as_of=date(2024, 3, 1))
    assert s.dpd == 6  # Jan 26..31 count, Feb 1..Mar 1 paused
    assert s.bucket == "M1"
    # still running a month later: the clock does not move
    assert run([JAN], holds=[Hold(date(2024, 2, 1), None, True)], as_of=date(2024, 4, 1)).dpd == 6


def test_hold_days_before_the_due_date_do_not_count():
    hold = Hold(date(2024, 1, 10), date(2024, 1, 27), True)
    assert run([JAN], holds=[hold], as_of=date(2024, 2, 4)).dpd == 10 - 2
    assert paused_days([hold], date(2024, 1, 25), date(2024, 2, 4)) == 2


def test_rules_are_parameters():
    rules = DelinquencyRules(tolerance=0, grace_days=0, charge_off_dpd=5,
                             buckets=BucketTable((Bucket("ok", 0, 0), Bucket("late", 1, None))))
    s = run([JAN], [Payment(date(2024, 1, 20), 19_999)], as_of=date(2024, 1, 31), rules=rules)
    assert (s.dpd, s.delinquent, s.bucket, s.charge_off) == (6, True, "late", True)


def test_no_statement_yet():
    s = run([JAN], [Payment(date(2024, 1, 1), 100)], as_of=date(2024, 1, 4))
    assert (s.dpd, s.bucket, s.amount_past_due, s.past_due_by_cycle) == (0, "M0", 0, (0,) * 7)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Statement(date(2024, 1, 5), date(2024, 1, 5), 100),
        lambda: Statement(date(2024, 1, 5), date(2024, 1, 25), -1),
        lambda: Statement(date(2024, 1, 5), date(2024, 1, 25), 100, -1),
        lambda: Statement(date(2024, 1, 5), date(2024, 1, 25), 100, 101),
        lambda: Statement(date(2024, 1, 5), date(2024, 1, 25), 1.5),
        lambda: Payment(date(2024, 1, 5), -1),
        lambda: Hold(date(2024, 1, 5), date(2024, 1, 4), True),
        lambda: DelinquencyRules(tolerance=-1),
        lambda: BucketTable((Bucket("M0", 0, 0), Bucket("M1", 2, None))),
    ],
)
def test_invalid_input_is_rejected(make):
    with pytest.raises(ValueError):
        make()


def test_two_statements_on_one_day_are_rejected():
    with pytest.raises(ValueError, match="two statements"):
        run([JAN, Statement(JAN.statement_date, JAN.due_date, 5)], as_of=date(2024, 3, 1))


@pytest.mark.parametrize(
    ("dpd", "bucket"),
    [(0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"), (91, "M4"),
     (120, "M4"), (121, "M5"), (150, "M5"), (151, "M6"), (180, "M6"), (181, "M7+"), (10_000, "M7+")],
)
def test_default_bucket_edges(dpd, bucket):
    assert BucketTable.default().lookup(dpd) == bucket
