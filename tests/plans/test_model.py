"""Plan model: schedules, the disclosed rate, options and monitoring, against independent references."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.auth.model import ROLES
from arrears.plans.config import load_default_plan_products
from arrears.plans.model import (
    Instalment,
    PlanError,
    PlanInputs,
    ReageRules,
    add_months,
    allocate,
    annual_rate,
    build_schedule,
    generate_options,
    plan_status,
    reage_decision,
    reminder_dates,
    reminders_due,
    single_payment,
)

PRODUCTS = load_default_plan_products()
CAUSES = ("job_loss", "illness", "business_trouble", "over_indebted", "forgot", "other")


# -- independent references ---------------------------------------------------------------------


def ref_month_offset(start: date, due: date) -> int | None:
    """Months from start to due, when due is start's day (clamped) that many months on."""
    months = (due.year - start.year) * 12 + (due.month - start.month)
    y, m = divmod(start.year * 12 + start.month - 1 + months, 12)
    last = (date(y + (m + 1) // 12, (m + 1) % 12 + 1, 1) - timedelta(days=1)).day
    return months if months >= 1 and due == date(y, m + 1, min(start.day, last)) else None


def ref_annual_rate(principal: int, schedule: tuple[Instalment, ...], start: date, per: str = "month") -> Decimal:
    """The nominal annual rate in percent, unrounded, by bisection on the NPV in 40-digit Decimal."""
    total = sum(s.amount for s in schedule)
    offsets = [ref_month_offset(start, s.due_date) for s in schedule]
    with localcontext() as ctx:
        ctx.prec = 40
        if per == "month":
            assert all(o is not None for o in offsets)
            flows = [(Decimal(s.amount), o) for s, o in zip(schedule, offsets)]

            def npv(r: Decimal) -> Decimal:
                return sum((a / (1 + r) ** t for a, t in flows), Decimal(0)) - principal

            lo, hi = (Decimal(0), Decimal(1)) if total >= principal else (Decimal("-0.999"), Decimal(0))
            assert npv(lo) >= 0 >= npv(hi)
            for _ in range(60):
                mid = (lo + hi) / 2
                if npv(mid) > 0:
                    lo = mid
                else:
                    hi = mid
            return (lo + hi) / 2 * 1200
        assert len(schedule) == 1
        days = (schedule[0].due_date - start).days
        return (Decimal(total) / principal - 1) * 36500 / days


def ref_allocate(schedule, payments, as_of, grace):
    """Cumulative formulation: instalment k holds what the payments cover beyond instalments 1..k-1."""
    counted = sorted((d, f) for d, f in payments if d <= as_of)
    before = 0
    out = []
    for s in schedule:
        running, paid_on = 0, None
        for d, f in counted:
            running += f
            if running >= before + s.amount:
                paid_on = d
                break
        paid = max(0, min(s.amount, sum(f for _, f in counted) - before))
        if s.amount == 0:
            paid_on = s.due_date if s.due_date <= as_of else None
        limit = s.due_date + timedelta(days=grace)
        if paid_on is not None:
            status = "kept" if paid_on <= limit else "late"
        elif as_of > limit:
            status = "missed"
        else:
            status = "part_paid" if paid else "pending"
        out.append((s.number, paid, paid_on, status))
        before += s.amount
    return out


# -- strategies ---------------------------------------------------------------------------------

dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
rates = st.integers(min_value=0, max_value=300).map(lambda n: Decimal(n) / 100)   # 0.00 .. 3.00 % a month
annual = st.integers(min_value=1, max_value=3600).map(lambda n: Decimal(n) / 100)  # 0.01 .. 36.00 % a year


@st.composite
def plan_inputs(draw):
    balance = draw(st.integers(min_value=1, max_value=1_000_000_000))
    return PlanInputs(
        today=draw(dates),
        balance=balance,
        overdue=draw(st.integers(min_value=0, max_value=balance)),
        minimum_due=draw(st.integers(min_value=0, max_value=balance)),
        affordable=draw(st.none() | st.integers(min_value=0, max_value=2 * balance)),
        willingness=draw(st.none() | st.integers(min_value=1, max_value=5)),
        cause=draw(st.none() | st.sampled_from(CAUSES)),
        role=draw(st.sampled_from(ROLES)),
        dpd=draw(st.integers(min_value=0, max_value=400)),
    )


@st.composite
def schedules(draw):
    principal = draw(st.integers(min_value=0, max_value=1_000_000_000))
    months = draw(st.integers(min_value=1, max_value=60))
    start = draw(dates)
    if draw(st.booleans()):
        kw = {"annual_interest_rate": draw(annual)}
    else:
        kw = {"monthly_fee_rate": draw(rates), "waive_first_periods": draw(st.integers(0, months)),
              "waive_fee_percent": draw(st.integers(0, 100).map(Decimal))}
    return principal, start, months, kw, build_schedule(principal, start=start, months=months, **kw)


# -- schedules ----------------------------------------------------------------------------------


@given(schedules())
def test_schedule_sums_exactly_and_follows_the_rounding_rule(case) -> None:
    principal, start, months, kw, schedule = case
    assert len(schedule) == months
    assert [s.number for s in schedule] == list(range(1, months + 1))
    assert [s.due_date for s in schedule] == [add_months(start, k) for k in range(1, months + 1)]
    assert sum(s.principal for s in schedule) == principal
    assert all(s.amount == s.principal + s.fee + s.interest for s in schedule)
    assert all(min(s.principal, s.fee, s.interest, s.fee_waived, s.amount) >= 0 for s in schedule)
    if "monthly_fee_rate" in kw:
        base = principal // months
        assert [s.principal for s in schedule] == [base + principal % months] + [base] * (months - 1)
        fee = int((principal * kw["monthly_fee_rate"] / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        assert all(s.fee + s.fee_waived == fee for s in schedule)
        assert all(s.fee == 0 for s in schedule[: kw["waive_first_periods"]])
    else:
        # interest on the balance still owed before each instalment, half-up
        owed = principal
        i = kw["annual_interest_rate"] / 1200
        for s in schedule:
            assert s.interest == int((owed * i).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            owed -= s.principal
        # the principal parts are whole-fen floors of an annuity: later parts never shrink
        # (apart from the first, which carries the remainder fen)
        parts = [s.principal for s in schedule[1:]]
        assert parts == sorted(parts)


def test_month_end_dates_clamp_from_the_start_date() -> None:
    schedule = build_schedule(300, start=date(2024, 1, 31), months=4)
    assert [s.due_date for s in schedule] == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30),
                                              date(2024, 5, 31)]
    assert [s.principal for s in schedule] == [75, 75, 75, 75]
    assert [s.principal for s in build_schedule(1003, start=date(2025, 1, 31), months=4)] == [253, 250, 250, 250]
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)


def test_schedule_refuses_both_fee_and_interest() -> None:
    with pytest.raises(PlanError):
        build_schedule(1000, start=date(2025, 1, 1), months=3, monthly_fee_rate=Decimal(1),
                       annual_interest_rate=Decimal(1))


# -- the disclosed rate -------------------------------------------------------------------------


def test_the_disclosure_example_is_13_03_percent() -> None:
    schedule = build_schedule(1_200_000, start=date(2025, 3, 15), months=12, monthly_fee_rate=Decimal("0.60"))
    assert {s.amount for s in schedule} == {107_200}
    assert annual_rate(1_200_000, schedule, start=date(2025, 3, 15)) == Decimal("13.03")
    assert ref_annual_rate(1_200_000, schedule, date(2025, 3, 15)).quantize(Decimal("0.01")) == Decimal("13.03")


def test_rate_of_free_and_day_based_options() -> None:
    start = date(2025, 6, 1)
    assert annual_rate(5000, single_payment(5000, due=start + timedelta(days=7)), start=start, per="day") == Decimal("0.00")
    assert annual_rate(5000, build_schedule(5000, start=start, months=6), start=start) == Decimal("0.00")
    # 0.05% a day for 30 days: 1.5% over 30 days -> 1.5 * 365 / 30 = 18.25% a year
    # (1 June + 30 days is 1 July: the basis still comes from the product, not from the dates)
    deferred = single_payment(100_000, due=start + timedelta(days=30), interest=1_500)
    assert annual_rate(100_000, deferred, start=start, per="day") == Decimal("18.25")
    assert annual_rate(100_000, deferred, start=start, per="month") == Decimal("18.00")
    with pytest.raises(PlanError):
        annual_rate(100_000, single_payment(100_000, due=start + timedelta(days=29)), start=start, per="month")
    with pytest.raises(PlanError):
        annual_rate(100, (Instalment(1, start + timedelta(days=3), 50, 0, 0, 50),
                          Instalment(2, start + timedelta(days=9), 60, 0, 0, 60)), start=start, per="day")


@settings(max_examples=60, deadline=None)
@given(schedules())
def test_disclosed_rate_matches_an_independent_irr(case) -> None:
    principal, start, _months, _kw, schedule = case
    if principal == 0:
        return
    disclosed = annual_rate(principal, schedule, start=start)
    assert abs(disclosed - ref_annual_rate(principal, schedule, start)) <= Decimal("0.005") + Decimal("1e-9")


# -- options ------------------------------------------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(plan_inputs())
def test_every_option_is_consistent(inputs: PlanInputs) -> None:
    options = generate_options(inputs, PRODUCTS)
    assert [o.code for o in options] == [p.code for p in PRODUCTS.products]
    for o in options:
        assert o.schedule
        assert o.total == sum(s.amount for s in o.schedule) == o.principal + o.fees + o.interest
        assert o.cost == o.fees + o.interest
        assert sum(s.principal for s in o.schedule) == o.principal
        assert all(s.amount >= 0 and s.principal >= 0 for s in o.schedule)
        assert all(s.due_date > inputs.today for s in o.schedule)
        assert o.largest_instalment == max(s.amount for s in o.schedule)
        if o.fits_affordable:
            assert inputs.affordable is not None and max(s.amount for s in o.schedule) <= inputs.affordable
        if inputs.affordable is None:
            assert o.fits_affordable is None
        else:
            assert o.fits_affordable == (o.largest_instalment <= inputs.affordable)
        assert o.offered == (not o.reasons) and len(o.reasons) == len(o.reason_codes)
        assert o.needs_approval == (o.approval_role is not None)
        if o.kind in ("full", "instalment", "personalised"):
            assert o.principal == inputs.balance
        if o.kind == "settlement":
            assert o.annual_rate is None and o.fees == o.interest == 0
            assert o.principal + o.waived == inputs.balance
            assert o.needs_approval == (o.discount_percent > PRODUCTS.settlement.limit(inputs.role))
            assert o.offered == (inputs.dpd >= PRODUCTS.settlement.min_dpd)
        elif o.kind == "minimum":
            assert o.annual_rate is None
        elif o.principal > 0:
            per = "day" if o.days is not None else "month"
            reference = ref_annual_rate(o.principal, o.schedule, inputs.today, per)
            assert abs(o.annual_rate - reference) <= Decimal("0.005") + Decimal("1e-9")
        if o.cost == 0 and o.annual_rate is not None:
            assert o.annual_rate == Decimal("0.00")


@settings(max_examples=120, deadline=None)
@given(plan_inputs())
def test_personalised_agreement_conditions_and_term(inputs: PlanInputs) -> None:
    product = PRODUCTS.product("personalised")
    option = next(o for o in generate_options(inputs, PRODUCTS) if o.kind == "personalised")
    eligible = (inputs.affordable is not None and inputs.affordable < inputs.balance
                and inputs.willingness is not None and inputs.willingness >= product.min_willingness
                and bool(inputs.cause))
    assert option.offered == eligible
    assert option.months is not None and product.min_months <= option.months <= 60
    assert option.needs_approval and option.approval_role == product.approval_role
    if inputs.affordable is None:
        assert option.months == product.max_months and option.fits_affordable is None
        return
    # the shortest term that fits: no shorter term fits, and 60 is shown when none does
    def largest(months: int) -> int:
        return max(s.amount for s in build_schedule(inputs.balance, start=inputs.today, months=months))

    fitting = [m for m in range(product.min_months, product.max_months + 1) if largest(m) <= inputs.affordable]
    if fitting:
        assert option.fits_affordable and option.months == fitting[0]
    else:
        assert option.fits_affordable is False and option.months == product.max_months


def test_personalised_reasons_name_each_failed_condition() -> None:
    inputs = PlanInputs(today=date(2025, 5, 10), balance=100_000, overdue=10_000, minimum_due=10_000,
                        affordable=None, willingness=2, cause=None, role="agent", dpd=40)
    option = next(o for o in generate_options(inputs, PRODUCTS) if o.kind == "personalised")
    assert not option.offered
    assert option.reason_codes == ("affordability_unknown", "not_willing", "cause_missing")
    rich = PlanInputs(today=date(2025, 5, 10), balance=100_000, overdue=10_000, minimum_due=10_000,
                      affordable=100_000, willingness=None, cause="illness", role="agent", dpd=40)
    option = next(o for o in generate_options(rich, PRODUCTS) if o.kind == "personalised")
    assert option.reason_codes == ("able_to_pay_in_full", "willingness_unknown")


def test_settlement_authority_and_four_eyes() -> None:
    def settle(role: str, dpd: int = 120) -> dict[str, tuple[bool, str | None, bool]]:
        inputs = PlanInputs(today=date(2025, 5, 10), balance=500_000, overdue=100_000, minimum_due=100_000,
                            affordable=50_000, willingness=4, cause="illness", role=role, dpd=dpd)
        return {o.code: (o.needs_approval, o.approval_role, o.offered)
                for o in generate_options(inputs, PRODUCTS) if o.kind == "settlement"}

    assert settle("agent") == {"settle_10": (False, None, True), "settle_20": (True, "team_lead", True),
                               "settle_20_3m": (True, "team_lead", True), "settle_30": (True, "supervisor", True)}
    assert settle("supervisor") == {c: (False, None, True) for c in settle("agent")}
    assert settle("auditor")["settle_10"] == (True, "agent", True)
    assert {c: v[2] for c, v in settle("team_lead", dpd=89).items()} == {c: False for c in settle("agent")}


def test_inputs_are_checked() -> None:
    good = dict(today=date(2025, 5, 10), balance=1000, overdue=100, minimum_due=100, affordable=None,
                willingness=None, cause=None, role="agent", dpd=0)
    for bad in ({"balance": 0}, {"overdue": 1001}, {"role": "janitor"}, {"willingness": 6}, {"affordable": -1},
                {"dpd": -1}):
        with pytest.raises(PlanError):
            generate_options(PlanInputs(**{**good, **bad}), PRODUCTS)


# -- monitoring ---------------------------------------------------------------------------------

payments_lists = st.lists(st.tuples(st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 6, 30)),
                                    st.integers(min_value=0, max_value=400_000)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(schedules(), payments_lists, st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
       st.integers(min_value=0, max_value=10))
def test_allocation_matches_the_reference(case, payments, as_of, grace) -> None:
    principal, _start, months, kw, _ = case
    schedule = build_schedule(principal % 1_000_000, start=date(2025, 1, 15), months=min(months, 18), **kw)
    states = allocate(schedule, payments, as_of=as_of, grace_days=grace)
    paid_in = sum(f for d, f in payments if d <= as_of)
    total = sum(s.amount for s in schedule)
    assert sum(s.paid for s in states) == min(paid_in, total)
    for i, earlier in enumerate(states):
        if earlier.paid < earlier.amount:
            assert all(later.paid == 0 for later in states[i + 1:])
    assert [(s.number, s.paid, s.paid_on, s.status) for s in states] == ref_allocate(schedule, payments, as_of, grace)


def test_monitoring_walk_through() -> None:
    schedule = build_schedule(300_000, start=date(2025, 1, 10), months=3)  # 1,000.00 on 10 Feb, Mar, Apr
    grace = 3
    # paid on time, then late within grace, then nothing
    pays = [(date(2025, 2, 9), 100_000), (date(2025, 3, 13), 60_000)]
    states = allocate(schedule, pays, as_of=date(2025, 3, 13), grace_days=grace)
    assert [s.status for s in states] == ["kept", "part_paid", "pending"]
    states = allocate(schedule, pays, as_of=date(2025, 3, 14), grace_days=grace)
    assert [(s.status, s.paid) for s in states] == [("kept", 100_000), ("missed", 60_000), ("pending", 0)]
    assert plan_status(states, max_misses=2).status == "active"
    states = allocate(schedule, pays, as_of=date(2025, 4, 14), grace_days=grace)
    judged = plan_status(states, max_misses=2)
    assert (judged.status, judged.missed, judged.paid, judged.outstanding) == ("broken", 2, 160_000, 140_000)
    # the customer catches up: the missed instalments become late, then the plan completes
    pays.append((date(2025, 4, 20), 140_000))
    states = allocate(schedule, pays, as_of=date(2025, 4, 20), grace_days=grace)
    assert [s.status for s in states] == ["kept", "late", "late"]
    judged = plan_status(states, max_misses=2)
    assert (judged.status, judged.completed_on, judged.late) == ("completed", date(2025, 4, 20), 2)
    # money beyond the schedule is not allocated
    states = allocate(schedule, [(date(2025, 2, 1), 999_999)], as_of=date(2025, 2, 1), grace_days=0)
    assert [s.status for s in states] == ["kept"] * 3 and sum(s.paid for s in states) == 300_000
    # payments after as_of do not count
    assert allocate(schedule, [(date(2025, 2, 11), 100_000)], as_of=date(2025, 2, 10), grace_days=0)[0].paid == 0


def test_reminders() -> None:
    schedule = build_schedule(300_000, start=date(2025, 1, 31), months=3)
    assert reminder_dates(schedule, 3) == ((1, date(2025, 2, 25)), (2, date(2025, 3, 28)), (3, date(2025, 4, 27)))
    assert reminder_dates(schedule, 30, not_before=date(2025, 1, 31)) == ((2, date(2025, 3, 1)),
                                                                           (3, date(2025, 3, 31)))
    states = allocate(schedule, [(date(2025, 2, 20), 100_000)], as_of=date(2025, 3, 28), grace_days=3)
    assert reminders_due(states, on=date(2025, 3, 28), days_before=3) == (2,)
    assert reminders_due(states, on=date(2025, 2, 25), days_before=3) == ()  # instalment 1 already paid


def test_reageing_rule() -> None:
    schedule = build_schedule(600_000, start=date(2025, 1, 10), months=6)
    on_time = [(s.due_date, s.amount) for s in schedule]
    rules = ReageRules(min_kept=3, once_in_months=12)
    states = allocate(schedule, on_time, as_of=date(2025, 7, 10), grace_days=3)
    decision = reage_decision(states, rules=rules, last_reaged_on=None)
    assert (decision.reage, decision.on) == (True, date(2025, 7, 10))
    assert not reage_decision(states, rules=rules, last_reaged_on=date(2024, 8, 1)).reage
    assert reage_decision(states, rules=rules, last_reaged_on=date(2024, 7, 10)).reage
    # not completed yet
    assert not reage_decision(allocate(schedule, on_time[:5], as_of=date(2025, 7, 10), grace_days=3),
                              rules=rules, last_reaged_on=None).reage
    # completed, but everything was paid late in one sum: fewer than 3 kept
    late = allocate(schedule, [(date(2025, 7, 10), 600_000)], as_of=date(2025, 7, 10), grace_days=3)
    assert plan_status(late, max_misses=2).status == "completed"
    assert not reage_decision(late, rules=rules, last_reaged_on=None).reage
