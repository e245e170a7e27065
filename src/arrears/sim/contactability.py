"""Synthetic contactability: customers who each have a TRUE probability of answering in every hour of
the week, and a call history drawn from it, so that the best-time model can be learned from data whose
truth is known and a contact plan judged against the true probabilities (``bench/bench_contact_plan.py``).

Each customer has a type (office worker: busy on weekday daytime, reachable evenings and weekends;
at home: reachable in the daytime too; late: best late evening), an overall reachability factor, a
couple of personal "good hours", per-hour noise and a bucket effect (later buckets answer less).
Age band goes with the type, so the segment (bucket x age band) carries information, as in life.
Slots are customer-local hours of the week (Monday 00:00 = 0); quiet hours (22:00–08:00) are 0.

The history is what the bank's old habit produced: most calls on weekday office hours, a few in the
evening and at weekends; each call answered with the customer's true probability for its hour.
Everything depends only on the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arrears.contact.besttime import SLOTS, SlotCounts, quiet_mask

TYPES = ("office", "home", "late")
TYPE_SHARES = (0.6, 0.25, 0.15)
#: age bands by type (shares of <30, 30-44, 45-59, 60+)
AGE_BY_TYPE = {"office": (0.35, 0.45, 0.18, 0.02), "home": (0.05, 0.15, 0.35, 0.45), "late": (0.6, 0.3, 0.08, 0.02)}
AGE_LABELS = ("<30", "30-44", "45-59", "60+")
BUCKETS = ("M1", "M2", "M3", "M4")
BUCKET_SHARES = (0.5, 0.25, 0.15, 0.1)
DEFAULT_ZONES = (("Asia/Shanghai", 0.92), ("Asia/Urumqi", 0.08))


def _pattern(kind: str) -> np.ndarray:
    m = np.zeros(SLOTS)
    for s in range(SLOTS):
        d, h = divmod(s, 24)
        weekend = d >= 5
        if kind == "office":
            v = (0.40 if 9 <= h < 18 else 0.20 if h == 8 else 0.35) if weekend else \
                (0.15 if h in (8, 12) else 0.06 if 9 <= h < 17 else 0.22 if h == 17 else 0.45 if h < 21 else 0.30)
        elif kind == "home":
            v = (0.30 if h < 18 else 0.25) if weekend else (0.20 if h == 8 else 0.40 if h < 18 else 0.28)
        else:  # late
            v = (0.20 if h < 18 else 0.45) if weekend else (0.05 if h < 12 else 0.10 if h < 18 else 0.20 if h < 20 else 0.50)
        m[s] = v
    return np.where(quiet_mask(), m, 0.0)


PATTERNS = {k: _pattern(k) for k in TYPES}


@dataclass(frozen=True)
class SimCustomers:
    customer_ids: np.ndarray
    types: np.ndarray
    time_zones: np.ndarray
    buckets: np.ndarray
    age_bands: np.ndarray
    #: TRUE RPC probability per customer-local slot, (n, 168)
    true_p: np.ndarray

    @property
    def segments(self) -> np.ndarray:
        return np.char.add(np.char.add(self.buckets.astype(str), "|"), self.age_bands.astype(str))


def simulate_customers(n: int, *, seed: int = 20260310, zones: tuple[tuple[str, float], ...] = DEFAULT_ZONES,
                       first_id: int = 1) -> SimCustomers:
    rng = np.random.default_rng(seed)
    types = rng.choice(len(TYPES), size=n, p=TYPE_SHARES)
    ages = np.empty(n, dtype=np.int64)
    for t, name in enumerate(TYPES):
        rows = np.flatnonzero(types == t)
        ages[rows] = rng.choice(4, size=len(rows), p=AGE_BY_TYPE[name])
    bucket = rng.choice(len(BUCKETS), size=n, p=BUCKET_SHARES)
    zone_names = np.array([z for z, _ in zones], dtype=object)
    zone = zone_names[rng.choice(len(zones), size=n, p=[w for _, w in zones])]
    base = np.stack([PATTERNS[k] for k in TYPES])[types]
    reach = rng.lognormal(0.0, 0.45, size=(n, 1)) * (0.85 ** bucket)[:, None]
    noise = rng.lognormal(0.0, 0.3, size=(n, SLOTS))
    favourite = np.ones((n, SLOTS))
    allowed = np.flatnonzero(quiet_mask())
    for k in range(2):  # two personal good hours (same hour every day of that kind of day)
        hour = rng.integers(8, 22, size=n)
        weekend = rng.random(n) < 0.4 if k else np.zeros(n, dtype=bool)
        for d in range(7):
            cols = d * 24 + hour
            hit = (d >= 5) == weekend
            favourite[np.flatnonzero(hit), cols[hit]] *= 1.8
    p = np.clip(base * reach * noise * favourite, 0.005, 0.9)
    p[:, np.setdiff1d(np.arange(SLOTS), allowed)] = 0.0
    return SimCustomers(customer_ids=np.arange(first_id, first_id + n, dtype=np.int64), types=np.array(TYPES)[types],
                        time_zones=zone, buckets=np.array(BUCKETS)[bucket], age_bands=np.array(AGE_LABELS)[ages],
                        true_p=p)


def dialing_habit(weekday_office: float = 0.70, weekday_evening: float = 0.20, weekend: float = 0.10) -> np.ndarray:
    """The bank's historical calling distribution over local slots (sums to 1)."""
    w = np.zeros(SLOTS)
    for s in range(SLOTS):
        d, h = divmod(s, 24)
        if d < 5 and 9 <= h < 18:
            w[s] = weekday_office / (5 * 9)
        elif d < 5 and 18 <= h < 21:
            w[s] = weekday_evening / (5 * 3)
        elif d >= 5 and 9 <= h < 18:
            w[s] = weekend / (2 * 9)
    return w / w.sum()


def simulate_history(customers: SimCustomers, *, weeks: int = 12, calls_per_week: float = 2.0, seed: int = 7,
                     habit: np.ndarray | None = None) -> SlotCounts:
    """Calls and RPCs per customer and slot over ``weeks`` of the bank's habitual dialing."""
    rng = np.random.default_rng(seed)
    habit = dialing_habit() if habit is None else habit
    n = len(customers.customer_ids)
    per_customer = rng.poisson(weeks * calls_per_week, size=n)
    attempts = np.stack([rng.multinomial(k, habit) for k in per_customer]) if n else np.zeros((0, SLOTS), np.int64)
    rpc = rng.binomial(attempts, customers.true_p)
    return SlotCounts(customers.customer_ids, attempts.astype(np.int32), rpc.astype(np.int32))
