"""The arithmetic of the collections reports, pure: rates in basis points, the roll-rate matrix and
the hour-of-week grid. No database here (:mod:`arrears.reports.service` reads the store).

Rates are integer basis points (10,000 = 100 %), rounded half up, and ``None`` when the
denominator is 0 — a rate of nothing is not 0 %. Money stays integer fen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

BASIS = 10_000
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def rate_bp(numerator: int, denominator: int) -> int | None:
    """``numerator / denominator`` in basis points, half up; None when the denominator is 0."""
    if numerator < 0 or denominator < 0:
        raise ValueError("rates are of counts or amounts, never negative")
    if denominator == 0:
        return None
    return (2 * numerator * BASIS + denominator) // (2 * denominator)


def percent(bp: int | None) -> str:
    """A basis-point rate as text: 1234 → '12.34 %', None → '–'."""
    if bp is None:
        return "–"
    return f"{bp // 100}.{bp % 100:02d} %"


@dataclass(frozen=True)
class RollMatrix:
    """Where the accounts of each bucket on one date are on a later date.

    ``counts[(from, to)]`` accounts; rows are the buckets on the first date (accounts in arrears
    then), columns every bucket including the current one (cured). Order follows ``buckets``."""

    buckets: tuple[str, ...]
    counts: Mapping[tuple[str, str], int]

    def row_total(self, b: str) -> int:
        return sum(n for (f, _), n in self.counts.items() if f == b)

    def share_bp(self, from_bucket: str, to_bucket: str) -> int | None:
        return rate_bp(self.counts.get((from_bucket, to_bucket), 0), self.row_total(from_bucket))

    def rows(self) -> list[str]:
        """The buckets that have accounts on the first date, in order."""
        return [b for b in self.buckets if self.row_total(b)]

    def roll_forward_bp(self, from_bucket: str) -> int | None:
        """Share of the bucket's accounts in a worse bucket on the later date."""
        i = self.buckets.index(from_bucket)
        worse = sum(n for (f, t), n in self.counts.items() if f == from_bucket and self.buckets.index(t) > i)
        return rate_bp(worse, self.row_total(from_bucket))

    def cure_bp(self, from_bucket: str) -> int | None:
        """Share of the bucket's accounts current (the first bucket) on the later date."""
        return self.share_bp(from_bucket, self.buckets[0])

    def table(self) -> list[dict[str, object]]:
        """One row per first-date bucket: accounts, then the count and share of each later bucket."""
        out: list[dict[str, object]] = []
        for f in self.rows():
            row: dict[str, object] = {"from_bucket": f, "accounts": self.row_total(f)}
            for t in self.buckets:
                row[f"to_{t}"] = self.counts.get((f, t), 0)
                row[f"to_{t}_bp"] = self.share_bp(f, t)
            out.append(row)
        return out


def roll_matrix(pairs: Iterable[tuple[str, str, int]], buckets: Sequence[str]) -> RollMatrix:
    """A :class:`RollMatrix` from ``(from_bucket, to_bucket, accounts)`` rows; an unknown bucket is refused."""
    counts: dict[tuple[str, str], int] = {}
    known = set(buckets)
    for f, t, n in pairs:
        if f not in known or t not in known:
            raise ValueError(f"bucket {f if f not in known else t!r} is not one of {', '.join(buckets)}")
        counts[(f, t)] = counts.get((f, t), 0) + int(n)
    return RollMatrix(tuple(buckets), counts)


@dataclass
class HourGrid:
    """Attempts and right-party contacts by hour of the week, in each customer's own time zone
    (Monday 00:00–00:59 is slot 0)."""

    attempts: list[int] = field(default_factory=lambda: [0] * 168)
    rpc: list[int] = field(default_factory=lambda: [0] * 168)

    def add(self, at: datetime, zone: ZoneInfo, reached: bool) -> None:
        if at.tzinfo is None:
            raise ValueError("interaction times are aware datetimes")
        local = at.astimezone(zone)
        slot = local.weekday() * 24 + local.hour
        self.attempts[slot] += 1
        if reached:
            self.rpc[slot] += 1

    def rate_bp(self, slot: int) -> int | None:
        return rate_bp(self.rpc[slot], self.attempts[slot])

    def cells(self) -> list[dict[str, object]]:
        """One row per slot with at least one attempt: weekday, hour, attempts, RPCs, RPC rate."""
        return [{"weekday": WEEKDAYS[s // 24], "hour": s % 24, "attempts": self.attempts[s], "rpc": self.rpc[s],
                 "rpc_bp": self.rate_bp(s)} for s in range(168) if self.attempts[s]]
