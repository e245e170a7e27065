"""The self-service path in the simulator, and what it costs: simulated customers who receive their
personal link (a strategy's ``portal_link`` action) open it, prove who they are and do something
themselves, each with a propensity; and a side-by-side run of the same book and seed with and without
the path, with recovery and the cost per resolved case (docs/simulator.md, "Self-service").

Behaviour (:class:`Propensity`; every default is an assumption to replace with the bank's own figures):

- **opened** — by the account's bucket when the link is sent: M1 45 %, M2 35 %, M3 25 %, later 15 %.
  Digital-first collectors report that most referred customers prefer to resolve online; early
  buckets still read their messages, late ones much less. An opened link is opened on the day it is
  sent or up to ``delay_days`` days later (uniform), while the account is still in the book;
- **verified** — 80 % of those who open prove who they are (the rest give up at the identity check);
- **acted** — 60 % of the verified do something. What they do follows what they can afford: the
  past-due amount within their affordable amount → pay it now (``pay_share``, 70 %) or promise a date
  (the rest, kept with their usual keep probability); otherwise a plan that fits, chosen by the same
  rule as on a call, whose instalments are kept with ``plan_keep_bonus`` (5 points) more than a plan
  agreed on a call (customers who choose their own plan break it less often); otherwise they book a
  call-back, which an agent makes: a conversation (no gate: the customer asked for it) with the
  call's usual outcome.

Randomness for the path comes from its own generator (seeded from the run's seed), so the two arms
share the main stream until the path changes what happens to an account.

Costs (:class:`Costs`, integer fen): agent time (an attempted call, a conversation, a review task, a
call-back) × the cost per agent minute; each SMS, e-mail and letter (the links' SMS too); and the
payment provider's fee on payments made through the page. A **resolved** case is an account in arrears
at the start that is cured at the end or has a plan in force (active or completed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from arrears.kit.money import format_yuan

#: The counters the path keeps per account.
SS_COUNTERS = ("links", "links_email", "opened", "verified", "acted", "paid", "promised", "plans", "callbacks", "paid_fen")


@dataclass(frozen=True)
class Propensity:
    """How simulated customers use their link (probabilities as fractions; see the module docstring)."""

    #: P(opened) by bucket name; buckets not named use ``open_other``
    open_by_bucket: Mapping[str, float] = field(default_factory=lambda: {"M1": 0.45, "M2": 0.35, "M3": 0.25})
    open_other: float = 0.15
    verify: float = 0.80
    act: float = 0.60
    pay_share: float = 0.70
    plan_keep_bonus: float = 0.05
    delay_days: int = 3

    def __post_init__(self) -> None:
        for name, p in [*((f"open {b}", v) for b, v in self.open_by_bucket.items()), ("open_other", self.open_other),
                        ("verify", self.verify), ("act", self.act), ("pay_share", self.pay_share),
                        ("plan_keep_bonus", self.plan_keep_bonus)]:
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"self-service propensity {name} must be between 0 and 1, got {p}")
        if not 0 <= self.delay_days <= 14:
            raise ValueError(f"self-service delay_days must be 0 … 14, got {self.delay_days}")

    def open_p(self, bucket: str) -> float:
        return float(self.open_by_bucket.get(bucket, self.open_other))


@dataclass(frozen=True)
class Costs:
    """What the work costs (integer fen and seconds)."""

    agent_fen_per_minute: int = 100          # ¥1.00 a minute: ¥60 an hour, loaded
    call_attempt_seconds: int = 90           # dialling, ringing, no answer, wrap-up
    conversation_seconds: int = 420          # a right-party conversation with its notes
    review_task_seconds: int = 600
    callback_seconds: int = 420              # a call-back the customer booked
    sms_fen: int = 5
    email_fen: int = 1
    letter_fen: int = 300
    #: the payment provider's fee on payments made through the page, in basis points (60 = 0.6 %)
    payment_fee_bp: int = 60

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if int(value) != value or value < 0:
                raise ValueError(f"cost {name} must be a whole number >= 0, got {value}")


class LinkBehaviour:
    """The path inside one simulation (:class:`arrears.sim.simulate._Simulation`)."""

    def __init__(self, sim: Any, propensity: Propensity) -> None:
        self.sim = sim
        self.p = propensity
        self.rng = np.random.default_rng([int(sim.seed), 16])
        self.count = {name: np.zeros(sim.n, dtype=np.int64) for name in SS_COUNTERS}
        #: account index → the day its customer comes to the page
        self.visits: dict[int, int] = {}
        #: accounts whose plan was chosen on the page
        self.own_plans: set[int] = set()

    def send_time(self, i: int, d: int) -> datetime:
        """When the day's link goes out: in the message hour, customer-local (drawn from the path's own
        generator, so the other draws of the day stay as they would be without the path)."""
        from datetime import timedelta

        from arrears.contact.policy import local_instant, zone
        from arrears.sim.simulate import MESSAGE_HOUR

        minute = 30 + int(self.rng.integers(0, 30))
        return local_instant(zone(str(self.sim.zones[i])), self.sim.start + timedelta(days=d),
                             MESSAGE_HOUR * 3600 + minute * 60)

    def sent(self, i: int, d: int, channel: str, at: datetime, why: dict[str, Any]) -> None:
        """The link went out (it passed the gate): counted, costed as a message, maybe opened later."""
        from arrears.sim.events import EventKind

        sim = self.sim
        sim._record_attempt(i, d, channel, at, conversation=False)
        self.count["links"][i] += 1
        if channel == "email":
            self.count["links_email"][i] += 1
        sim._emit(EventKind.MESSAGE_SENT, i, at, d, channel=channel, outcome="portal_link", **why)
        bucket = str(sim.bucket_names[sim._bucket(sim.dpd[i:i + 1])[0]])
        if i not in self.visits and self.rng.random() < self.p.open_p(bucket):
            self.visits[i] = d + int(self.rng.integers(0, self.p.delay_days + 1))

    def day(self, d: int) -> None:
        """The customers who come to their page today."""
        from arrears.sim.simulate import ACTIVE, PROMISE_DAYS

        sim, rng = self.sim, self.rng
        for i in sorted(k for k, day in self.visits.items() if day == d):
            del self.visits[i]
            if sim.status[i] != ACTIVE:
                continue
            self.count["opened"][i] += 1
            if rng.random() >= self.p.verify:
                continue
            self.count["verified"][i] += 1
            if rng.random() >= self.p.act or sim.promise_open[i] or sim.plan_status[i] == "active":
                continue
            self.count["acted"][i] += 1
            at = sim._bank_at(d, 20)  # evenings: when people deal with it themselves
            past, afford = int(sim.past[i]), int(sim.c.affordable[i])
            if 0 < past <= afford:
                if rng.random() < self.p.pay_share:
                    paid = sim._pay(i, d, past, "self_service")
                    self.count["paid"][i] += 1
                    self.count["paid_fen"][i] += paid
                else:
                    due = d + int(rng.integers(PROMISE_DAYS[0], PROMISE_DAYS[1] + 1))
                    sim.promise_open[i], sim.promise_due[i], sim.promise_amount[i] = True, due, past
                    sim.count["promises_made"][i] += 1
                    self.count["promised"][i] += 1
                continue
            if sim.agree_plan(i, d, at, source="self_service"):
                self.count["plans"][i] += 1
                self.own_plans.add(i)
                continue
            self.count["callbacks"][i] += 1
            sim.rpcs[i, d] += 1
            sim._record_attempt(i, d, "call", at, conversation=True)
            sim.last_outcome[i], _ = sim._negotiate(i, d, at)

    def keep_bonus(self, i: int) -> float:
        return self.p.plan_keep_bonus if i in self.own_plans else 0.0

    def totals(self) -> dict[str, int]:
        return {name: int(arr.sum()) for name, arr in self.count.items()}


# -- the comparison ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArmFigures:
    """One arm of the comparison (money in fen)."""

    arm: str
    accounts: int
    delinquent_at_start: int
    recovered: int
    recovery_rate: float
    cured: int
    resolved: int
    calls_attempted: int
    conversations: int
    sms: int
    email: int
    letter: int
    review_tasks: int
    agent_minutes: int
    agent_cost: int
    message_cost: int
    payment_fees: int
    #: the self-service path's own counts (zero without it)
    self_service: dict[str, int]

    @property
    def total_cost(self) -> int:
        return self.agent_cost + self.message_cost + self.payment_fees

    @property
    def cost_per_resolved(self) -> int | None:
        return None if self.resolved == 0 else (2 * self.total_cost + self.resolved) // (2 * self.resolved)

    @property
    def recovered_per_cost(self) -> float | None:
        return None if self.total_cost == 0 else round(self.recovered / self.total_cost, 2)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_cost": self.total_cost, "cost_per_resolved": self.cost_per_resolved,
                "recovered_per_cost": self.recovered_per_cost}


def arm_figures(arm: str, result: Any, costs: Costs) -> ArmFigures:
    """The figures of one finished simulation (:class:`arrears.sim.simulate.SimResult`)."""
    t = result.report.total
    ss = dict(result.self_service) or dict.fromkeys(SS_COUNTERS, 0)
    conversations = t.calls_answered + ss.get("callbacks", 0)
    seconds = ((t.calls_attempted - t.calls_answered) * costs.call_attempt_seconds
               + t.calls_answered * costs.conversation_seconds + t.review_tasks * costs.review_task_seconds
               + ss.get("callbacks", 0) * costs.callback_seconds)
    link_sms, link_email = ss.get("links", 0) - ss.get("links_email", 0), ss.get("links_email", 0)
    message_cost = ((t.sms + link_sms) * costs.sms_fen + (t.email + link_email) * costs.email_fen
                    + t.letter * costs.letter_fen)
    fees = (ss.get("paid_fen", 0) * costs.payment_fee_bp + 5_000) // 10_000
    return ArmFigures(
        arm=arm, accounts=t.accounts, delinquent_at_start=t.delinquent_at_start, recovered=t.recovered,
        recovery_rate=t.recovery_rate, cured=t.cured, resolved=int(result.resolved),
        calls_attempted=t.calls_attempted, conversations=conversations, sms=t.sms, email=t.email, letter=t.letter,
        review_tasks=t.review_tasks, agent_minutes=seconds // 60,
        agent_cost=(seconds * costs.agent_fen_per_minute + 30) // 60, message_cost=message_cost, payment_fees=fees,
        self_service={k: int(ss.get(k, 0)) for k in SS_COUNTERS})


@dataclass(frozen=True)
class Comparison:
    """The same book and seed without and with the self-service path."""

    start: date
    days: int
    seed: int
    strategies: tuple[str, ...]
    propensity: Propensity
    costs: Costs
    without: ArmFigures
    with_path: ArmFigures

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "days": self.days, "seed": self.seed,
                "strategies": list(self.strategies),
                "propensity": {**asdict(self.propensity), "open_by_bucket": dict(self.propensity.open_by_bucket)},
                "costs": asdict(self.costs), "without_self_service": self.without.to_dict(),
                "with_self_service": self.with_path.to_dict()}

    def lines(self) -> list[str]:
        a, b = self.without, self.with_path

        def money(v: int | None) -> str:
            return "–" if v is None else format_yuan(v)

        rows = [
            ("recovered (CNY)", money(a.recovered), money(b.recovered)),
            ("recovery rate", f"{100 * a.recovery_rate:.2f}%", f"{100 * b.recovery_rate:.2f}%"),
            ("cured", f"{a.cured:,}", f"{b.cured:,}"),
            ("resolved cases", f"{a.resolved:,}", f"{b.resolved:,}"),
            ("calls attempted", f"{a.calls_attempted:,}", f"{b.calls_attempted:,}"),
            ("conversations", f"{a.conversations:,}", f"{b.conversations:,}"),
            ("agent minutes", f"{a.agent_minutes:,}", f"{b.agent_minutes:,}"),
            ("agent cost (CNY)", money(a.agent_cost), money(b.agent_cost)),
            ("message cost (CNY)", money(a.message_cost), money(b.message_cost)),
            ("payment fees (CNY)", money(a.payment_fees), money(b.payment_fees)),
            ("total cost (CNY)", money(a.total_cost), money(b.total_cost)),
            ("cost per resolved case (CNY)", money(a.cost_per_resolved), money(b.cost_per_resolved)),
        ]
        ss = b.self_service
        out = [f"Self-service: the same {a.accounts:,} accounts and seed {self.seed}, {self.days} days from "
               f"{self.start.isoformat()}, without and with the personal link ({', '.join(self.strategies)})",
               f"  {'':<30}{'without':>18}{'with':>18}"]
        out += [f"  {label:<30}{x:>18}{y:>18}" for label, x, y in rows]
        out.append(f"  links sent {ss['links']:,}, opened {ss['opened']:,}, verified {ss['verified']:,}, acted "
                   f"{ss['acted']:,}: paid {ss['paid']:,} ({money(ss['paid_fen'])} CNY), promised {ss['promised']:,}, "
                   f"plans {ss['plans']:,}, call-backs {ss['callbacks']:,}")
        if ss["links"] == 0:
            out.append("  (no strategy step sends the link: add a portal_link action to a strategy's path)")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def compare(customers: Any, strategies: Sequence[Any], *, days: int, start: date, seed: int = 1,
            pack: Any = None, propensity: Propensity | None = None, costs: Costs | None = None,
            **kw: Any) -> Comparison:
    """Run the same customers, strategies and seed twice — the ``portal_link`` actions ignored, then
    sent — and put the figures side by side."""
    from arrears.sim.simulate import simulate

    propensity = propensity or Propensity()
    costs = costs or Costs()
    without = simulate(customers, strategies, days=days, start=start, seed=seed, pack=pack, **kw)
    with_path = simulate(customers, strategies, days=days, start=start, seed=seed, pack=pack,
                         self_service=propensity, **kw)
    return Comparison(start=start, days=days, seed=seed, strategies=without.report.strategies,
                      propensity=propensity, costs=costs, without=arm_figures("without", without, costs),
                      with_path=arm_figures("with", with_path, costs))


def parse_open_by_bucket(text: str) -> dict[str, float]:
    """``M1=0.45,M2=0.35`` → {"M1": 0.45, "M2": 0.35} (a clear error naming the part that is wrong)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        bucket, sep, value = part.partition("=")
        try:
            p = float(value)
        except ValueError:
            p = -1.0
        if not sep or not bucket.strip() or not 0.0 <= p <= 1.0:
            raise ValueError(f"--link-open: {part!r} is not BUCKET=PROBABILITY (a number from 0 to 1)")
        out[bucket.strip()] = p
    return out


__all__ = ["ArmFigures", "Comparison", "Costs", "LinkBehaviour", "Propensity", "arm_figures", "compare",
           "parse_open_by_bucket"]
