"""Repayment plans as pure rules: products, schedules, the disclosed annual rate, the options a
customer is offered, and how a running plan is judged. No database, no I/O.

Money is integer fen (分) everywhere; Decimal inside calculations; business dates are ``date``.

Schedules
=========

An instalment schedule starts on the agreement date (``start``). Monthly instalment ``k`` falls due
``k`` months after it, on the same day of the month, clamped to the month's last day
(31 Jan → 28/29 Feb → 31 Mar …: :func:`add_months` always counts from ``start``, so a short month
does not pull later dates back). A day-based payment (pay in full, a deferral by days, a lump-sum
settlement) falls due once, ``N`` days after ``start``.

Rounding rule (the only one)
============================

Fees, interest and discounts are computed in Decimal and rounded **half-up to the fen**
(:func:`arrears.kit.money.round_fen`). Principal is split in **whole fen**: each instalment takes its
exact share **rounded down** to the fen, and the fen left over (fewer than the number of
instalments) **go to the first instalment**. For an even split that is ``P // n`` each and
``P % n`` more on instalment 1; for a declining-balance annuity each exact annuity share is rounded
down the same way. So the principal parts sum exactly to the principal, and the instalment amounts
(principal + fee + interest) sum exactly to the option's ``total``.

Charges
=======

- **fee per period** (``monthly_fee_rate``, percent of the *original* principal, charged every
  period): ``fee = round_half_up(P × rate / 100)`` in each instalment.
- **interest** (``annual_interest_rate``, nominal percent a year, declining balance):
  the periodic rate is ``i = annual / 1200``; instalment ``k`` pays
  ``round_half_up(balance_before_k × i)`` interest and its principal share of a level annuity
  ``A = P·i / (1 − (1+i)^−n)`` (share ``k`` = ``A·(1+i)^−(n−k+1)``).
- **fee waivers**: the fees of the first ``N`` periods, and/or a percentage of every remaining
  period's fee (``round_half_up(fee × pct / 100)``); the waived fen are shown per instalment and
  in total and are not payable.
- **deferral interest** (``daily_interest_rate``, percent a day, simple, on the deferred amount
  for the actual days until the due date).

The disclosed annual rate (IRR)
===============================

China's 2021 disclosure rule asks for the annualised rate computed by the internal rate of return.
:func:`annual_rate` solves ``principal = Σ amount_k / (1 + r)^{t_k}`` for the periodic rate ``r``:

- monthly schedules, and deferrals by months (``per="month"``; every due date is a whole number
  of months after ``start``): ``t_k`` is that number of months, the root is found with ``scipy.optimize.brentq`` to about 1e-15, and the nominal
  annual rate is ``r × 12``;
- a single payment ``N`` days after ``start`` (``per="day"``: pay in full, deferrals by days):
  ``r = total / principal − 1`` exactly, and the nominal annual rate is ``r × 365 / N``.

The basis comes from the product, not from where the dates fall (a 30-day deferral from 1 June
ends on 1 July and is still annualised by 365 / 30).

The result is a percentage rounded half-up to two places. Worked example: 12,000.00 in 12 monthly
instalments with a 0.60% monthly fee on the original principal is 1,072.00 a month; the monthly IRR
is 1.0862%, so the disclosed nominal annual rate is **13.03%**. An option that costs nothing
(total = principal) discloses **0.00%**. A settlement discloses **no rate** (``None``): the customer
pays less than the principal, so an IRR would be negative and would not describe a cost of credit.
The minimum payment also discloses no rate: it is one payment under the card agreement, not a
credit arrangement; the rest of the balance stays on the card at the card's own rates.

Monitoring
==========

Payments are applied oldest instalment first (:func:`allocate`). An instalment paid in full by its
due date plus the grace days is **kept**; paid in full later it is **late**; not paid in full once
the grace has passed it is **missed**; before then it is **pending** (nothing paid) or
**part_paid**. A plan is **completed** when every instalment is paid in full, **broken** when at
least ``max_misses`` instalments are missed at the same time, **active** otherwise
(:func:`plan_status`). The judgement is for one day; keeping a plan broken once it has been
recorded as broken is the store's job. Reminders go ``days_before`` days before each due date (:func:`reminder_dates`).

Re-ageing rule: when a plan is completed, the account is re-aged to current (DPD 0) on the day the
last instalment was paid, provided at least ``min_kept`` instalments (or all of them, for a shorter
plan) were kept, and the account was not re-aged in the ``once_in_months`` months before
(:func:`reage_decision`). Otherwise it keeps its ageing and the daily cycle ages it as usual.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

import numpy as np
from scipy.optimize import brentq

from arrears.auth.model import ROLES
from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan, round_fen

KINDS = ("full", "minimum", "deferral", "instalment", "personalised", "settlement")
#: The Chinese rule: a personalised instalment agreement may run at most five years.
MAX_MONTHS = 60
#: Instalment products run from 3 to 60 months.
MIN_INSTALMENT_MONTHS = 3
INSTALMENT_STATUSES = ("pending", "part_paid", "kept", "late", "missed")
PLAN_STATUSES = ("active", "completed", "broken")
DEFERRAL_BASES = ("overdue", "balance")

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_RATE_PLACES = Decimal("0.01")


class PlanError(ArrearsError):
    """Inputs a plan cannot be built from (negative amounts, unknown role, impossible schedule)."""

    status = 422


# -- dates --------------------------------------------------------------------------------------


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, the day clamped to the month's last day."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _months_between(start: date, due: date) -> int | None:
    """The whole number of months ``m`` with ``add_months(start, m) == due``, else None."""
    m = (due.year - start.year) * 12 + due.month - start.month
    return m if m >= 1 and add_months(start, m) == due else None


# -- products -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    """One configured plan product. Which fields matter depends on ``kind`` (see products.yaml).

    Rates are Decimal percentages: ``monthly_fee_rate`` of the original principal per period,
    ``annual_interest_rate`` nominal per year (declining balance), ``daily_interest_rate`` per day
    (deferral), ``discount_percent`` of the balance (settlement).
    """

    code: str
    kind: str
    labels: Mapping[str, str]
    months: int | None = None            # instalment, deferral by months
    days: int | None = None              # deferral by days
    pay_within_days: int = 0             # full, minimum, settlement (lump sum)
    monthly_fee_rate: Decimal = _ZERO
    annual_interest_rate: Decimal = _ZERO
    daily_interest_rate: Decimal = _ZERO
    waive_first_periods: int = 0
    waive_fee_percent: Decimal = _ZERO
    base: str = "overdue"                # deferral: what is deferred
    min_months: int = 1                  # personalised
    max_months: int = MAX_MONTHS         # personalised
    min_willingness: int = 3             # personalised
    discount_percent: Decimal = _ZERO    # settlement
    instalments: int = 1                 # settlement
    min_balance: int = 0                 # eligibility, fen
    min_dpd: int = 0
    max_dpd: int | None = None
    approval_role: str | None = None     # four-eyes for every use of this product

    def label(self, locale: str = "zh_CN") -> str:
        return self.labels.get(locale) or self.labels["zh_CN"]


@dataclass(frozen=True)
class SettlementRules:
    """Who may agree which discount alone, and from when settlement is on the table.

    ``authority``: the largest discount (percent of the balance) each role may agree alone; roles
    not listed may agree none. A larger discount needs a second person's approval (four-eyes):
    the role with the smallest limit that covers it, or ``senior_approver`` above every limit.
    """

    min_dpd: int = 90
    authority: Mapping[str, Decimal] = field(default_factory=lambda: {
        "agent": Decimal(10), "team_lead": Decimal(20), "supervisor": Decimal(30)})
    senior_approver: str = "compliance"

    def limit(self, role: str) -> Decimal:
        return self.authority.get(role, _ZERO)

    def approver(self, percent: Decimal) -> str:
        """The role whose own limit covers ``percent`` (the smallest such), else the senior approver."""
        covering = [(limit, role) for role, limit in self.authority.items() if limit >= percent]
        return min(covering, key=lambda lr: lr[0])[1] if covering else self.senior_approver


@dataclass(frozen=True)
class MonitoringRules:
    grace_days: int = 3              # an instalment paid up to this many days late is still kept
    reminder_days_before: int = 3    # a reminder this many days before each due date
    max_misses: int = 2              # this many instalments missed at once break the plan


@dataclass(frozen=True)
class ReageRules:
    min_kept: int = 3                # instalments kept on time before a completed plan re-ages
    once_in_months: int = 12         # at most one re-ageing in this many months


@dataclass(frozen=True)
class PlanProducts:
    products: tuple[Product, ...]
    settlement: SettlementRules = SettlementRules()
    monitoring: MonitoringRules = MonitoringRules()
    reage: ReageRules = ReageRules()

    def product(self, code: str) -> Product:
        for p in self.products:
            if p.code == code:
                return p
        raise ArrearsError(f"unknown plan product {code!r} (known: {', '.join(p.code for p in self.products)})")


# -- schedules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instalment:
    number: int
    due_date: date
    principal: int
    fee: int            # fee payable, after any waiver
    interest: int
    amount: int         # principal + fee + interest
    fee_waived: int = 0


def _split_floor(principal: int, shares: Sequence[Decimal]) -> list[int]:
    """Whole-fen principal parts: each exact share rounded down, the remainder fen on the first."""
    parts = [int(s.to_integral_value(rounding=ROUND_FLOOR)) for s in shares]
    parts[0] += principal - sum(parts)
    return parts


def build_schedule(
    principal: int,
    *,
    start: date,
    months: int,
    monthly_fee_rate: Decimal = _ZERO,
    annual_interest_rate: Decimal = _ZERO,
    waive_first_periods: int = 0,
    waive_fee_percent: Decimal = _ZERO,
) -> tuple[Instalment, ...]:
    """A monthly instalment schedule for ``principal`` fen over ``months`` (see the module notes).

    Either a fee per period on the original principal, or declining-balance interest, or neither.
    """
    if principal < 0 or months < 1:
        raise PlanError(f"cannot schedule {principal} fen over {months} months")
    if monthly_fee_rate and annual_interest_rate:
        raise PlanError("a schedule has a fee per period or an interest rate, not both")
    if annual_interest_rate:
        with localcontext() as ctx:
            ctx.prec = 34
            i = Decimal(annual_interest_rate) / 1200
            v = 1 / (1 + i)
            level = Decimal(principal) * i / (1 - v ** months)
            shares = [level * v ** (months - k + 1) for k in range(1, months + 1)]
        parts = _split_floor(principal, shares)
        out, balance = [], principal
        for k, part in enumerate(parts, start=1):
            interest = round_fen(balance * i)
            balance -= part
            out.append(Instalment(k, add_months(start, k), part, 0, interest, part + interest))
        return tuple(out)
    base, extra = divmod(principal, months)
    fee = round_fen(principal * Decimal(monthly_fee_rate) / _HUNDRED)
    out = []
    for k in range(1, months + 1):
        part = base + (extra if k == 1 else 0)
        if k <= waive_first_periods:
            waived = fee
        else:
            waived = round_fen(fee * Decimal(waive_fee_percent) / _HUNDRED) if waive_fee_percent else 0
        out.append(Instalment(k, add_months(start, k), part, fee - waived, 0, part + fee - waived, waived))
    return tuple(out)


def single_payment(principal: int, *, due: date, interest: int = 0) -> tuple[Instalment, ...]:
    """A schedule of one payment."""
    return (Instalment(1, due, principal, 0, interest, principal + interest),)


# -- the disclosed annual rate ------------------------------------------------------------------


def _quantize_rate(percent: Decimal) -> Decimal:
    return percent.quantize(_RATE_PLACES, rounding=ROUND_HALF_UP)


def monthly_irr(principal: int, amounts: Sequence[int], months: Sequence[int]) -> float:
    """The periodic (monthly) rate r with ``principal = Σ amount_k / (1+r)^months_k``."""
    a = np.asarray(amounts, dtype=np.float64)
    t = np.asarray(months, dtype=np.float64)
    p = float(principal)

    def npv(r: float) -> float:
        return float(np.dot(a, np.power(1.0 + r, -t))) - p

    total = float(a.sum())
    if total == p:
        return 0.0
    if total > p:
        lo, hi = 0.0, 1.0
        while npv(hi) > 0:
            hi *= 2
    else:
        lo, hi = -0.999999, 0.0
    return float(brentq(npv, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=200))


def annual_rate(principal: int, schedule: Sequence[Instalment], *, start: date, per: str = "month") -> Decimal:
    """The nominal annual rate in percent (2 places, half-up) by IRR; see the module notes.

    ``per="month"``: every due date must be a whole number of months after ``start``; the
    periodic rate is monthly and the annual rate is ``r × 12``. ``per="day"``: one payment
    ``N`` days after ``start``; the annual rate is ``(total / principal − 1) × 365 / N``. The
    basis belongs to the product (monthly schedules and deferrals by months are ``month``; pay in
    full and deferrals by days are ``day``), never to where the dates happen to fall.
    """
    if principal <= 0 or not schedule:
        raise PlanError("the annual rate needs a positive principal and at least one payment")
    amounts = [s.amount for s in schedule]
    total = sum(amounts)
    if per == "month":
        months = [_months_between(start, s.due_date) for s in schedule]
        if any(m is None for m in months):
            raise PlanError("a monthly rate needs every due date a whole number of months after the start")
        if total == principal:
            return Decimal("0.00")
        r = monthly_irr(principal, amounts, months)  # type: ignore[arg-type]
        return _quantize_rate(Decimal(repr(r)) * 1200)
    if per == "day":
        if len(schedule) != 1:
            raise PlanError("a day-based rate is for one payment only")
        days = (schedule[0].due_date - start).days
        if days <= 0:
            raise PlanError("a single payment must fall due after the start date")
        return _quantize_rate((Decimal(total) / principal - 1) * 365 * _HUNDRED / days)
    raise PlanError(f"unknown rate basis {per!r} (month or day)")


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInputs:
    today: date                 # business date the options are made on (the agreement date)
    balance: int                # whole outstanding balance, fen
    overdue: int                # past-due amount, fen
    minimum_due: int            # current minimum payment, fen
    affordable: int | None      # affordable monthly amount from the investigation, fen (None: no investigation)
    willingness: int | None     # 1..5 from the investigation (None: unknown)
    cause: str | None           # cause of arrears code from the investigation
    role: str                   # role of the person asking (settlement authority)
    dpd: int = 0

    def check(self) -> None:
        for name in ("balance", "overdue", "minimum_due", "dpd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PlanError(f"{name} must be a whole number >= 0, got {value!r}")
        if self.balance <= 0:
            raise PlanError("there is no balance to plan for")
        if self.overdue > self.balance or self.minimum_due > self.balance:
            raise PlanError("the overdue amount and the minimum due cannot exceed the balance")
        if self.affordable is not None and (not isinstance(self.affordable, int) or self.affordable < 0):
            raise PlanError(f"affordable must be a whole number of fen >= 0, got {self.affordable!r}")
        if self.willingness is not None and self.willingness not in (1, 2, 3, 4, 5):
            raise PlanError(f"willingness must be 1..5, got {self.willingness!r}")
        if self.role not in ROLES:
            raise PlanError(f"unknown role {self.role!r}; roles are {', '.join(ROLES)}")


@dataclass(frozen=True)
class Option:
    """One option side by side with the others.

    ``principal`` is the debt the schedule repays; ``waived`` what is not payable (fees waived, or
    a settlement's discount); ``total`` the sum of the schedule's amounts
    (= principal + fees + interest); ``cost`` = fees + interest. ``annual_rate`` is the disclosed
    nominal rate in percent, None where not applicable (settlement, minimum payment).
    ``reasons`` say in words why the option is not offered; ``reason_codes`` the same for machines.
    """

    code: str
    kind: str
    labels: Mapping[str, str]
    months: int | None
    days: int | None
    schedule: tuple[Instalment, ...]
    principal: int
    fees: int
    interest: int
    waived: int
    total: int
    cost: int
    annual_rate: Decimal | None
    largest_instalment: int
    fits_affordable: bool | None
    offered: bool
    reasons: tuple[str, ...]
    reason_codes: tuple[str, ...]
    needs_approval: bool
    approval_role: str | None
    discount_percent: Decimal | None = None


def _option(
    product: Product,
    inputs: PlanInputs,
    schedule: tuple[Instalment, ...],
    *,
    rate: str | None,
    waived_extra: int = 0,
    months: int | None = None,
    days: int | None = None,
    why: list[tuple[str, str]] = (),  # type: ignore[assignment]
    approval_role: str | None = None,
) -> Option:
    principal = sum(s.principal for s in schedule)
    fees = sum(s.fee for s in schedule)
    interest = sum(s.interest for s in schedule)
    total = sum(s.amount for s in schedule)
    largest = max(s.amount for s in schedule)
    fits = None if inputs.affordable is None else largest <= inputs.affordable
    why = list(why)
    if product.min_balance and inputs.balance < product.min_balance:
        why.append(("balance_too_small", f"the balance {format_yuan(inputs.balance)} is below this product's "
                                         f"minimum of {format_yuan(product.min_balance)}"))
    if inputs.dpd < product.min_dpd:
        why.append(("dpd_too_low", f"offered from {product.min_dpd} days past due; the account is {inputs.dpd}"))
    if product.max_dpd is not None and inputs.dpd > product.max_dpd:
        why.append(("dpd_too_high", f"offered up to {product.max_dpd} days past due; the account is {inputs.dpd}"))
    approver = approval_role or product.approval_role
    return Option(
        code=product.code, kind=product.kind, labels=product.labels, months=months, days=days,
        schedule=schedule, principal=principal, fees=fees, interest=interest,
        waived=sum(s.fee_waived for s in schedule) + waived_extra, total=total, cost=fees + interest,
        annual_rate=annual_rate(principal, schedule, start=inputs.today, per=rate) if rate and principal > 0 else None,
        largest_instalment=largest, fits_affordable=fits, offered=not why,
        reasons=tuple(text for _, text in why), reason_codes=tuple(code for code, _ in why),
        needs_approval=approver is not None, approval_role=approver,
        discount_percent=product.discount_percent if product.kind == "settlement" else None,
    )


def _instalment_schedule(product: Product, principal: int, start: date, months: int) -> tuple[Instalment, ...]:
    return build_schedule(
        principal, start=start, months=months, monthly_fee_rate=product.monthly_fee_rate,
        annual_interest_rate=product.annual_interest_rate, waive_first_periods=product.waive_first_periods,
        waive_fee_percent=product.waive_fee_percent)


def _full(product: Product, inputs: PlanInputs, rules: PlanProducts) -> Option:
    due = inputs.today + timedelta(days=product.pay_within_days)
    return _option(product, inputs, single_payment(inputs.balance, due=due), rate="day", days=product.pay_within_days)


def _minimum(product: Product, inputs: PlanInputs, rules: PlanProducts) -> Option:
    due = inputs.today + timedelta(days=product.pay_within_days)
    why = []
    if inputs.minimum_due == 0:
        why.append(("no_minimum_due", "there is no minimum payment due"))
    elif inputs.minimum_due >= inputs.balance:
        why.append(("minimum_is_balance", "the minimum payment is the whole balance; pay in full instead"))
    return _option(product, inputs, single_payment(inputs.minimum_due, due=due), rate=None,
                   days=product.pay_within_days, why=why)


def _deferral(product: Product, inputs: PlanInputs, rules: PlanProducts) -> Option:
    amount = inputs.overdue if product.base == "overdue" else inputs.balance
    if product.months is not None:
        due = add_months(inputs.today, product.months)
    else:
        due = inputs.today + timedelta(days=product.days or 0)
    days = (due - inputs.today).days
    interest = round_fen(amount * product.daily_interest_rate * days / _HUNDRED)
    why = [] if amount > 0 else [("nothing_overdue", "nothing is overdue to defer")]
    return _option(product, inputs, single_payment(amount, due=due, interest=interest),
                   rate="month" if product.months is not None else "day",
                   months=product.months, days=None if product.months is not None else days, why=why)


def _instalment(product: Product, inputs: PlanInputs, rules: PlanProducts) -> Option:
    months = product.months or MIN_INSTALMENT_MONTHS
    schedule = _instalment_schedule(product, inputs.balance, inputs.today, months)
    return _option(product, inputs, schedule, rate="month", months=months)


def personalised_conditions(product: Product, inputs: PlanInputs) -> list[tuple[str, str]]:
    """Why a personalised instalment agreement may not be made (empty: it may).

    The rule: the debt exceeds what the customer can pay (affordable monthly amount known and below
    the balance), the customer is willing (willingness at or above the product's threshold), and
    the cause of the arrears is recorded.
    """
    why = []
    if inputs.affordable is None:
        why.append(("affordability_unknown", "no investigation: the affordable monthly amount is unknown"))
    elif inputs.affordable >= inputs.balance:
        why.append(("able_to_pay_in_full", "the customer can afford to pay the balance in full"))
    if inputs.willingness is None:
        why.append(("willingness_unknown", "the customer's willingness to pay is not recorded"))
    elif inputs.willingness < product.min_willingness:
        why.append(("not_willing", f"willingness {inputs.willingness} is below the required {product.min_willingness}"))
    if not inputs.cause:
        why.append(("cause_missing", "the cause of the arrears is not recorded"))
    return why


def _personalised(product: Product, inputs: PlanInputs, rules: PlanProducts) -> Option:
    why = personalised_conditions(product, inputs)
    months = product.max_months
    schedule = None
    if inputs.affordable:
        # No term shorter than balance / affordable can fit: every instalment carries at least
        # its principal share, so scan upward from there.
        first = max(product.min_months, -(-inputs.balance // inputs.affordable))
        for m in range(first, product.max_months + 1):
            candidate = _instalment_schedule(product, inputs.balance, inputs.today, m)
            if max(s.amount for s in candidate) <= inputs.affordable:
                months, schedule = m, candidate
                break
    if schedule is None:
        schedule = _instalment_schedule(product, inputs.balance, inputs.today, months)
    return _option(product, inputs, schedule, rate="month", months=months, why=why)


def _settlement(product: Product, inputs: PlanInputs, rules: PlanProducts) -> Option:
    percent = product.discount_percent
    discount = round_fen(inputs.balance * percent / _HUNDRED)
    payable = inputs.balance - discount
    if product.instalments > 1:
        schedule = build_schedule(payable, start=inputs.today, months=product.instalments)
        months, days = product.instalments, None
    else:
        schedule = single_payment(payable, due=inputs.today + timedelta(days=product.pay_within_days))
        months, days = None, product.pay_within_days
    why = []
    min_dpd = max(rules.settlement.min_dpd, product.min_dpd)
    if inputs.dpd < min_dpd:
        why.append(("settlement_too_early", f"settlement is offered from {min_dpd} days past due; "
                                            f"the account is {inputs.dpd}"))
    approver = None
    if percent > rules.settlement.limit(inputs.role):
        approver = rules.settlement.approver(percent)
    return _option(product, inputs, schedule, rate=None, waived_extra=discount, months=months, days=days,
                   why=why, approval_role=approver)


_BUILDERS = {
    "full": _full, "minimum": _minimum, "deferral": _deferral, "instalment": _instalment,
    "personalised": _personalised, "settlement": _settlement,
}


def generate_options(inputs: PlanInputs, products: PlanProducts) -> list[Option]:
    """Every configured product as an option for this account, in the file's order.

    Options that are not offered are still built, so the agent sees the figures and the reasons.
    """
    inputs.check()
    return [_BUILDERS[p.kind](p, inputs, products) for p in products.products]


# -- monitoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstalmentState:
    number: int
    due_date: date
    amount: int
    paid: int
    paid_on: date | None        # value date of the payment that paid it in full
    status: str                 # one of INSTALMENT_STATUSES

    @property
    def outstanding(self) -> int:
        return self.amount - self.paid


def allocate(
    schedule: Sequence[Instalment], payments: Iterable[tuple[date, int]], *, as_of: date, grace_days: int
) -> tuple[InstalmentState, ...]:
    """Apply ``payments`` ``(value_date, fen)`` with value dates up to ``as_of`` to the schedule,
    in value-date order, each to the oldest instalment not yet paid in full. Money beyond the
    schedule's total is left unallocated (the caller credits it to the account)."""
    if grace_days < 0:
        raise PlanError("grace days must be >= 0")
    owed = [s.amount for s in schedule]
    paid = [0] * len(schedule)
    paid_on: list[date | None] = [None] * len(schedule)
    k = 0
    for value_date, fen in sorted(payments, key=lambda p: p[0]):
        if fen < 0:
            raise PlanError(f"a payment cannot be negative ({fen} on {value_date})")
        if value_date > as_of:
            break
        left = fen
        while left and k < len(owed):
            take = min(left, owed[k] - paid[k])
            paid[k] += take
            left -= take
            if paid[k] == owed[k]:
                paid_on[k] = value_date
                k += 1
    states = []
    for s, p, on in zip(schedule, paid, paid_on):
        limit = s.due_date + timedelta(days=grace_days)
        if s.amount == 0:  # nothing to pay: settled on its due date
            on = s.due_date if s.due_date <= as_of else None
        if on is not None:
            status = "kept" if on <= limit else "late"
        elif as_of > limit:
            status = "missed"
        else:
            status = "part_paid" if p else "pending"
        states.append(InstalmentState(s.number, s.due_date, s.amount, p, on, status))
    return tuple(states)


@dataclass(frozen=True)
class PlanJudgement:
    status: str                 # one of PLAN_STATUSES
    missed: int                 # instalments missed now (past grace, not paid in full)
    late: int                   # instalments paid in full after the grace
    kept: int
    paid: int                   # fen allocated to the plan
    outstanding: int            # fen still to pay
    completed_on: date | None


def plan_status(states: Sequence[InstalmentState], *, max_misses: int) -> PlanJudgement:
    """completed when all is paid; broken when ``max_misses`` or more are missed now; else active."""
    if max_misses < 1:
        raise PlanError("max_misses must be >= 1")
    counts = {s: 0 for s in INSTALMENT_STATUSES}
    for st in states:
        counts[st.status] += 1
    paid = sum(st.paid for st in states)
    outstanding = sum(st.outstanding for st in states)
    if states and all(st.status in ("kept", "late") for st in states):
        done = max(st.paid_on for st in states if st.paid_on is not None)
        status, completed_on = "completed", done
    else:
        status = "broken" if counts["missed"] >= max_misses else "active"
        completed_on = None
    return PlanJudgement(status, counts["missed"], counts["late"], counts["kept"], paid, outstanding, completed_on)


def reminder_dates(
    schedule: Sequence[Instalment], days_before: int, *, not_before: date | None = None
) -> tuple[tuple[int, date], ...]:
    """``(instalment number, reminder date)`` for each instalment, ``days_before`` its due date;
    reminders that would fall before ``not_before`` (e.g. the agreement date) are left out."""
    if days_before < 0:
        raise PlanError("days_before must be >= 0")
    out = []
    for s in schedule:
        on = s.due_date - timedelta(days=days_before)
        if not_before is None or on >= not_before:
            out.append((s.number, on))
    return tuple(out)


def reminders_due(states: Sequence[InstalmentState], *, on: date, days_before: int) -> tuple[int, ...]:
    """Instalments to remind the customer about on ``on``: not yet paid in full, due in ``days_before`` days."""
    return tuple(s.number for s in states
                 if s.status in ("pending", "part_paid") and s.due_date - timedelta(days=days_before) == on)


@dataclass(frozen=True)
class ReageDecision:
    reage: bool
    on: date | None             # the date the account is re-aged to current (DPD 0)
    reason: str


def reage_decision(
    states: Sequence[InstalmentState], *, rules: ReageRules, last_reaged_on: date | None
) -> ReageDecision:
    """The re-ageing rule for a completed plan (see the module notes)."""
    if not states or any(st.paid_on is None for st in states):
        return ReageDecision(False, None, "the plan is not completed")
    on = max(st.paid_on for st in states if st.paid_on is not None)
    kept = sum(1 for st in states if st.status == "kept")
    needed = min(rules.min_kept, len(states))
    if kept < needed:
        return ReageDecision(False, None, f"only {kept} instalments were kept on time; {needed} needed")
    if last_reaged_on is not None and add_months(last_reaged_on, rules.once_in_months) > on:
        return ReageDecision(False, None, f"the account was re-aged on {last_reaged_on.isoformat()}, "
                                          f"less than {rules.once_in_months} months before")
    return ReageDecision(True, on, "plan completed: the account is re-aged to current")


# -- four-eyes approval -------------------------------------------------------------------------

#: Who outranks whom for approving an agreement. Admin and auditor approve nothing: administering
#: the system or auditing it gives no authority over a customer's debt.
APPROVAL_RANK: Mapping[str, int] = {"agent": 1, "team_lead": 2, "supervisor": 3, "compliance": 4}


def approval_refusal(
    role: str, *, approval_role: str | None, discount_percent: Decimal | None, settlement: SettlementRules
) -> str | None:
    """Why ``role`` may not approve an agreement that needs ``approval_role`` (None: it may).

    The approver's rank must reach ``approval_role``'s, and for a settlement the approver's own
    limit must cover the discount (or the approver is the senior approver). That the approver is
    not the agreement's author is checked by the caller (four-eyes)."""
    rank = APPROVAL_RANK.get(role)
    if rank is None:
        return f"role {role} approves no agreement"
    if approval_role is not None and rank < APPROVAL_RANK.get(approval_role, 99):
        return f"this agreement needs a {approval_role} or above to approve it; the approver is a {role}"
    if discount_percent is not None and discount_percent > 0 and role != settlement.senior_approver \
            and settlement.limit(role) < discount_percent:
        return (f"a {role} may agree a discount up to {settlement.limit(role)}%; this one is "
                f"{discount_percent}%")
    return None
