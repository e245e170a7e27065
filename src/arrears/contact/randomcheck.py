"""The acceptance property of the time-and-count rules, on random contacts: streams of candidate
contacts for customers in China, New York (state and city), Massachusetts and Washington, each decided
by the gate in time order with the contacts it admitted as history; then every admitted contact is
checked by an independent, vectorised reference (pandas for local clocks and calendars, DuckDB for the
window counts) written from docs/compliance.md, not from the gate's code. The answer is the number of
admitted contacts some applicable rule forbids — zero when the gate is right — with the gate's cost.

Scope: the rules that depend on time and history, where the gate's work lies (quiet hours and
inconvenient times, public holidays, daily and seven-day attempt limits per person or per debt, the
pause after a conversation, and the state/city layers). The timeless rules (recording, content flags,
parties, holds) do not interact with time and are held at their boundaries in their own tests; they are
left out of the packs used here so that the property does not depend on every content fact being set.

``arrears policy check-random --contacts 1000000`` runs it at full size (docs/compliance.md, "How the
gate is tested"); the test suite runs a smaller sample of the same property.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import duckdb
import holidays
import numpy as np
import pandas as pd

from arrears.contact.packchoice import pack_for
from arrears.contact.policy import Attempt, ContactCandidate, PolicyPack, gate

#: Jurisdictions of the property and the time zones their customers live in.
JURISDICTIONS: dict[str, tuple[str, ...]] = {
    "CN": ("Asia/Shanghai", "Asia/Urumqi"),
    "US-NY": ("America/New_York",),
    "US-NY-NYC": ("America/New_York",),
    "US-MA": ("America/New_York",),
    "US-WA": ("America/Los_Angeles",),
}
CHANNELS = ("call", "sms", "email")
CHANNEL_P = (0.6, 0.25, 0.15)
#: The rule kinds whose answer depends on time and history (see the module's docstring).
TIMED_KINDS = frozenset({"quiet_hours", "public_holiday", "attempt_limit", "conversation_pause"})
#: 2026-02-10 .. 2026-03-27: Spring Festival (16-20, 23 February) and the U.S. spring clock change (8 March).
START = datetime(2026, 2, 10, tzinfo=UTC)
DAYS = 45
#: History the gate is given: every window of the packs is at most 7 local days (+ slack).
HISTORY = timedelta(days=10)


def timed_pack(pack: PolicyPack) -> PolicyPack:
    """``pack`` with only its time-and-history rules."""
    return replace(pack, rules=tuple(r for r in pack.rules if r.kind in TIMED_KINDS))


@dataclass(frozen=True)
class Outcome:
    candidates: int
    admitted: pd.DataFrame
    blocked_by: dict[str, int]
    gate_seconds: float
    violations: pd.DataFrame

    @property
    def micros_per_candidate(self) -> float:
        return self.gate_seconds / max(self.candidates, 1) * 1e6


def generate(contacts: int, *, seed: int, per_customer: int = 400) -> pd.DataFrame:
    """``contacts`` random candidate contacts (numpy, seeded): customer, jurisdiction, zone, debt,
    channel, time (uniform over :data:`DAYS` days and the whole clock) and whether a call would be a
    conversation with the debtor."""
    rng = np.random.default_rng(seed)
    customers = max(1, contacts // per_customer)
    names = list(JURISDICTIONS)
    where = np.array(names)[np.arange(customers) % len(names)]
    zones = np.array([JURISDICTIONS[w][rng.integers(len(JURISDICTIONS[w]))] for w in where])
    debts = rng.integers(1, 3, size=customers)
    cust = rng.integers(0, customers, size=contacts)
    seconds = rng.integers(0, DAYS * 86400, size=contacts)
    frame = pd.DataFrame({
        "customer": cust,
        "jurisdiction": where[cust],
        "tz": zones[cust],
        "debt": [f"C{c}-A{d}" for c, d in zip(cust, rng.integers(0, 2, size=contacts) % debts[cust] + 1,
                                              strict=True)],
        "channel": np.array(CHANNELS)[rng.choice(len(CHANNELS), size=contacts, p=CHANNEL_P)],
        "at": pd.to_datetime(START) + pd.to_timedelta(seconds, unit="s"),
        "conversation": rng.random(contacts) < 0.3,
    })
    frame["conversation"] &= frame["channel"] == "call"
    return frame.sort_values(["customer", "at"], kind="stable").reset_index(drop=True)


def run_gate(frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int], float]:
    """The gate's answer for each candidate, each customer's stream in time order with what it admitted
    as history; the count of blocks by rule and the seconds spent in the gate (candidate built and judged)."""
    packs = {w: timed_pack(pack_for("card", w, {})) for w in JURISDICTIONS}
    allowed = np.zeros(len(frame), dtype=bool)
    blocked_by: dict[str, int] = {}
    spent = 0.0
    history: list[Attempt] = []
    current = -1
    rows = zip(frame["customer"].to_numpy(), frame["jurisdiction"].to_numpy(), frame["tz"].to_numpy(),
               frame["debt"].to_numpy(), frame["channel"].to_numpy(), frame["at"].dt.to_pydatetime(),
               frame["conversation"].to_numpy(), strict=True)
    for i, (cust, where, tz, debt, channel, at, conv) in enumerate(rows):
        if cust != current:
            current, history = cust, []
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
        horizon = at - HISTORY
        if history and history[0].at < horizon:
            history = [a for a in history if a.at >= horizon]
        started = time.perf_counter()
        decision = gate(ContactCandidate(at=at, channel=channel, party="debtor", purpose="collection", tz=tz,
                                         account_id=debt, attempts=tuple(history)), packs[where])
        spent += time.perf_counter() - started
        if decision.allowed:
            allowed[i] = True
            history.append(Attempt(at=at, channel=channel, conversation=bool(conv), account_id=debt))
        else:
            for b in decision.blocks:
                blocked_by[b.rule_id] = blocked_by.get(b.rule_id, 0) + 1
    return allowed, blocked_by, spent


# -- the reference ---------------------------------------------------------------------------------

#: (channels the limit applies to and counts, maximum, "person" or "debt") per jurisdiction; the
#: numbers are those of the sources in docs/compliance.md.
LIMITS: dict[str, list[tuple[str, tuple[str, ...], int, str, int]]] = {
    # (name, channels, max, per, days)
    "CN": [("cn daily calls", ("call",), 6, "person", 1)],
    "US": [("Reg F 7 calls in 7 days per debt", ("call",), 7, "debt", 7)],
    "US-MA": [("940 CMR 7.04(1)(f) 2 calls/texts in 7 days per debt", ("call", "sms"), 2, "debt", 7)],
    "US-WA": [("RCW 19.16.250 3 a week", ("call", "sms", "email"), 3, "person", 7)],
    "US-NY-NYC": [("6 RCNY 5-77 2 in 7 days", ("call", "sms", "email"), 2, "person", 7)],
}


def _cn_holidays(years: range) -> set[date]:
    return set(holidays.country_holidays("CN", years=list(years)).keys())


def _local(frame: pd.DataFrame) -> pd.DataFrame:
    """Local wall clock of each contact: date, seconds since local midnight, and for each window length
    the instant its count ends (local midnight ``days`` days after the local date, and never before
    ``days`` x 24 h have passed)."""
    parts = []
    for tz, part in frame.groupby("tz", sort=False):
        local = part["at"].dt.tz_localize("UTC").dt.tz_convert(tz) if part["at"].dt.tz is None \
            else part["at"].dt.tz_convert(tz)
        out = part.copy()
        out["local_date"] = local.dt.tz_localize(None).dt.normalize()
        out["local_s"] = local.dt.hour * 3600 + local.dt.minute * 60 + local.dt.second
        midnight = local.dt.normalize()
        for days in (1, 7):
            ends = (midnight + pd.DateOffset(days=days)).dt.tz_convert("UTC").dt.tz_localize(None)
            utc = out["at"].dt.tz_localize(None) if out["at"].dt.tz is not None else out["at"]
            out[f"end{days}"] = np.maximum(ends.to_numpy(), (utc + pd.Timedelta(days=days)).to_numpy()) \
                if days == 7 else ends.to_numpy()
        parts.append(out)
    return pd.concat(parts).sort_index()


def violations(admitted: pd.DataFrame) -> pd.DataFrame:
    """Every admitted contact that breaks a rule of its jurisdiction, with the rule (empty: none)."""
    if admitted.empty:
        return pd.DataFrame(columns=["id", "customer", "jurisdiction", "channel", "at", "rule"])
    df = _local(admitted.reset_index(drop=True))
    df["id"] = np.arange(len(df))
    df["at"] = df["at"].dt.tz_localize(None) if df["at"].dt.tz is not None else df["at"]
    df["country"] = df["jurisdiction"].str.slice(0, 2)
    found: list[pd.DataFrame] = []

    def flag(mask: pd.Series, rule: str) -> None:
        if mask.any():
            found.append(df.loc[mask, ["id", "customer", "jurisdiction", "channel", "at"]].assign(rule=rule))

    s = df["local_s"]
    cn, us = df["country"] == "CN", df["country"] == "US"
    flag(cn & ~s.between(8 * 3600, 22 * 3600 - 1), "cn quiet hours 08:00-22:00")
    holiday = df["local_date"].dt.date.isin(_cn_holidays(range(2025, 2028)))
    flag(cn & holiday & ~s.between(9 * 3600, 20 * 3600 - 1), "cn public holiday 09:00-20:00")
    flag(us & ~s.between(8 * 3600, 21 * 3600 - 1), "Reg F 08:00-21:00")
    flag((df["jurisdiction"] == "US-WA") & ~s.between(7 * 3600 + 1800, 21 * 3600 - 1), "RCW 19.16.250 07:30-21:00")

    con = duckdb.connect()
    con.register("adm", df[["id", "customer", "jurisdiction", "country", "debt", "channel", "at", "local_date",
                            "end1", "end7", "conversation"]])
    for where, limits in LIMITS.items():
        column = "country" if where in ("CN", "US") else "jurisdiction"
        for name, channels, most, per, days in limits:
            same = "a.customer = b.customer" if per == "person" else "a.debt = b.debt"
            chans = ", ".join(f"'{c}'" for c in channels)
            ends = "b.local_date = a.local_date" if days == 1 else "b.end7 > a.at"
            rows = con.execute(f"""
                SELECT a.id FROM adm a JOIN adm b ON {same} AND b.at < a.at
                   AND b.at > a.at - INTERVAL 9 DAY AND {ends}
                   AND b.channel IN ({chans})
                WHERE a.{column} = '{where}' AND a.channel IN ({chans})
                GROUP BY a.id HAVING count(*) >= {most}""").fetchall()
            flag(df["id"].isin([r[0] for r in rows]), name)
    # Regulation F: no call about a debt within 7 days after a telephone conversation about it
    rows = con.execute("""
        SELECT DISTINCT a.id FROM adm a JOIN adm b ON a.debt = b.debt AND b.at < a.at
           AND b.at > a.at - INTERVAL 9 DAY AND b.end7 > a.at
        WHERE a.country = 'US' AND a.channel = 'call' AND b.conversation""").fetchall()
    flag(df["id"].isin([r[0] for r in rows]), "Reg F 7 days after a conversation")
    con.close()
    if not found:
        return pd.DataFrame(columns=["id", "customer", "jurisdiction", "channel", "at", "rule"])
    return pd.concat(found, ignore_index=True)


def check_random(contacts: int, *, seed: int = 2026) -> Outcome:
    """Generate ``contacts`` candidates, let the gate decide them, check what it admitted."""
    frame = generate(contacts, seed=seed)
    allowed, blocked_by, spent = run_gate(frame)
    admitted = frame[allowed]
    return Outcome(candidates=len(frame), admitted=admitted, blocked_by=blocked_by, gate_seconds=spent,
                   violations=violations(admitted))


def check_random_command(contacts: int = 1_000_000, seed: int = 2026) -> None:
    """Random contacts across China, New York, Massachusetts and Washington: how many the gate admits,
    how many of those some rule forbids (must be 0), and the gate's cost per candidate."""
    import typer

    if contacts < 1:
        raise typer.BadParameter("--contacts must be at least 1")
    started = time.perf_counter()
    out = check_random(contacts, seed=seed)
    total = time.perf_counter() - started
    typer.echo(f"candidates {out.candidates}, admitted {len(out.admitted)}, blocked {out.candidates - len(out.admitted)}")
    for rule, n in sorted(out.blocked_by.items(), key=lambda kv: -kv[1]):
        typer.echo(f"  blocked by {rule}: {n}")
    typer.echo(f"gate: {out.gate_seconds:.1f} s, {out.micros_per_candidate:.0f} µs per candidate; whole run {total:.1f} s")
    typer.echo(f"admitted contacts some rule forbids: {len(out.violations)}")
    if len(out.violations):
        typer.echo(out.violations.head(20).to_string())
        raise typer.Exit(1)


__all__ = ["Outcome", "check_random", "check_random_command", "generate", "run_gate", "timed_pack", "violations"]
