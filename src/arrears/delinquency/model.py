"""Delinquency ageing for card accounts: the pure reference implementation.

No I/O, no database. ``assess`` walks one account's statements and payments in date order and
allocates every payment to the oldest unpaid minimum first, exactly as the rules are written. It is
deliberately the plain sequential simulation (not the closed form the vectorised engine uses), so
that it can serve as an independent oracle for :mod:`arrears.delinquency.engine`.

All amounts are integer fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from os import PathLike

CYCLE_SLOTS = 7
"""``past_due_by_cycle`` has 6 single cycles and a last slot for cycle 7 and older."""


def _check_int(value: object, name: str) -> None:
    # bool is an int subclass; a True minimum is a bug, not one fen
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer amount in fen, got {value!r}")


@dataclass(frozen=True, slots=True)
class Statement:
    """A printed statement. ``minimum_due`` includes ``past_due_included`` (the carried-over part)."""

    statement_date: date
    due_date: date
    minimum_due: int
    past_due_included: int = 0

    def __post_init__(self) -> None:
        _check_int(self.minimum_due, "minimum_due")
        _check_int(self.past_due_included, "past_due_included")
        if self.due_date <= self.statement_date:
            raise ValueError(
                f"due_date {self.due_date} must be after statement_date {self.statement_date}"
            )
        if self.minimum_due < 0:
            raise ValueError(f"minimum_due must be >= 0, got {self.minimum_due}")
        if self.past_due_included < 0:
            raise ValueError(f"past_due_included must be >= 0, got {self.past_due_included}")
        if self.past_due_included > self.minimum_due:
            raise ValueError(
                f"past_due_included {self.past_due_included} exceeds minimum_due {self.minimum_due}"
            )

    @property
    def own_minimum(self) -> int:
        """The minimum this statement adds; the carried-over part is tracked by the engine itself."""
        return self.minimum_due - self.past_due_included


@dataclass(frozen=True, slots=True)
class Payment:
    value_date: date
    amount: int

    def __post_init__(self) -> None:
        _check_int(self.amount, "amount")
        if self.amount < 0:
            raise ValueError(f"payment amount must be >= 0, got {self.amount}")


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold on the account; ``end_date`` is inclusive, ``None`` means still running."""

    start_date: date
    end_date: date | None
    pauses_ageing: bool

    def __post_init__(self) -> None:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"hold end_date {self.end_date} is before start_date {self.start_date}")


@dataclass(frozen=True, slots=True)
class Bucket:
    """A delinquency bucket covering ``min_dpd``..``max_dpd`` inclusive (``None`` = no upper end)."""

    name: str
    min_dpd: int
    max_dpd: int | None

    def contains(self, dpd: int) -> bool:
        return dpd >= self.min_dpd and (self.max_dpd is None or dpd <= self.max_dpd)


DEFAULT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("M0", 0, 0),
    ("M1", 1, 30),
    ("M2", 31, 60),
    ("M3", 61, 90),
    ("M4", 91, 120),
    ("M5", 121, 150),
    ("M6", 151, 180),
    ("M7+", 181, None),
)


@dataclass(frozen=True, slots=True)
class BucketTable:
    """Ordered, contiguous buckets starting at DPD 0; the last one is open-ended."""

    buckets: tuple[Bucket, ...]

    def __post_init__(self) -> None:
        problem = bucket_table_problem(self.buckets)
        if problem is not None:
            raise ValueError(problem[1])

    def lookup(self, dpd: int) -> str:
        if dpd < 0:
            raise ValueError(f"DPD cannot be negative, got {dpd}")
        for bucket in self.buckets:
            if bucket.contains(dpd):
                return bucket.name
        raise AssertionError("unreachable: a validated table covers every DPD")  # pragma: no cover

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.buckets)

    @classmethod
    def default(cls) -> BucketTable:
        return cls(tuple(Bucket(n, lo, hi) for n, lo, hi in DEFAULT_BUCKETS))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> BucketTable:
        """The bucket table of a rules YAML file (see :func:`arrears.delinquency.config.load_rules`)."""
        from arrears.delinquency.config import load_rules  # the YAML loader stays out of the pure core

        return load_rules(path).buckets


def bucket_table_problem(buckets: Sequence[Bucket]) -> tuple[int, str] | None:
    """First structural problem of an ordered bucket list as (index, message), or None.

    Shared by the dataclass and the YAML loader so both reject exactly the same tables.
    """
    if not buckets:
        return 0, "the bucket table is empty; a bucket starting at DPD 0 is required"
    seen: set[str] = set()
    for i, b in enumerate(buckets):
        if not isinstance(b.name, str) or not b.name.strip():
            return i, "bucket name must be a non-empty text"
        if b.name in seen:
            return i, f"duplicate bucket name {b.name!r}"
        seen.add(b.name)
        if b.max_dpd is not None and b.max_dpd < b.min_dpd:
            return i, f"inverted range: max_dpd {b.max_dpd} is below min_dpd {b.min_dpd}"
        if i == 0:
            if b.min_dpd != 0:
                return i, f"the first bucket must start at DPD 0, got min_dpd {b.min_dpd}"
            continue
        prev = buckets[i - 1]
        if prev.max_dpd is None:
            return i, f"bucket {b.name!r} overlaps open-ended bucket {prev.name!r}"
        if b.min_dpd <= prev.max_dpd:
            return i, (
                f"bucket {b.name!r} overlaps {prev.name!r}: min_dpd {b.min_dpd} "
                f"is not above {prev.name!r} max_dpd {prev.max_dpd}"
            )
        if b.min_dpd > prev.max_dpd + 1:
            return i, (
                f"gap before bucket {b.name!r}: DPD {prev.max_dpd + 1}..{b.min_dpd - 1} "
                "is in no bucket"
            )
    if buckets[-1].max_dpd is not None:
        return len(buckets) - 1, (
            f"the last bucket {buckets[-1].name!r} must be open-ended (no max_dpd), "
            f"otherwise DPD above {buckets[-1].max_dpd} is in no bucket"
        )
    return None


@dataclass(frozen=True, slots=True)
class DelinquencyRules:
    tolerance: int = 1000
    grace_days: int = 3
    charge_off_dpd: int = 180
    buckets: BucketTable = field(default_factory=BucketTable.default)

    def __post_init__(self) -> None:
        for name in ("tolerance", "grace_days", "charge_off_dpd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


@dataclass(frozen=True, slots=True)
class DelinquencyState:
    dpd: int
    delinquent: bool
    bucket: str
    cycles_delinquent: int
    amount_past_due: int
    past_due_by_cycle: tuple[int, ...]
    charge_off: bool
    oldest_unpaid_due_date: date | None


def paused_days(holds: Iterable[Hold], after: date, through: date) -> int:
    """Days in ``(after, through]`` covered by at least one hold that pauses ageing."""
    days: set[date] = set()
    for h in holds:
        if not h.pauses_ageing:
            continue
        first = max(h.start_date, after + timedelta(days=1))
        last = through if h.end_date is None else min(h.end_date, through)
        d = first
        while d <= last:
            days.add(d)
            d += timedelta(days=1)
    return len(days)


def assess(
    statements: Iterable[Statement],
    payments: Iterable[Payment],
    holds: Iterable[Hold],
    *,
    as_of: date,
    rules: DelinquencyRules,
) -> DelinquencyState:
    """Delinquency of one account at the end of business date ``as_of``."""
    all_statements = sorted(statements, key=lambda s: s.statement_date)
    for a, b in zip(all_statements, all_statements[1:]):
        if a.statement_date == b.statement_date:
            raise ValueError(f"two statements dated {a.statement_date} on one account")
    issued = [s for s in all_statements if s.statement_date <= as_of]
    paid = [p for p in payments if p.value_date <= as_of]

    # Events in date order; on one day payments come first, because a payment dated on the
    # statement date is already inside that statement's balance and cannot pay it.
    events: list[tuple[date, int, Statement | Payment]] = [(p.value_date, 0, p) for p in paid]
    events += [(s.statement_date, 1, s) for s in issued]
    events.sort(key=lambda e: (e[0], e[1]))

    unpaid: list[int] = []  # per issued statement, in statement order
    for _, kind, item in events:
        if kind == 1:
            assert isinstance(item, Statement)
            unpaid.append(item.own_minimum)
            continue
        assert isinstance(item, Payment)
        left = item.amount
        for i, owed in enumerate(unpaid):  # oldest statement first
            if left == 0:
                break
            take = min(owed, left)
            unpaid[i] = owed - take
            left -= take
        # anything left over is not a credit against future minimums

    past_due = [i for i, s in enumerate(issued) if s.due_date < as_of]
    unsatisfied = [i for i in past_due if unpaid[i] > rules.tolerance]

    oldest_due = issued[unsatisfied[0]].due_date if unsatisfied else None
    if oldest_due is None:
        dpd = 0
    else:
        dpd = (as_of - oldest_due).days - paused_days(holds, oldest_due, as_of)

    by_cycle = [0] * CYCLE_SLOTS
    for rank, i in enumerate(reversed(past_due)):  # rank 0 = newest past-due statement
        by_cycle[min(rank, CYCLE_SLOTS - 1)] += unpaid[i]

    delinquent = dpd > rules.grace_days
    return DelinquencyState(
        dpd=dpd,
        delinquent=delinquent,
        bucket=rules.buckets.lookup(dpd if delinquent else 0),
        cycles_delinquent=len(unsatisfied),
        amount_past_due=sum(unpaid[i] for i in past_due),
        past_due_by_cycle=tuple(by_cycle),
        charge_off=dpd >= rules.charge_off_dpd,
        oldest_unpaid_due_date=oldest_due,
    )
