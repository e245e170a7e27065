"""Best hours to call one customer, for the case page: the best-time model fitted on the recent call
history (as ``arrears contact best-time`` does), the customer's appointments first, with the reason.

Reading the portfolio's call history is the costly part, so it is kept for ``REFRESH_SECONDS`` per
application (:class:`HistoryCache`, in ``app.state``); the model itself is fitted per request (numpy),
with the customer added when they have no call in the window yet.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.engine import Engine

from arrears.contact.besttime import HourChoice, SlotCounts, best_hours, fit
from arrears.contact.history import CustomerProfile, read_profiles, read_slot_counts
from arrears.kit.clock import utc_now

#: How far back the call history is read (the CLI's window).
HISTORY_DAYS = 180
#: How long a read of the call history is used before it is read again.
REFRESH_SECONDS = 300


@dataclass(frozen=True)
class History:
    until: datetime
    counts: SlotCounts
    profiles: dict[int, CustomerProfile]


class HistoryCache:
    """The portfolio's recent call counts and customer profiles, read at most every ``ttl`` seconds
    (and again when the clock moved by more than that, e.g. a test's frozen clock)."""

    def __init__(self, ttl: float = REFRESH_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._history: History | None = None

    def history(self, engine: Engine, now: datetime) -> History:
        with self._lock:
            h = self._history
            fresh = (h is not None and time.monotonic() - self._loaded_at < self.ttl
                     and abs((now - h.until).total_seconds()) < self.ttl)
            if not fresh:
                counts = read_slot_counts(engine, since=now - timedelta(days=HISTORY_DAYS), until=now)
                profiles = read_profiles(engine, [int(c) for c in counts.customer_ids])
                self._history = h = History(now, counts, profiles)
                self._loaded_at = time.monotonic()
            assert h is not None
            return h


def _with_customer(counts: SlotCounts, customer_id: int) -> SlotCounts:
    if customer_id in set(counts.customer_ids.tolist()):
        return counts
    zero = np.zeros((1, counts.attempts.shape[1]), np.int32)
    return SlotCounts(np.concatenate([counts.customer_ids, np.array([customer_id], np.int64)]),
                      np.concatenate([counts.attempts, zero]), np.concatenate([counts.rpc, zero]))


def best_hours_for(engine: Engine, *, customer_id: int, tz: str, locale: str, top: int = 3,
                   appointments: Sequence[tuple[datetime, datetime]] = (), now: datetime | None = None,
                   cache: HistoryCache | None = None) -> list[HourChoice]:
    """The customer's ``top`` hours of the week with the reason, in ``locale``."""
    now = now or utc_now()
    history = (cache or HistoryCache(ttl=0)).history(engine, now)
    counts = _with_customer(history.counts, customer_id)
    profiles = history.profiles
    if customer_id not in profiles:
        profiles = {**profiles, **read_profiles(engine, [customer_id])}
    on = now.date()
    segments = [profiles[int(c)].segment(on) if int(c) in profiles else "-|unknown" for c in counts.customer_ids]
    model = fit(counts, segments)
    return best_hours(model, customer_id, top=top, locale=locale, appointments=list(appointments), tz=tz)
