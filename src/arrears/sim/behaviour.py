"""Synthetic customers in arrears and how they behave: the population the simulator runs a strategy on.

Pure domain core: numpy arrays, one row per account, everything drawn from one seeded ``Generator``
so that the same seed gives the same population. Money is integer fen.

Each customer has

- a contact-hour pattern and a TRUE probability of answering a call in every hour of the week,
  customer-local (:func:`arrears.sim.contactability.simulate_customers`: office workers busy on weekday
  daytime and reachable evenings and weekends, people at home, late people), and a time zone;
- channel responsiveness: the chance of reading an SMS, an e-mail or a letter, and of acting on one
  that was read (paying the past-due amount);
- a balance, a credit limit, the minimum due of each statement cycle, days past due (DPD) and the
  past-due amount that goes with it (one unpaid minimum per cycle);
- a monthly income and an affordable monthly amount (what they can pay a month);
- willingness to pay (1..5, the investigation's scale) and the probability of keeping a promise or an
  instalment that follows from it;
- a daily self-cure probability (paying without being asked), lower the longer they are behind;
- sometimes a hold (dispute, complaint, hardship, bankruptcy, deceased) that stops all contact.

:func:`synthetic_customers` draws a population; :func:`from_rows` builds one by hand (tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from arrears.contact.besttime import SLOTS
from arrears.sim.contactability import PATTERNS, TYPES, simulate_customers

#: DPD ranges the contactability buckets (M1..M4) are drawn from.
DPD_RANGES = {"M1": (1, 30), "M2": (31, 60), "M3": (61, 90), "M4": (91, 120)}
#: Days in one statement cycle: every cycle still unpaid adds one minimum to the past-due amount.
CYCLE_DAYS = 30
#: Hold kinds and their share of the population (the rest has none).
HOLD_SHARES = (("dispute", 0.008), ("complaint", 0.004), ("hardship", 0.010), ("bankruptcy", 0.002),
               ("deceased", 0.001))
#: Chance of reading a message, by channel and customer type (office, home, late).
READ_P = {"sms": (0.55, 0.65, 0.50), "email": (0.35, 0.20, 0.30), "letter": (0.40, 0.60, 0.30)}
REGIONS = ("11", "31", "32", "33", "44", "51", "37", "42")


@dataclass(frozen=True)
class Customers:
    """A population of customers in arrears, one row per account (numpy arrays of equal length)."""

    account_id: np.ndarray      # int64, 1..n
    ctype: np.ndarray           # str: office | home | late
    time_zone: np.ndarray       # str: IANA zone
    #: TRUE probability of answering a call, per customer-local hour of the week, (n, 168)
    answer_p: np.ndarray
    credit_limit: np.ndarray    # int64 fen
    balance: np.ndarray         # int64 fen, > 0
    minimum_due: np.ndarray     # int64 fen: the minimum of one statement cycle
    dpd: np.ndarray             # int64 days past due at the start
    amount_past_due: np.ndarray  # int64 fen at the start (<= balance)
    income: np.ndarray          # int64 fen a month
    affordable: np.ndarray      # int64 fen a month the customer can pay
    sms_read_p: np.ndarray      # float
    email_read_p: np.ndarray    # float
    letter_read_p: np.ndarray   # float
    respond_p: np.ndarray       # float: pays the past due after reading a message (if affordable)
    willingness: np.ndarray     # int64 1..5
    keep_p: np.ndarray          # float: keeps a promise / pays an instalment
    self_cure_p: np.ndarray     # float: daily chance of paying unasked, at DPD 0 (decays with DPD)
    hold_kind: np.ndarray       # object: None or a hold kind
    months_on_book: np.ndarray  # int64
    region_code: np.ndarray     # str

    def __post_init__(self) -> None:
        n = len(self.account_id)
        for f in fields(self):
            value = getattr(self, f.name)
            if len(value) != n:
                raise ValueError(f"customers: {f.name} has {len(value)} rows, account_id has {n}")
        if self.answer_p.shape != (n, SLOTS):
            raise ValueError(f"customers: answer_p must be (n, {SLOTS})")
        for name in ("credit_limit", "balance", "minimum_due", "dpd", "amount_past_due", "income", "affordable"):
            arr = getattr(self, name)
            if arr.dtype.kind != "i":
                raise ValueError(f"customers: {name} must be whole numbers (fen or days)")
            if (arr < 0).any():
                raise ValueError(f"customers: {name} cannot be negative")
        if (self.balance <= 0).any():
            raise ValueError("customers: every account needs a balance > 0")
        if (self.amount_past_due > self.balance).any():
            raise ValueError("customers: the past-due amount cannot exceed the balance")
        if (self.minimum_due <= 0).any():
            raise ValueError("customers: minimum_due must be > 0")

    def __len__(self) -> int:
        return len(self.account_id)

    @property
    def account_ref(self) -> list[str]:
        return [account_ref(int(i)) for i in self.account_id]


def account_ref(account_id: int) -> str:
    """The simulated bank account number of an account id."""
    return f"SIM{account_id:08d}"


def past_due_for(dpd: np.ndarray, minimum_due: np.ndarray, balance: np.ndarray) -> np.ndarray:
    """One unpaid minimum per started statement cycle behind, at most the balance."""
    cycles = -(-np.asarray(dpd, dtype=np.int64) // CYCLE_DAYS)
    return np.minimum(cycles * minimum_due, balance).astype(np.int64)


def synthetic_customers(n: int, *, seed: int = 1, first_id: int = 1,
                        dpd_range: tuple[int, int] | None = None) -> Customers:
    """``n`` customers in arrears, drawn from ``seed`` (same seed, same customers).

    Contact patterns, zones and starting buckets (M1..M4) come from the contactability model; DPD is
    uniform within the bucket (or within ``dpd_range`` when given)."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = np.random.default_rng(seed)
    contact = simulate_customers(n, seed=int(rng.integers(2**31)), first_id=first_id)
    type_index = np.array([TYPES.index(t) for t in contact.types], dtype=np.int64) if n else np.zeros(0, np.int64)
    if dpd_range is None:
        lo = np.array([DPD_RANGES[b][0] for b in contact.buckets], dtype=np.int64)
        hi = np.array([DPD_RANGES[b][1] for b in contact.buckets], dtype=np.int64)
    else:
        lo = np.full(n, dpd_range[0], dtype=np.int64)
        hi = np.full(n, dpd_range[1], dtype=np.int64)
    dpd = rng.integers(lo, hi + 1) if n else np.zeros(0, np.int64)
    balance = np.maximum(rng.lognormal(np.log(1_500_000), 0.9, size=n).round().astype(np.int64), 20_000)
    utilisation = rng.uniform(0.55, 1.05, size=n)
    credit_limit = (np.ceil(balance / utilisation / 100_000) * 100_000).astype(np.int64)
    minimum_due = np.maximum(balance // 10, 10_000).astype(np.int64)
    minimum_due = np.minimum(minimum_due, balance)
    past_due = past_due_for(dpd, minimum_due, balance)
    income = (rng.lognormal(np.log(800_000), 0.55, size=n).round() // 100 * 100).astype(np.int64)
    share = rng.beta(2.0, 8.0, size=n)  # mean 20 % of income can go to this debt
    affordable = (income * share // 100 * 100).astype(np.int64)
    willingness = rng.choice(np.arange(1, 6), size=n, p=(0.08, 0.17, 0.30, 0.30, 0.15)).astype(np.int64)
    keep_p = np.clip(0.15 + 0.15 * willingness + rng.normal(0, 0.08, size=n), 0.05, 0.97)
    respond_p = np.clip(0.02 + 0.03 * willingness + rng.normal(0, 0.02, size=n), 0.0, 0.5)
    self_cure_p = np.clip(rng.lognormal(np.log(0.004), 0.6, size=n) * (willingness / 3), 0.0, 0.05)
    read = {ch: np.array(v)[type_index] * rng.uniform(0.7, 1.2, size=n) for ch, v in READ_P.items()}
    kinds = np.array([None, *(k for k, _ in HOLD_SHARES)], dtype=object)
    shares = [1 - sum(s for _, s in HOLD_SHARES), *(s for _, s in HOLD_SHARES)]
    hold_kind = kinds[rng.choice(len(kinds), size=n, p=shares)] if n else np.zeros(0, object)
    return Customers(
        account_id=contact.customer_ids.astype(np.int64), ctype=contact.types.astype(str),
        time_zone=contact.time_zones.astype(str), answer_p=contact.true_p,
        credit_limit=credit_limit, balance=balance, minimum_due=minimum_due, dpd=dpd.astype(np.int64),
        amount_past_due=past_due, income=income, affordable=affordable,
        sms_read_p=np.clip(read["sms"], 0, 1), email_read_p=np.clip(read["email"], 0, 1),
        letter_read_p=np.clip(read["letter"], 0, 1), respond_p=respond_p, willingness=willingness, keep_p=keep_p,
        self_cure_p=self_cure_p, hold_kind=hold_kind,
        months_on_book=rng.integers(6, 121, size=n).astype(np.int64),
        region_code=np.array(REGIONS)[rng.integers(len(REGIONS), size=n)] if n else np.zeros(0, str),
    )


#: Defaults of :func:`from_rows` for fields a row leaves out.
ROW_DEFAULTS: Mapping[str, Any] = {
    "ctype": "office", "time_zone": "Asia/Shanghai", "credit_limit": None, "minimum_due": None,
    "amount_past_due": None, "income": 800_000, "affordable": 200_000, "sms_read_p": 0.0, "email_read_p": 0.0,
    "letter_read_p": 0.0, "respond_p": 0.0, "willingness": 3, "keep_p": 0.0, "self_cure_p": 0.0,
    "hold_kind": None, "months_on_book": 24, "region_code": "44", "answer_p": None,
}


def from_rows(rows: Sequence[Mapping[str, Any]], *, first_id: int = 1) -> Customers:
    """A hand-made population (tests, examples): each row needs ``balance`` and ``dpd``; the rest
    defaults to a customer who never reads, never pays unasked and answers as the type's pattern
    (``answer_p`` may be a number for every hour or a 168-long sequence)."""
    n = len(rows)
    cols: dict[str, list[Any]] = {k: [] for k in (*ROW_DEFAULTS, "balance", "dpd")}
    for r in rows:
        unknown = set(r) - set(cols)
        if unknown:
            raise ValueError(f"unknown customer field(s): {', '.join(sorted(unknown))}")
        for k in cols:
            cols[k].append(r.get(k, ROW_DEFAULTS.get(k)))
    balance = np.array(cols["balance"], dtype=np.int64)
    dpd = np.array(cols["dpd"], dtype=np.int64)
    minimum_due = np.array([m if m is not None else max(min(b // 10, b), min(10_000, b))
                            for m, b in zip(cols["minimum_due"], balance)], dtype=np.int64)
    past_due = past_due_for(dpd, minimum_due, balance)
    past_due = np.array([p if p is not None else d for p, d in zip(cols["amount_past_due"], past_due)], np.int64)
    limit = np.array([c if c is not None else max(int(b), 1) for c, b in zip(cols["credit_limit"], balance)],
                     dtype=np.int64)
    answer = np.zeros((n, SLOTS))
    for i, (p, t) in enumerate(zip(cols["answer_p"], cols["ctype"])):
        answer[i] = PATTERNS[t] if p is None else (np.full(SLOTS, float(p)) if np.isscalar(p) else np.asarray(p))

    def f(name: str) -> np.ndarray:
        return np.array(cols[name], dtype=float)

    def i(name: str) -> np.ndarray:
        return np.array(cols[name], dtype=np.int64)

    return Customers(
        account_id=np.arange(first_id, first_id + n, dtype=np.int64), ctype=np.array(cols["ctype"], dtype=str),
        time_zone=np.array(cols["time_zone"], dtype=str), answer_p=answer, credit_limit=limit, balance=balance,
        minimum_due=minimum_due, dpd=dpd, amount_past_due=past_due, income=i("income"), affordable=i("affordable"),
        sms_read_p=f("sms_read_p"), email_read_p=f("email_read_p"), letter_read_p=f("letter_read_p"),
        respond_p=f("respond_p"), willingness=i("willingness"), keep_p=f("keep_p"), self_cure_p=f("self_cure_p"),
        hold_kind=np.array(cols["hold_kind"], dtype=object), months_on_book=i("months_on_book"),
        region_code=np.array(cols["region_code"], dtype=str),
    )
