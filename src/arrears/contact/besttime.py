"""Best time to contact: right-party-contact (RPC) probability per customer per hour of the week.

Pure domain core (numpy, no database). See ``docs/contact-timing.md`` for the formulas.

Slots. An hour of the week in the CUSTOMER's local time: ``slot = weekday * 24 + hour`` with Monday = 0,
so 168 slots; Saturday 10:00–11:00 is slot 130. Interactions are stored in UTC and put into slots on the
customer's wall clock (:func:`slot_of`, :func:`local_slots`), so daylight-saving changes and customers in
another zone than the bank are handled by construction.

Model: a hierarchical Beta-binomial, customer ← segment ← portfolio, one Beta per slot.

- Portfolio: the default prior shape ``m0[s]`` (:class:`PriorShape`: weekday daytime reaches fewer people
  than evenings and weekends) with pseudo-count ``N0``, updated by every outbound call in the history:
  ``mu_p[s] = (m0[s] N0 + RPC[s]) / (N0 + n[s])``.
- Segment (e.g. bucket x age band, :func:`segment_key`): ``mu_g[s] = (mu_p[s] K + RPC_g[s]) / (K + n_g[s])``
  with a fixed pseudo-count ``K`` (``SEGMENT_STRENGTH``).
- Customer: ``Beta(alpha_g + rpc, beta_g + attempts - rpc)`` with ``alpha_g = mu_g kappa_g`` and
  ``beta_g = (1 - mu_g) kappa_g``; the strength ``kappa_g`` of a segment is estimated by the method of
  moments from how much its customers differ from each other (:func:`moment_strength`), clipped, with a
  fixed default when the segment has too little data.

Quiet hours (the compliance pack's ``quiet_hours``, default 22:00–08:00) get no probability mass at all:
their mean, samples and prior are 0, so they are never proposed. Planning uses the posterior mean;
exploration uses Thompson sampling (one draw from each customer's posterior per slot, seeded numpy
``Generator``). An appointment the customer asked for overrides the model: its slots are treated as the
highest probability (``APPOINTMENT_PROBABILITY``) and the explanation says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SLOTS = 168
HOURS_PER_DAY = 24
#: Pseudo-count of the default prior shape at the portfolio level (how many calls per slot the
#: portfolio's own data needs before it outweighs the shape).
PORTFOLIO_STRENGTH = 100.0
#: Pseudo-count of the portfolio level in each segment's estimate.
SEGMENT_STRENGTH = 50.0
#: Customer-level strength when a segment has too little data for the method of moments.
DEFAULT_CUSTOMER_STRENGTH = 8.0
#: Bounds on the estimated customer-level strength (keeps one customer's few calls from being ignored
#: (too strong) or from deciding alone (too weak)).
MIN_CUSTOMER_STRENGTH = 2.0
MAX_CUSTOMER_STRENGTH = 200.0
#: Least sum of n (n - 1) over a segment's (customer, slot) cells for the method of moments.
MIN_MOMENT_PAIRS = 200
#: What an appointment slot is worth to the planner: above every probability the model can give.
APPOINTMENT_PROBABILITY = 1.0

WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
#: Parts of the day used to describe "similar customers" in words: (name_en, name_zh, first hour, end hour).
DAY_PARTS = (("morning", "上午", 8, 12), ("afternoon", "下午", 12, 18), ("evening", "晚间", 18, 22),
             ("night", "夜间", 22, 24), ("early morning", "凌晨", 0, 8))

#: Interaction outcomes that count as reaching the debtor (right-party contact).
RPC_OUTCOMES: frozenset[str] = frozenset({
    "right_party_contact", "promise_to_pay", "refused", "dispute", "hardship", "callback_requested", "complaint",
})


# -- slots -------------------------------------------------------------------------------------------


def slot(weekday: int, hour: int) -> int:
    """The slot of ``weekday`` (Monday = 0) at ``hour`` (0–23)."""
    if not (0 <= weekday < 7 and 0 <= hour < 24):
        raise ValueError(f"no slot for weekday {weekday}, hour {hour}")
    return weekday * HOURS_PER_DAY + hour


def slot_of(at: datetime, tz: str) -> int:
    """The customer-local hour of the week of an aware instant (reference implementation)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("slot_of needs a timezone-aware datetime")
    local = at.astimezone(ZoneInfo(tz))
    return local.weekday() * HOURS_PER_DAY + local.hour


def local_slots(epoch_seconds: np.ndarray | Sequence[int], tz: str) -> np.ndarray:
    """Vectorised :func:`slot_of` for UTC epoch seconds in one zone (Arrow's tz database, DST-aware)."""
    arr = pa.array(np.asarray(epoch_seconds, dtype=np.int64), pa.timestamp("s", tz=tz))
    wall = pc.local_timestamp(arr).cast(pa.int64()).to_numpy(zero_copy_only=False)
    days = np.floor_divide(wall, 86_400)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday (Monday = 0)
    hour = np.floor_divide(wall - days * 86_400, 3600)
    return (weekday * HOURS_PER_DAY + hour).astype(np.int64)


def slot_label(s: int, locale: str = "zh_CN") -> str:
    """``周六 10:00–11:00`` / ``Saturday 10:00–11:00``."""
    weekday, hour = divmod(int(s), HOURS_PER_DAY)
    names = WEEKDAYS_ZH if locale.startswith("zh") else WEEKDAYS_EN
    return f"{names[weekday]} {hour:02d}:00–{(hour + 1) % 24:02d}:00"


def quiet_mask(allowed_from: int = 8, allowed_until: int = 22) -> np.ndarray:
    """168 booleans: True where the local hour is inside [allowed_from, allowed_until) (the pack's window)."""
    hours = np.arange(SLOTS) % HOURS_PER_DAY
    return (hours >= allowed_from) & (hours < allowed_until)


def day_part(hour: int) -> tuple[str, str, int, int]:
    for part in DAY_PARTS:
        if part[2] <= hour < part[3]:
            return part
    raise ValueError(hour)  # pragma: no cover - the parts cover the day


def part_slots(s: int) -> np.ndarray:
    """The slots of the same kind of day (weekday / weekend) and the same part of the day as ``s``."""
    weekday, hour = divmod(int(s), HOURS_PER_DAY)
    _, _, lo, hi = day_part(hour)
    days = range(5) if weekday < 5 else range(5, 7)
    return np.array([d * HOURS_PER_DAY + h for d in days for h in range(lo, hi)])


# -- the prior ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriorShape:
    """The default portfolio prior: mean RPC probability by kind of hour (before any data).

    People are busy on weekday daytime; evenings and weekends reach more of them. Hours outside
    [allowed_from, allowed_until) — the quiet hours — get 0 (no mass at all).
    """

    weekday_daytime: float = 0.10   # Mon–Fri 09:00–17:00
    weekday_edge: float = 0.16      # Mon–Fri 08:00–09:00 and 17:00–18:00
    weekday_evening: float = 0.30   # Mon–Fri 18:00–21:00
    weekday_late: float = 0.20      # Mon–Fri 21:00–22:00
    weekend_daytime: float = 0.28   # Sat–Sun 09:00–18:00
    weekend_edge: float = 0.18      # Sat–Sun 08:00–09:00
    weekend_evening: float = 0.26   # Sat–Sun 18:00–22:00
    allowed_from: int = 8
    allowed_until: int = 22

    def means(self) -> np.ndarray:
        m = np.zeros(SLOTS)
        for s in range(SLOTS):
            weekday, h = divmod(s, HOURS_PER_DAY)
            if weekday < 5:
                m[s] = (self.weekday_edge if h in (8, 17) else self.weekday_daytime if 9 <= h < 17
                        else self.weekday_evening if 18 <= h < 21 else self.weekday_late if h == 21 else 0.0)
            else:
                m[s] = (self.weekend_edge if h == 8 else self.weekend_daytime if 9 <= h < 18
                        else self.weekend_evening if 18 <= h < 22 else 0.0)
        return np.where(quiet_mask(self.allowed_from, self.allowed_until), m, 0.0)


DEFAULT_PRIOR = PriorShape()


# -- counts ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotCounts:
    """Outbound call attempts and RPCs per customer per slot: ``attempts[i, s]``, ``rpc[i, s]``."""

    customer_ids: np.ndarray
    attempts: np.ndarray
    rpc: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.customer_ids)
        if self.attempts.shape != (n, SLOTS) or self.rpc.shape != (n, SLOTS):
            raise ValueError(f"counts must be ({n}, {SLOTS}) arrays")
        if (self.rpc < 0).any() or (self.rpc > self.attempts).any():
            raise ValueError("RPCs must be between 0 and the attempts of each slot")

    @classmethod
    def empty(cls, customer_ids: Sequence[int] | np.ndarray = ()) -> SlotCounts:
        ids = np.asarray(customer_ids, dtype=np.int64)
        return cls(ids, np.zeros((len(ids), SLOTS), np.int32), np.zeros((len(ids), SLOTS), np.int32))

    @classmethod
    def from_events(cls, customer_ids: np.ndarray, slots: np.ndarray, rpc: np.ndarray,
                    universe: Sequence[int] | np.ndarray | None = None) -> SlotCounts:
        """Aggregate one row per call (customer id, slot, 0/1 RPC); ``universe`` adds customers without calls."""
        customer_ids = np.asarray(customer_ids, dtype=np.int64)
        ids = np.unique(customer_ids if universe is None else np.concatenate(
            [customer_ids, np.asarray(universe, dtype=np.int64)]))
        row = np.searchsorted(ids, customer_ids)
        flat = row * SLOTS + np.asarray(slots, dtype=np.int64)
        size = len(ids) * SLOTS
        attempts = np.bincount(flat, minlength=size).reshape(len(ids), SLOTS).astype(np.int32)
        hits = np.bincount(flat, weights=np.asarray(rpc, dtype=np.float64), minlength=size)
        return cls(ids, attempts, hits.reshape(len(ids), SLOTS).astype(np.int32))


# -- segments ----------------------------------------------------------------------------------------

AGE_BANDS = ((0, 30, "<30"), (30, 45, "30-44"), (45, 60, "45-59"), (60, 200, "60+"))


def age_band(birth_date: date | None, on: date) -> str:
    if birth_date is None:
        return "unknown"
    age = on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))
    return next(label for lo, hi, label in AGE_BANDS if lo <= age < hi)


def segment_key(bucket: str | None, birth_date: date | None, on: date) -> str:
    """The default segment: delinquency bucket x age band, e.g. ``M1|30-44``."""
    return f"{bucket or '-'}|{age_band(birth_date, on)}"


# -- fitting -----------------------------------------------------------------------------------------


def moment_strength(attempts: np.ndarray, rpc: np.ndarray, mean: np.ndarray) -> float | None:
    """Method-of-moments strength kappa of the customer-level Beta around ``mean`` (one row per customer).

    For a cell with n calls and y RPCs drawn from Beta-binomial(n, mu, kappa):
    ``E[(y - n mu)^2] = n mu (1 - mu) (1 + (n - 1) rho)`` with ``rho = 1 / (kappa + 1)``. Pooling every cell,
    ``rho = sum((y - n mu)^2 - n mu (1 - mu)) / sum(n (n - 1) mu (1 - mu))``. None when the segment has
    fewer than ``MIN_MOMENT_PAIRS`` pairs of calls in the same cell.
    """
    n = attempts.astype(np.float64)
    var = mean * (1.0 - mean)
    pairs = (n * (n - 1.0) * var).sum()
    if (n * (n - 1.0)).sum() < MIN_MOMENT_PAIRS or pairs <= 0:
        return None
    resid = ((rpc - n * mean) ** 2 - n * var).sum()
    rho = float(np.clip(resid / pairs, 1.0 / (MAX_CUSTOMER_STRENGTH + 1.0), 1.0 / (MIN_CUSTOMER_STRENGTH + 1.0)))
    return 1.0 / rho - 1.0


@dataclass(frozen=True)
class BestTimeModel:
    """A fitted model: the portfolio and segment means, each segment's strength and each customer's counts."""

    customer_ids: np.ndarray
    segments: tuple[str, ...]
    #: index into ``segments`` per customer
    customer_segment: np.ndarray
    prior_mean: np.ndarray
    portfolio_mean: np.ndarray
    segment_mean: np.ndarray
    segment_attempts: np.ndarray
    segment_rpc: np.ndarray
    strength: np.ndarray
    attempts: np.ndarray
    rpc: np.ndarray
    allowed: np.ndarray
    _index: dict[int, int] = field(repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self._index:
            self._index.update({int(c): i for i, c in enumerate(self.customer_ids)})

    def row(self, customer_id: int) -> int:
        try:
            return self._index[int(customer_id)]
        except KeyError:
            raise KeyError(f"customer {customer_id} is not in the model") from None

    def rows(self, customer_ids: Iterable[int]) -> np.ndarray:
        return np.array([self.row(c) for c in customer_ids], dtype=np.int64)

    def params(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The customers' posterior Beta parameters (alpha, beta), shape (len(rows), 168)."""
        sel = slice(None) if rows is None else rows
        seg = self.customer_segment[sel]
        mu = self.segment_mean[seg]
        kappa = self.strength[seg][:, None]
        n = self.attempts[sel]
        y = self.rpc[sel]
        alpha = mu * kappa + y
        beta = (1.0 - mu) * kappa + (n - y)
        return alpha, beta

    def posterior_mean(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``alpha / (alpha + beta)``; 0 in quiet hours."""
        alpha, beta = self.params(rows)
        return np.where(self.allowed, alpha / (alpha + beta), 0.0)

    def thompson(self, rng: np.random.Generator, rows: np.ndarray | None = None) -> np.ndarray:
        """One draw from each posterior Beta (exploration); 0 in quiet hours."""
        alpha, beta = self.params(rows)
        ok = self.allowed & (alpha > 0) & (beta > 0)
        draws = rng.beta(np.where(ok, alpha, 1.0), np.where(ok, beta, 1.0))
        return np.where(ok, draws, np.where(self.allowed & (beta <= 0), 1.0, 0.0))


def fit(counts: SlotCounts, segments: Sequence[str] | np.ndarray, *, prior: PriorShape = DEFAULT_PRIOR,
        portfolio_strength: float = PORTFOLIO_STRENGTH, segment_strength: float = SEGMENT_STRENGTH,
        customer_strength: float | None = None) -> BestTimeModel:
    """Fit the hierarchy on ``counts``; ``segments[i]`` names customer i's segment.

    ``customer_strength``: a fixed kappa for every segment instead of the method of moments.
    """
    segs = np.asarray(segments, dtype=object)
    if len(segs) != len(counts.customer_ids):
        raise ValueError("one segment per customer is needed")
    names, seg_index = np.unique(segs.astype(str), return_inverse=True) if len(segs) else (np.array([], str),
                                                                                          np.zeros(0, np.int64))
    allowed = quiet_mask(prior.allowed_from, prior.allowed_until)
    attempts = np.where(allowed, counts.attempts, 0).astype(np.int32)
    rpc = np.where(allowed, counts.rpc, 0).astype(np.int32)
    m0 = prior.means()
    portfolio = np.where(allowed, (m0 * portfolio_strength + rpc.sum(axis=0)) /
                         (portfolio_strength + attempts.sum(axis=0)), 0.0)
    k = len(names)
    seg_n = np.zeros((k, SLOTS))
    seg_y = np.zeros((k, SLOTS))
    np.add.at(seg_n, seg_index, attempts)
    np.add.at(seg_y, seg_index, rpc)
    seg_mean = np.where(allowed, (portfolio * segment_strength + seg_y) / (segment_strength + seg_n), 0.0)
    strength = np.full(k, DEFAULT_CUSTOMER_STRENGTH if customer_strength is None else customer_strength)
    if customer_strength is None:
        order = np.argsort(seg_index, kind="stable")
        bounds = np.searchsorted(seg_index[order], np.arange(k + 1))
        for g in range(k):
            members = order[bounds[g]:bounds[g + 1]]
            est = moment_strength(attempts[members][:, allowed], rpc[members][:, allowed], seg_mean[g, allowed])
            if est is not None:
                strength[g] = est
    return BestTimeModel(customer_ids=np.asarray(counts.customer_ids, dtype=np.int64), segments=tuple(names),
                         customer_segment=np.asarray(seg_index, dtype=np.int64), prior_mean=m0,
                         portfolio_mean=portfolio, segment_mean=seg_mean, segment_attempts=seg_n,
                         segment_rpc=seg_y, strength=strength, attempts=attempts, rpc=rpc, allowed=allowed)


# -- appointments ------------------------------------------------------------------------------------


def appointment_slots(start: datetime, end: datetime, tz: str) -> list[int]:
    """The customer-local slots that the window [start, end) touches."""
    if end <= start:
        return []
    zone = ZoneInfo(tz)
    local = start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    out: list[int] = []
    t = local.astimezone(start.tzinfo)
    while t < end and len(out) < SLOTS:
        s = slot_of(t, tz)
        if s not in out:
            out.append(s)
        t = t + timedelta(hours=1)
    return out


def with_appointment(probs: np.ndarray, slots: Iterable[int], allowed: np.ndarray | None = None) -> np.ndarray:
    """``probs`` (168,) with the appointment's slots raised to ``APPOINTMENT_PROBABILITY``.

    The quiet hours stay at 0: a customer's request does not lift them (``cn`` pack).
    """
    out = np.array(probs, dtype=np.float64, copy=True)
    for s in slots:
        if allowed is None or allowed[s]:
            out[s] = APPOINTMENT_PROBABILITY
    return out


# -- words -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourChoice:
    slot: int
    probability: float
    appointment: bool
    explanation: str


def _pct(x: float) -> str:
    return f"{round(100 * x):d}%"


def explain(model: BestTimeModel, customer_id: int, s: int, *, locale: str = "zh_CN",
            appointment: bool = False, min_part_calls: int = 20) -> str:
    """Why this hour, in words (``zh_CN`` or ``en``).

    "周六 10:00–11:00：本人过去在该时段接通 3/4 次；同类客户周末上午接通率 38%" /
    "Saturday 10:00–11:00: reached 3 of 4 times in this hour; similar customers 38% on weekend mornings".
    Similar customers: the customer's segment over the same part of the day on the same kind of day,
    observed when the segment has at least ``min_part_calls`` calls there, else the model's estimate.
    """
    zh = locale.startswith("zh")
    i = model.row(customer_id)
    label = slot_label(s, locale)
    if not model.allowed[s]:
        return (f"{label}：处于禁止联系时段（当地 22:00–08:00），不安排联系" if zh
                else f"{label}: inside the quiet hours (22:00–08:00 local); never proposed")
    if appointment:
        return (f"{label}：客户本人预约在此时段联系，预约优先于模型" if zh
                else f"{label}: the customer asked to be called in this window; an appointment overrides the model")
    n, y = int(model.attempts[i, s]), int(model.rpc[i, s])
    mean = float(model.posterior_mean(np.array([i]))[0, s])
    own = (f"本人过去在该时段接通 {y}/{n} 次" if n else "本人在该时段尚无拨打记录") if zh else \
        (f"reached {y} of {n} times in this hour" if n else "not yet called in this hour")
    g = model.customer_segment[i]
    part = part_slots(s)
    weekday, hour = divmod(int(s), HOURS_PER_DAY)
    en_part, zh_part, _, _ = day_part(hour)
    kind_zh, kind_en = ("工作日", "weekday") if weekday < 5 else ("周末", "weekend")
    calls = model.segment_attempts[g, part].sum()
    if calls >= min_part_calls:
        rate = float(model.segment_rpc[g, part].sum() / calls)
        similar = (f"同类客户{kind_zh}{zh_part}接通率 {_pct(rate)}" if zh
                   else f"similar customers {_pct(rate)} on {kind_en} {en_part}s")
    else:
        rate = float(model.segment_mean[g, part].mean())
        similar = (f"同类客户{kind_zh}{zh_part}预计接通率 {_pct(rate)}（数据尚少）" if zh
                   else f"similar customers expected {_pct(rate)} on {kind_en} {en_part}s (little data yet)")
    estimate = f"估计接通概率 {_pct(mean)}" if zh else f"estimated {_pct(mean)} chance of reaching them"
    sep = "；" if zh else "; "
    return f"{label}{'：' if zh else ': '}{own}{sep}{similar}{sep}{estimate}"


def best_hours(model: BestTimeModel, customer_id: int, *, top: int = 3, locale: str = "zh_CN",
               appointments: Sequence[tuple[datetime, datetime]] = (), tz: str | None = None,
               candidate_slots: Sequence[int] | None = None) -> list[HourChoice]:
    """The customer's ``top`` hours of the week by posterior mean (appointment slots first), with why."""
    i = model.row(customer_id)
    probs = model.posterior_mean(np.array([i]))[0]
    asked: set[int] = set()
    for start, end in appointments:
        if tz is None:
            raise ValueError("the customer's time zone is needed to place an appointment")
        asked.update(s for s in appointment_slots(start, end, tz) if model.allowed[s])
    probs = with_appointment(probs, asked, model.allowed)
    pool = np.flatnonzero(model.allowed) if candidate_slots is None else np.array(
        [s for s in candidate_slots if model.allowed[s]], dtype=np.int64)
    order = pool[np.lexsort((pool, -probs[pool]))][:top]
    return [HourChoice(int(s), float(probs[s]), int(s) in asked,
                       explain(model, customer_id, int(s), locale=locale, appointment=int(s) in asked))
            for s in order]
