"""The customer-behaviour simulator: run strategies on synthetic customers for N business days.

Every day (see docs/simulator.md):

1. **Features.** The feature view of every account still in the active book, with every column of
   :data:`arrears.strategy.features.FEATURE_SCHEMA` filled from the simulated state (DPD, bucket,
   balances, payments in 90 days, last contact, attempts in 7 days, RPCs in 30 days, promise and
   plan status, holds; ``behaviour_score`` is NULL).
2. **Treatments.** :func:`arrears.strategy.step.choose` — the daily cycle's own choice — with the
   strategies in order, the experiments, and yesterday's assignments (segment entry dates).
3. **Actions.** Messages (sms, email, letter) at 10:00 customer-local time; calls at the hours the
   agent's best-time estimate picks within the agents' working hours (08:00–21:00 bank time). Every
   call and message is put to the REAL compliance gate (:func:`arrears.contact.gate`) first, with the
   account's earlier attempts and its holds; a blocked contact is counted by rule id and retried once
   at the gate's next-allowed time when that is still within today's working hours. A call is answered
   with the customer's TRUE probability for that customer-local hour of the week; a right-party contact
   may end in a promise (the customer can afford the past-due amount) or a plan (one of
   :func:`arrears.plans.model.generate_options` fits the customer's affordable monthly amount).
   Review tasks are counted; legal review flags the account; agency placement and charge-off take it
   out of the active book.
4. **Payments.** Promises falling due are kept with the customer's keep probability or broken; plan
   instalments are paid or missed (``max_misses`` missed instalments break the plan); customers who
   read a message may pay; anyone may self-cure. A payment reduces the balance and the past-due amount;
   paying the past-due amount (to within the tolerance) cures the account; clearing whole cycles lowers
   the DPD by 30 days each.
5. **Ageing.** Every active account not under an active plan ages one day; each new cycle adds one
   minimum to the past-due amount; a worse bucket is a roll.

Randomness comes from one seeded numpy ``Generator``: same customers, strategies, seed and settings,
same events and report.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrears.contact.besttime import DEFAULT_CUSTOMER_STRENGTH, DEFAULT_PRIOR, SLOTS, slot_of
from arrears.contact.plan import BUSINESS_HOURS, hour_starts
from arrears.contact.policy import Attempt, ContactCandidate, Decision, Hold, PolicyPack, gate, local_instant, zone
from arrears.delinquency.model import DelinquencyRules
from arrears.kit.money import format_yuan
from arrears.plans.model import MIN_INSTALMENT_MONTHS, Option, PlanInputs, PlanProducts, Product, generate_options
from arrears.sim.behaviour import CYCLE_DAYS, Customers, account_ref
from arrears.sim.events import EventKind, SimEvent
from arrears.strategy.engine import ASSIGNMENTS_SCHEMA, select_treatments
from arrears.strategy.features import FEATURE_SCHEMA
from arrears.strategy.model import LINK_KIND, Strategy

BANK_TZ = "Asia/Shanghai"
DEFAULT_START = date(2026, 3, 2)
#: Customer-local hour at which the day's messages go out.
MESSAGE_HOUR = 10
#: Bank-time hour of the day's payments and promise/plan judgements, and of the end-of-day ageing.
PAYMENT_HOUR = 15
AGEING_HOUR = 23
#: Call attempts per due call_queue action (at the best hours the agent can pick, earliest first;
#: the second only when the first was not answered).
CALL_TRIES = 2
#: A promise is for the past-due amount, due this many days after the call (uniform).
PROMISE_DAYS = (1, 7)
#: Attempts older than this are dropped from the gate's history (longer than any window in the packs).
HISTORY_DAYS = 10
MESSAGE_KINDS = ("sms", "email", "letter")
ESCALATION_KINDS = ("legal_review", "agency_placement", "charge_off")
#: Plan kinds a customer may agree on a call (pay in full and minimum are promises instead).
PLAN_KINDS = ("deferral", "instalment", "personalised", "settlement")

ACTIVE, CURED, CHARGED_OFF, PLACED = 0, 1, 2, 3
STATUS_NAMES = ("active", "cured", "charged_off", "placed")
NEVER = -(10**6)
#: The arm of accounts no experiment dealt an arm (never treated, or treated outside every experiment).
NO_ARM = "(no arm)"

#: Per-account counters kept by the simulator (also the per-arm measures).
COUNTERS = ("calls_attempted", "calls_answered", "sms", "email", "letter", "contacts_blocked", "payments",
            "promises_made", "promises_kept", "promises_broken", "plans_agreed", "plans_completed",
            "plans_broken", "review_task", *ESCALATION_KINDS)


# -- the report -----------------------------------------------------------------------------------


def _rate(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


@dataclass(frozen=True)
class Measures:
    """What happened to a group of accounts (all, or one experiment arm). Money in fen."""

    accounts: int
    delinquent_at_start: int
    balance_at_start: int
    past_due_at_start: int
    recovered: int
    payments: int
    cured: int
    rolled: int
    calls_attempted: int
    calls_answered: int
    sms: int
    email: int
    letter: int
    contacts_blocked: int
    promises_made: int
    promises_kept: int
    promises_broken: int
    plans_agreed: int
    #: plans (the latest of each account) with at least one instalment due and every one due paid
    plans_kept: int
    plans_completed: int
    plans_broken: int
    review_tasks: int
    escalations: dict[str, int]
    end_states: dict[str, int]

    @property
    def cure_rate(self) -> float:
        """Accounts delinquent at the start and cured at the end ÷ accounts delinquent at the start."""
        return _rate(self.cured, self.delinquent_at_start)

    @property
    def roll_rate(self) -> float:
        """Accounts whose bucket at the end (or when they left the book) is worse than at the start ÷ accounts."""
        return _rate(self.rolled, self.accounts)

    @property
    def recovery_rate(self) -> float:
        """Amount recovered ÷ balance at the start."""
        return _rate(self.recovered, self.balance_at_start)

    @property
    def rpc_rate(self) -> float:
        return _rate(self.calls_answered, self.calls_attempted)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(recovered_yuan=format_yuan(self.recovered).replace(",", ""), cure_rate=self.cure_rate,
                   roll_rate=self.roll_rate, recovery_rate=self.recovery_rate, rpc_rate=self.rpc_rate)
        return out


@dataclass(frozen=True)
class SimReport:
    start: date
    end: date
    days: int
    seed: int
    pack: str
    strategies: tuple[str, ...]
    total: Measures
    #: gate blocks by rule id (a blocked contact counts once for each rule that blocked it)
    rule_blocks: dict[str, int]
    #: by "experiment/arm" (with experiments only); accounts never dealt an arm are under NO_ARM
    arms: dict[str, Measures] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days, "seed": self.seed,
                "pack": self.pack, "strategies": list(self.strategies), **self.total.to_dict(),
                "rule_blocks": dict(self.rule_blocks), "arms": {k: v.to_dict() for k, v in self.arms.items()}}

    def lines(self) -> list[str]:
        t = self.total
        out = [
            f"Simulated {t.accounts:,} accounts for {self.days} days ({self.start.isoformat()} – {self.end.isoformat()}),"
            f" strategies {', '.join(self.strategies)}, pack {self.pack}, seed {self.seed}",
            f"  balance at start     {format_yuan(t.balance_at_start):>18} CNY (past due "
            f"{format_yuan(t.past_due_at_start)} CNY)",
            f"  recovered            {format_yuan(t.recovered):>18} CNY ({t.recovered:,} fen; {t.payments:,} payments;"
            f" {100 * t.recovery_rate:.2f}% of balance)",
            f"  cure rate            {100 * t.cure_rate:>17.2f}% ({t.cured:,} of {t.delinquent_at_start:,} delinquent)",
            f"  roll rate            {100 * t.roll_rate:>17.2f}% ({t.rolled:,} of {t.accounts:,} to a worse bucket)",
            f"  calls                {t.calls_attempted:>18,} attempted, {t.calls_answered:,} right-party contacts "
            f"({100 * t.rpc_rate:.1f}%)",
            f"  messages             {t.sms:>18,} SMS, {t.email:,} e-mails, {t.letter:,} letters",
            f"  blocked by the gate  {t.contacts_blocked:>18,} contacts"
            + (": " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.rule_blocks.items())) if self.rule_blocks else ""),
            f"  promises             {t.promises_made:>18,} made, {t.promises_kept:,} kept, {t.promises_broken:,} broken",
            f"  plans                {t.plans_agreed:>18,} agreed, {t.plans_kept:,} kept so far, "
            f"{t.plans_completed:,} completed, {t.plans_broken:,} broken",
            f"  escalations          {sum(t.escalations.values()):>18,}: "
            + ", ".join(f"{k} {v:,}" for k, v in t.escalations.items()) + f"; review tasks {t.review_tasks:,}",
            "  accounts at the end  " + ", ".join(f"{k} {v:,}" for k, v in t.end_states.items()),
        ]
        if self.arms:
            out.append("  by experiment arm:")
            out.append(f"    {'arm':<24}{'accounts':>9}{'recovered CNY':>16}{'cure':>8}{'roll':>8}{'calls':>8}"
                       f"{'RPC':>7}{'SMS':>7}")
            for code, m in self.arms.items():
                out.append(f"    {code:<24}{m.accounts:>9,}{format_yuan(m.recovered):>16}{100 * m.cure_rate:>7.1f}%"
                           f"{100 * m.roll_rate:>7.1f}%{m.calls_attempted:>8,}{m.calls_answered:>7,}{m.sms:>7,}")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class SimResult:
    report: SimReport
    events: tuple[SimEvent, ...]
    #: final state per account (arrays in the customers' order): balance, past_due, dpd, status, paid
    balance: np.ndarray
    past_due: np.ndarray
    dpd: np.ndarray
    status: np.ndarray
    paid: np.ndarray
    #: fees and interest of plan instalments added to balances, and amounts waived (settlement discounts)
    charged: int
    waived: int
    #: accounts in arrears at the start, cured at the end or with a plan in force (active or completed)
    resolved: int = 0
    #: the self-service path's counts (:data:`arrears.sim.self_service.SS_COUNTERS`); empty without it
    self_service: dict[str, int] = field(default_factory=dict)

    def iter_events(self) -> Iterator[SimEvent]:
        return iter(self.events)


def choose_treatments(features: pa.Table, strategies: Sequence[Strategy], business_date: date, *,
                      assignments: pa.Table) -> pa.Table:
    """The daily cycle's choice without experiments (:func:`arrears.strategy.step.choose`), in Arrow:
    each strategy in order treats the accounts it puts in a segment that no earlier strategy took.
    Rows (:data:`TREATMENTS_SCHEMA`) of the accounts given a segment, by account id."""
    parts = []
    taken = pa.array([], pa.int64())
    for strategy in strategies:
        result = select_treatments(features, strategy, business_date, assignments=assignments)
        keep = pc.and_(pc.is_valid(result.column("segment")),
                       pc.invert(pc.is_in(result.column("account_id"), value_set=taken)))
        mine = result.filter(keep)
        parts.append(mine)
        taken = pa.concat_arrays([taken, mine.column("account_id").combine_chunks()])
    return pa.concat_tables(parts).sort_by("account_id")


def _may_fit(product: Product, inputs: PlanInputs, products: PlanProducts) -> bool:
    """False when ``product`` cannot be an offered plan option that fits ``inputs.affordable``: a cheap
    necessary test (eligibility, and a lower bound on its largest instalment) that spares building
    schedules and rates for products that cannot fit."""
    afford = inputs.affordable or 0
    if product.kind not in PLAN_KINDS or inputs.balance < product.min_balance or inputs.dpd < product.min_dpd:
        return False
    if product.max_dpd is not None and inputs.dpd > product.max_dpd:
        return False
    if product.kind == "deferral":
        least = inputs.overdue if product.base == "overdue" else inputs.balance
    elif product.kind == "instalment":
        least = inputs.balance // (product.months or MIN_INSTALMENT_MONTHS)
    elif product.kind == "personalised":
        least = inputs.balance // product.max_months
    else:  # settlement
        if inputs.dpd < products.settlement.min_dpd:
            return False
        least = inputs.balance * (100 - int(product.discount_percent) - 1) // 100 // product.instalments
    return least <= afford


def best_fitting_option(inputs: PlanInputs, products: PlanProducts) -> Option | None:
    """The plan the customer agrees to: of the options :func:`generate_options` offers (deferral,
    instalments, personalised, settlement) whose every instalment fits the affordable monthly amount,
    the one with the smallest total to pay (then fewest instalments, then code); None when none fits."""
    candidates = tuple(p for p in products.products if _may_fit(p, inputs, products))
    if not candidates:
        return None
    fits = [o for o in generate_options(inputs, replace(products, products=candidates))
            if o.kind in PLAN_KINDS and o.offered and o.fits_affordable and o.principal > 0]
    return min(fits, key=lambda o: (o.total, len(o.schedule), o.code)) if fits else None


# -- the simulation -------------------------------------------------------------------------------


@dataclass
class _Plan:
    kind: str
    code: str
    #: (day index, amount, principal) still to pay, earliest first
    due: list[tuple[int, int, int]]
    misses: int = 0
    paid: int = 0


class _Simulation:
    def __init__(self, customers: Customers, strategies: Sequence[Strategy], *, days: int, start: date, seed: int,
                 pack: PolicyPack, experiments: Sequence[Any], rules: DelinquencyRules, products: PlanProducts,
                 bank_tz: str, keep_events: bool, self_service: Any = None,
                 agent_hours: Sequence[int] = BUSINESS_HOURS) -> None:
        if days < 1:
            raise ValueError("days must be at least 1")
        if not strategies:
            raise ValueError("at least one strategy")
        c = self.c = customers
        self.strategies = tuple(strategies)
        self.days, self.start, self.seed = days, start, seed
        self.pack, self.experiments, self.rules, self.products = pack, tuple(experiments), rules, products
        self.bank_tz = bank_tz
        self.agent_hours = tuple(agent_hours)
        if not self.agent_hours or any(not 0 <= h <= 23 for h in self.agent_hours) \
                or list(self.agent_hours) != sorted(set(self.agent_hours)):
            raise ValueError("agent hours must be whole hours 0-23 in increasing order")
        self.keep_events = keep_events
        self.rng = np.random.default_rng(seed)
        n = self.n = len(c)
        #: the self-service path (:class:`arrears.sim.self_service.LinkBehaviour`); None: links are not sent
        self.ss: Any = None
        if self_service is not None:
            from arrears.sim.self_service import LinkBehaviour

            self.ss = LinkBehaviour(self, self_service)
        self.ids = c.account_id
        self.index = {int(a): i for i, a in enumerate(self.ids.tolist())}
        if len(self.index) != n:
            raise ValueError("customers: account ids must be unique")
        self.refs = np.array([account_ref(int(i)) for i in self.ids], dtype=object)
        self.balance = c.balance.copy()
        self.past = c.amount_past_due.copy()
        self.dpd = c.dpd.copy()
        self.status = np.zeros(n, dtype=np.int8)
        self.mins = np.array([b.min_dpd for b in rules.buckets.buckets], dtype=np.int64)
        self.bucket_names = np.array(rules.buckets.names, dtype=object)
        self.start_bucket = self._bucket(self.dpd)
        self.paid = np.zeros((n, days), dtype=np.int64)
        self.contacts = np.zeros((n, days), dtype=np.int16)
        self.rpcs = np.zeros((n, days), dtype=np.int16)
        self.last_pay = np.full(n, NEVER, dtype=np.int64)
        self.last_outcome = np.full(n, None, dtype=object)
        self.last_contact = np.full(n, NEVER, dtype=np.int64)
        self.promise_open = np.zeros(n, dtype=bool)
        self.promise_due = np.full(n, NEVER, dtype=np.int64)
        self.promise_amount = np.zeros(n, dtype=np.int64)
        self.promise_broken = np.full(n, NEVER, dtype=np.int64)
        self.plan_status = np.full(n, None, dtype=object)
        self.plans: dict[int, _Plan] = {}
        self.legal = np.zeros(n, dtype=bool)
        self.respond_today = np.zeros(n, dtype=bool)
        self.arm = np.full(n, NO_ARM, dtype=object)
        self.count = {k: np.zeros(n, dtype=np.int64) for k in COUNTERS}
        self.rule_blocks: Counter[str] = Counter()
        self.history: dict[int, list[Attempt]] = {}
        self.charged = 0
        self.waived = 0
        self.events: list[SimEvent] = []
        # the agent's best-time estimate: attempts and RPCs it has seen, per customer-local slot
        self.seen_attempts = np.zeros((n, SLOTS), dtype=np.float32)
        self.seen_rpc = np.zeros((n, SLOTS), dtype=np.float32)
        self.prior = DEFAULT_PRIOR.means()
        hold_start = datetime.combine(start - timedelta(days=30), time(), tzinfo=UTC)
        self.holds = [(Hold(kind=k, start=hold_start),) if k else () for k in c.hold_kind]
        self.zones = c.time_zone
        self.assignments = ASSIGNMENTS_SCHEMA.empty_table()
        self._slot_cache: dict[tuple[str, int], np.ndarray] = {}
        self._hours_cache: dict[int, list[datetime]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def _bucket(self, dpd: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.mins, dpd, side="right") - 1

    def _emit(self, kind: EventKind, i: int, at: datetime, d: int, **kw: Any) -> None:
        if self.keep_events:
            self.events.append(SimEvent(kind=kind, at=at, business_date=self.start + timedelta(days=d),
                                        account_id=int(self.ids[i]), **kw))

    def _bank_at(self, d: int, hour: int) -> datetime:
        return local_instant(ZoneInfo(self.bank_tz), self.start + timedelta(days=d), hour * 3600)

    def _agent_hours(self, d: int) -> list[datetime]:
        if d not in self._hours_cache:
            self._hours_cache[d] = hour_starts(self.start + timedelta(days=d), self.bank_tz, self.agent_hours)
        return self._hours_cache[d]

    def _slots(self, tz: str, d: int) -> np.ndarray:
        key = (tz, d)
        if key not in self._slot_cache:
            self._slot_cache[key] = np.array([slot_of(t, tz) for t in self._agent_hours(d)], dtype=np.int64)
        return self._slot_cache[key]

    def _recent(self, i: int, at: datetime) -> tuple[Attempt, ...]:
        past = self.history.get(i)
        if not past:
            return ()
        horizon = at - timedelta(days=HISTORY_DAYS)
        past[:] = [a for a in past if a.at > horizon]
        return tuple(past)

    def _gate(self, i: int, channel: str, at: datetime) -> Decision:
        cand = ContactCandidate(
            at=at, channel=channel, party="debtor", purpose="collection", tz=str(self.zones[i]),
            account_id=str(int(self.ids[i])), recorded=True, voicemail_limited=True, opt_out_notice=True,
            attempts=self._recent(i, at), holds=self.holds[i])
        return gate(cand, self.pack)

    def _record_attempt(self, i: int, d: int, channel: str, at: datetime, conversation: bool) -> None:
        self.history.setdefault(i, []).append(Attempt(at=at, channel=channel, conversation=conversation))
        self.contacts[i, d] += 1
        self.last_contact[i] = d

    # -- 1. features ---------------------------------------------------------------------------

    def features(self, d: int) -> pa.Table:
        a = np.flatnonzero(self.status == ACTIVE)
        c = self.c
        bal, past, dpd = self.balance[a], self.past[a], self.dpd[a]
        lo7, lo30, lo90 = max(0, d - 6), max(0, d - 29), max(0, d - 89)
        paid90 = self.paid[a, lo90:d + 1]
        last_pay = self.last_pay[a]
        last_contact = self.last_contact[a]
        holds = c.hold_kind[a]
        plan = self.plan_status[a]
        case_status = np.where(plan == "active", "plan_active",
                               np.where(self.legal[a], "legal_review",
                                        np.where(self.promise_open[a], "negotiating",
                                                 np.where(last_contact > NEVER, "contacting", "new"))))
        limit = c.credit_limit[a]
        cols: dict[str, Any] = {
            "account_id": self.ids[a],
            "account_ref": self.refs[a].tolist(),
            "product": ["classic"] * len(a),
            "account_status": ["open"] * len(a),
            "language": ["zh_CN"] * len(a),
            "region_code": c.region_code[a].tolist(),
            "months_on_book": c.months_on_book[a] + d // 30,
            "credit_limit": limit,
            "balance": bal,
            "utilisation_bp": pa.array(np.where(limit > 0, np.maximum(bal, 0) * 10_000 // np.maximum(limit, 1), 0),
                                       mask=limit <= 0),
            "dpd": dpd,
            "bucket": self.bucket_names[self._bucket(dpd)].tolist(),
            "cycles_delinquent": -(-past // np.maximum(c.minimum_due[a], 1)),
            "amount_past_due": past,
            "charge_off": dpd >= self.rules.charge_off_dpd,
            "payments_90d_fen": paid90.sum(axis=1),
            "payments_count_90d": (paid90 > 0).sum(axis=1),
            "last_payment_days_ago": pa.array(d - last_pay, mask=last_pay == NEVER),
            "behaviour_score": pa.nulls(len(a), pa.int64()),
            "hold_active": np.array([h is not None for h in holds], dtype=bool),
            "hold_kind": holds.tolist(),
            "hold_review_pending": np.zeros(len(a), dtype=bool),
            "case_id": self.ids[a],
            "case_status": case_status.tolist(),
            "days_in_case": np.maximum(c.dpd[a], 1) - 1 + d,
            "last_contact_outcome": self.last_outcome[a].tolist(),
            "days_since_last_contact": pa.array(d - last_contact, mask=last_contact == NEVER),
            "contact_attempts_7d": self.contacts[a, lo7:d + 1].sum(axis=1).astype(np.int64),
            "rpc_30d": self.rpcs[a, lo30:d + 1].sum(axis=1).astype(np.int64),
            "open_promise": self.promise_open[a],
            "promise_broken_90d": self.promise_broken[a] >= d - 89,
            "plan_status": plan.tolist(),
        }
        return pa.Table.from_pydict({f.name: cols[f.name] for f in FEATURE_SCHEMA}, schema=FEATURE_SCHEMA)

    # -- 2. treatments -------------------------------------------------------------------------

    def treatments(self, d: int) -> list[dict[str, Any]]:
        """Today's treatment rows of the accounts that have actions due (all chosen rows feed tomorrow's
        assignments). Without experiments the choice is made in Arrow (:func:`choose_treatments`), with
        them by the daily cycle's :func:`arrears.strategy.step.choose`."""
        bd = self.start + timedelta(days=d)
        features = self.features(d)
        if self.experiments:
            from arrears.strategy.step import choose

            rows = choose(features, self.strategies, bd, assignments=self.assignments, experiments=self.experiments)
            self.assignments = pa.Table.from_pylist(
                [{"account_id": r["account_id"], "strategy": r["strategy"], "segment": r["segment"],
                  "since": r["segment_since"]} for r in rows], schema=ASSIGNMENTS_SCHEMA)
            return [r for r in rows if r["actions"]]
        chosen = choose_treatments(features, self.strategies, bd, assignments=self.assignments)
        self.assignments = chosen.select(["account_id", "strategy", "segment", "segment_since"]).rename_columns(
            ASSIGNMENTS_SCHEMA.names).cast(ASSIGNMENTS_SCHEMA)
        due = chosen.filter(pc.greater(pc.list_value_length(chosen.column("actions")), 0))
        return due.to_pylist()

    # -- 3. actions ----------------------------------------------------------------------------

    def act(self, d: int, rows: list[dict[str, Any]]) -> None:
        """Each account's contacts of the day in time order (a heap), then its work actions."""
        latest = self._bank_at(d, self.agent_hours[-1] + 1)
        for row in rows:
            i = self.index[int(row["account_id"])]
            if row.get("arm") and self.arm[i] == NO_ARM:
                self.arm[i] = f"{row['experiment']}/{row['arm']}"
            queue: list[tuple[datetime, int, str, dict[str, Any], bool]] = []
            work: list[tuple[str, dict[str, Any]]] = []
            calls: list[dict[str, Any]] = []
            for action in row["actions"]:
                kind = action["kind"]
                why = {"strategy": row["strategy"], "segment": row["segment"], "step": action["step"]}
                if kind in MESSAGE_KINDS:
                    queue.append((self._message_time(i, d), len(queue), kind, why, False))
                elif kind == LINK_KIND:  # the personal link: sent only on the self-service path
                    if self.ss is not None:
                        at = self.ss.send_time(i, d)
                        queue.append((at, len(queue), f"link:{action.get('channel') or 'sms'}", why, False))
                elif kind == "call_queue":
                    calls.append(why)
                else:
                    work.append((kind, why))
            if calls:
                for n, at in enumerate(self._call_times(i, d, CALL_TRIES * len(calls))):
                    queue.append((at, len(queue), "call", calls[min(n // CALL_TRIES, len(calls) - 1)], False))
            heapq.heapify(queue)
            reached = False
            while queue and self.status[i] == ACTIVE:
                at, _, channel, why, retried = heapq.heappop(queue)
                if channel == "call" and reached:
                    continue  # the debtor was reached today: the other tries are cancelled
                decision = self._gate(i, channel.removeprefix("link:"), at)
                if not decision.allowed:
                    self._blocked(i, d, channel, at, decision, why)
                    nxt = decision.next_allowed_at
                    if not retried and nxt is not None and nxt < latest:
                        heapq.heappush(queue, (nxt, len(queue) + 1000, channel, why, True))
                    continue
                if channel == "call":
                    reached = self._call(i, d, at, why)
                elif channel.startswith("link:"):
                    self.ss.sent(i, d, channel.removeprefix("link:"), at, why)
                else:
                    self._message(i, d, channel, at, why)
            for kind, why in work:
                if self.status[i] == ACTIVE:
                    self._work(i, d, kind, why)

    def _blocked(self, i: int, d: int, channel: str, at: datetime, decision: Decision, why: dict[str, Any]) -> None:
        ids = tuple(b.rule_id for b in decision.blocks)
        self.rule_blocks.update(ids)
        self.count["contacts_blocked"][i] += 1
        self._emit(EventKind.CONTACT_BLOCKED, i, at, d, channel=channel, rule_ids=ids, **why,
                   detail={"next_allowed_at": decision.next_allowed_at.isoformat()
                           if decision.next_allowed_at else None})

    def _message_time(self, i: int, d: int) -> datetime:
        minute = int(self.rng.integers(0, 60))
        return local_instant(zone(str(self.zones[i])), self.start + timedelta(days=d), MESSAGE_HOUR * 3600 + minute * 60)

    def _message(self, i: int, d: int, channel: str, at: datetime, why: dict[str, Any]) -> None:
        self._record_attempt(i, d, channel, at, conversation=False)
        self.count[channel][i] += 1
        self._emit(EventKind.MESSAGE_SENT, i, at, d, channel=channel, **why)
        read_p = {"sms": self.c.sms_read_p, "email": self.c.email_read_p, "letter": self.c.letter_read_p}[channel][i]
        if self.rng.random() < read_p and self.rng.random() < self.c.respond_p[i]:
            self.respond_today[i] = True

    def _call_times(self, i: int, d: int, tries: int) -> list[datetime]:
        """The agent's picks: the ``tries`` agent hours with the best Thompson draw from its estimate of
        this customer (the default prior shape, updated by the calls it has made), earliest first."""
        slots = self._slots(str(self.zones[i]), d)
        prior = self.prior[slots]
        k = DEFAULT_CUSTOMER_STRENGTH
        att, rpc = self.seen_attempts[i, slots], self.seen_rpc[i, slots]
        alpha = np.maximum(prior * k + rpc, 1e-3)
        beta = np.maximum((1 - prior) * k + att - rpc, 1e-3)
        draw = self.rng.beta(alpha, beta)
        best = sorted(np.argsort(-draw, kind="stable")[:tries].tolist())
        hours = self._agent_hours(d)
        return [hours[h] + timedelta(minutes=int(self.rng.integers(0, 55))) for h in best]

    def _call(self, i: int, d: int, at: datetime, why: dict[str, Any]) -> bool:
        """One dialled call (it passed the gate); True when the debtor answered."""
        s = slot_of(at, str(self.zones[i]))
        answered = bool(self.rng.random() < self.c.answer_p[i, s])
        self.seen_attempts[i, s] += 1
        self.count["calls_attempted"][i] += 1
        if not answered:
            self._record_attempt(i, d, "call", at, conversation=False)
            self.last_outcome[i] = "no_answer"
            self._emit(EventKind.CALL_ATTEMPTED, i, at, d, channel="call", outcome="no_answer", **why)
            return False
        self.seen_rpc[i, s] += 1
        self.count["calls_answered"][i] += 1
        self.rpcs[i, d] += 1
        self._record_attempt(i, d, "call", at, conversation=True)
        outcome, detail = self._negotiate(i, d, at)
        self.last_outcome[i] = outcome
        self._emit(EventKind.CALL_ATTEMPTED, i, at, d, channel="call", outcome=outcome, **why)
        self._emit(EventKind.CALL_ANSWERED, i, at, d, channel="call", outcome=outcome, detail=detail, **why)
        return True

    def _negotiate(self, i: int, d: int, at: datetime) -> tuple[str, dict[str, Any]]:
        c, rng = self.c, self.rng
        if self.promise_open[i] or self.plan_status[i] == "active":
            return "right_party_contact", {"note": "already arranged"}
        w = int(c.willingness[i])
        if rng.random() > 0.25 + 0.12 * w:  # 37 % (w = 1) … 85 % (w = 5) talk about paying at all
            return "refused", {}
        past, afford = int(self.past[i]), int(c.affordable[i])
        if past <= afford:
            due = d + int(rng.integers(PROMISE_DAYS[0], PROMISE_DAYS[1] + 1))
            self.promise_open[i], self.promise_due[i], self.promise_amount[i] = True, due, past
            self.count["promises_made"][i] += 1
            self._emit(EventKind.PROMISE_MADE, i, at, d, amount=past,
                       detail={"due": (self.start + timedelta(days=due)).isoformat()})
            return "promise_to_pay", {"promise": past}
        # willing to agree a plan in this conversation (10 % … 30 %); only then are the options worked out
        if rng.random() > 0.05 + 0.05 * w:
            return "hardship", {"affordable": afford}
        option = self.agree_plan(i, d, at, source="call")
        if option is None:
            return "hardship", {"affordable": afford, "note": "no option fits"}
        return "promise_to_pay", {"plan": option.code}

    def agree_plan(self, i: int, d: int, at: datetime, *, source: str):  # type: ignore[no-untyped-def]
        """The best fitting plan agreed and in force from today (on a call, or chosen on the customer's
        page: ``source``), or None when no option fits."""
        option = self._fitting_option(i, d)
        if option is None:
            return None
        bd = self.start + timedelta(days=d)
        due = [((s.due_date - self.start).days, s.amount, s.principal) for s in option.schedule]
        self.plans[i] = _Plan(kind=option.kind, code=option.code, due=due)
        self.plan_status[i] = "active"
        self.count["plans_agreed"][i] += 1
        self._emit(EventKind.PLAN_AGREED, i, at, d, amount=option.total,
                   detail={"product": option.code, "kind": option.kind, "instalments": len(option.schedule),
                           "first_due": option.schedule[0].due_date.isoformat(), "agreed_on": bd.isoformat(),
                           "largest_instalment": option.largest_instalment, "dpd": int(self.dpd[i]),
                           **({"source": source} if source != "call" else {})})
        return option

    def _fitting_option(self, i: int, d: int):  # type: ignore[no-untyped-def]
        bal = int(self.balance[i])
        if bal <= 0:
            return None
        inputs = PlanInputs(today=self.start + timedelta(days=d), balance=bal, overdue=int(min(self.past[i], bal)),
                            minimum_due=int(min(self.c.minimum_due[i], bal)), affordable=int(self.c.affordable[i]),
                            willingness=int(self.c.willingness[i]), cause="other", role="agent", dpd=int(self.dpd[i]))
        return best_fitting_option(inputs, self.products)

    def _work(self, i: int, d: int, kind: str, why: dict[str, Any]) -> None:
        at = self._bank_at(d, 9)
        if kind in self.count:
            self.count[kind][i] += 1
        if kind in ESCALATION_KINDS:
            self._emit(EventKind.ESCALATION, i, at, d, outcome=kind, **why)
            if kind == "legal_review":
                self.legal[i] = True
            elif kind == "agency_placement":
                self.status[i] = PLACED
            elif kind == "charge_off":
                self.status[i] = CHARGED_OFF
        else:
            self._emit(EventKind.TASK, i, at, d, outcome=kind, **why)

    # -- 4. payments ---------------------------------------------------------------------------

    def _pay(self, i: int, d: int, amount: int, source: str) -> int:
        amount = int(min(amount, self.balance[i]))
        if amount <= 0:
            return 0
        at = self._bank_at(d, PAYMENT_HOUR)
        before_cycles = -(-int(self.dpd[i]) // CYCLE_DAYS)
        self.balance[i] -= amount
        self.past[i] -= min(amount, int(self.past[i]))
        self.paid[i, d] += amount
        self.last_pay[i] = d
        self.count["payments"][i] += 1
        self._emit(EventKind.PAYMENT, i, at, d, amount=amount, detail={"source": source})
        if self.dpd[i] > 0:
            if self.past[i] <= self.rules.tolerance:
                self.past[i] = 0
                self.dpd[i] = 0
                self.status[i] = CURED  # a plan in force goes on being paid; the account leaves the book
                self._emit(EventKind.CURED, i, at, d)
            else:
                cycles = -(-int(self.past[i]) // int(self.c.minimum_due[i]))
                if cycles < before_cycles:
                    self.dpd[i] = max(1, int(self.dpd[i]) - CYCLE_DAYS * (before_cycles - cycles))
        return amount

    def payments(self, d: int) -> None:
        c, rng = self.c, self.rng
        at = self._bank_at(d, PAYMENT_HOUR)
        # promises falling due
        for i in np.flatnonzero(self.promise_open & (self.promise_due == d)).tolist():
            self.promise_open[i] = False
            if self.status[i] == ACTIVE and rng.random() < c.keep_p[i]:
                self.count["promises_kept"][i] += 1
                self._emit(EventKind.PROMISE_KEPT, i, at, d, amount=int(self.promise_amount[i]))
                self._pay(i, d, int(self.promise_amount[i]), "promise")
            else:
                self.count["promises_broken"][i] += 1
                self.promise_broken[i] = d
                self._emit(EventKind.PROMISE_BROKEN, i, at, d, amount=int(self.promise_amount[i]))
        # plan instalments falling due
        for i in sorted(self.plans):
            plan = self.plans[i]
            if self.plan_status[i] != "active" or not plan.due or plan.due[0][0] != d:
                continue
            _, amount, principal = plan.due.pop(0)
            bonus = self.ss.keep_bonus(i) if self.ss is not None else 0.0
            if self.status[i] in (ACTIVE, CURED) and rng.random() < min(0.98, c.keep_p[i] + 0.1 + bonus):
                extra = amount - principal  # fees and interest: charged to the balance as they are paid
                self.balance[i] += extra
                self.charged += extra
                plan.paid += 1
                self._emit(EventKind.INSTALMENT_PAID, i, at, d, amount=amount, detail={"product": plan.code})
                self._pay(i, d, amount, "plan")
                if not plan.due:
                    self.plan_status[i] = "completed"
                    self.count["plans_completed"][i] += 1
                    if plan.kind == "settlement" and self.balance[i] > 0:
                        self.waived += int(self.balance[i])
                        self.balance[i] = 0
                        self.past[i] = 0
                    self._emit(EventKind.PLAN_COMPLETED, i, at, d, detail={"product": plan.code})
                    if self.status[i] == ACTIVE and self.past[i] <= self.rules.tolerance:
                        self._emit(EventKind.CURED, i, at, d)
                        self.past[i], self.dpd[i] = 0, 0
                        self.status[i] = CURED
            else:
                plan.misses += 1
                self._emit(EventKind.INSTALMENT_MISSED, i, at, d, amount=amount, detail={"product": plan.code})
                if plan.misses >= self.products.monitoring.max_misses or not plan.due:
                    self.plan_status[i] = "broken"
                    self.count["plans_broken"][i] += 1
                    self._emit(EventKind.PLAN_BROKEN, i, at, d, detail={"product": plan.code})
        # a paying plan account whose past due is cleared is cured only when the plan ends; others now
        free = (self.status == ACTIVE) & ~self.promise_open & (self.plan_status != "active") & (self.past > 0)
        recent = self.paid[:, max(0, d - 29):d + 1].sum(axis=1)
        left = np.maximum(c.affordable - recent, 0)
        cure_p = c.self_cure_p * np.exp(-self.dpd / 90.0)
        draws = rng.random(self.n)
        responders = free & self.respond_today & (left > 0)
        self_cure = free & ~self.respond_today & (left > 0) & (draws < cure_p)
        for i in np.flatnonzero(responders | self_cure).tolist():
            self._pay(i, d, int(min(self.past[i], left[i])), "message" if responders[i] else "self")
        self.respond_today[:] = False

    # -- 5. ageing -----------------------------------------------------------------------------

    def age(self, d: int) -> None:
        ageing = (self.status == ACTIVE) & (self.dpd > 0) & (self.plan_status != "active")
        before = self._bucket(self.dpd)
        self.dpd[ageing] += 1
        new_cycle = ageing & ((self.dpd - 1) % CYCLE_DAYS == 0)
        self.past[new_cycle] = np.minimum(self.past[new_cycle] + self.c.minimum_due[new_cycle],
                                          self.balance[new_cycle])
        after = self._bucket(self.dpd)
        at = self._bank_at(d, AGEING_HOUR)
        for i in np.flatnonzero(after > before).tolist():
            self._emit(EventKind.ROLLED, i, at, d, detail={"from": str(self.bucket_names[before[i]]),
                                                           "to": str(self.bucket_names[after[i]])})

    # -- run and report ------------------------------------------------------------------------

    def run(self) -> SimResult:
        for d in range(self.days):
            if (self.status == ACTIVE).any():
                self.act(d, self.treatments(d))
            if self.ss is not None:
                self.ss.day(d)
            self.payments(d)
            self.age(d)
        return SimResult(report=self.report(), events=tuple(self.events), balance=self.balance.copy(),
                         past_due=self.past.copy(), dpd=self.dpd.copy(), status=self.status.copy(),
                         paid=self.paid.sum(axis=1), charged=self.charged, waived=self.waived,
                         resolved=self.resolved(), self_service=self.ss.totals() if self.ss is not None else {})

    def resolved(self) -> int:
        """Accounts in arrears at the start that are cured at the end or have a plan in force."""
        planned = np.isin(self.plan_status.astype(str), ["active", "completed"])
        return int(((self.c.dpd > 0) & ((self.dpd == 0) | planned)).sum())

    def measures(self, rows: np.ndarray) -> Measures:
        k = {name: int(arr[rows].sum()) for name, arr in self.count.items()}
        delinquent = self.c.dpd[rows] > 0
        end_bucket = self._bucket(self.dpd[rows])
        plans_kept = sum(1 for i in np.flatnonzero(rows).tolist() if i in self.plans
                         and self.plans[i].paid > 0 and self.plans[i].misses == 0)
        return Measures(
            accounts=int(rows.sum()), delinquent_at_start=int(delinquent.sum()),
            balance_at_start=int(self.c.balance[rows].sum()), past_due_at_start=int(self.c.amount_past_due[rows].sum()),
            recovered=int(self.paid[rows].sum()), payments=k["payments"],
            cured=int((delinquent & (self.dpd[rows] == 0)).sum()),
            rolled=int((end_bucket > self.start_bucket[rows]).sum()),
            calls_attempted=k["calls_attempted"], calls_answered=k["calls_answered"], sms=k["sms"],
            email=k["email"], letter=k["letter"], contacts_blocked=k["contacts_blocked"],
            promises_made=k["promises_made"], promises_kept=k["promises_kept"], promises_broken=k["promises_broken"],
            plans_agreed=k["plans_agreed"], plans_kept=plans_kept, plans_completed=k["plans_completed"],
            plans_broken=k["plans_broken"], review_tasks=k["review_task"],
            escalations={e: k[e] for e in ESCALATION_KINDS},
            end_states={name: int((self.status[rows] == code).sum()) for code, name in enumerate(STATUS_NAMES)},
        )

    def report(self) -> SimReport:
        everyone = np.ones(self.n, dtype=bool)
        arms = {}
        if self.experiments:
            for code in sorted(set(self.arm.tolist())):
                arms[code] = self.measures(self.arm == code)
        return SimReport(
            start=self.start, end=self.start + timedelta(days=self.days - 1), days=self.days, seed=self.seed,
            pack=f"{self.pack.name} {self.pack.version}", strategies=tuple(s.label for s in self.strategies),
            total=self.measures(everyone), rule_blocks=dict(sorted(self.rule_blocks.items())), arms=arms)


def simulate(customers: Customers, strategies: Sequence[Strategy], *, days: int, start: date = DEFAULT_START,
             seed: int = 1, pack: PolicyPack | None = None, experiments: Sequence[Any] = (),
             rules: DelinquencyRules | None = None, products: PlanProducts | None = None, bank_tz: str = BANK_TZ,
             keep_events: bool = True, self_service: Any = None,
             agent_hours: Sequence[int] = BUSINESS_HOURS) -> SimResult:
    """Run ``strategies`` (tried in order, as in the daily cycle) on ``customers`` for ``days`` business
    days from ``start``; ``pack`` is the compliance pack (default: cn); ``experiments`` as loaded by
    :func:`arrears.strategy.experiments.load_experiments`; ``self_service`` a
    :class:`arrears.sim.self_service.Propensity` to send the strategies' personal links and simulate
    the customers' own actions (None: ``portal_link`` actions send nothing); ``agent_hours`` the hours of
    the bank's clock at which agents start calls (default 08:00–21:00, :data:`BUSINESS_HOURS`)."""
    if pack is None:
        from arrears.contact.config import load_default_pack

        pack = load_default_pack()
    if products is None:
        from arrears.plans.config import load_default_plan_products

        products = load_default_plan_products()
    if rules is None:
        from arrears.delinquency.config import load_default_rules

        rules = load_default_rules()
    sim = _Simulation(customers, strategies, days=days, start=start, seed=seed, pack=pack,
                      experiments=experiments, rules=rules, products=products, bank_tz=bank_tz,
                      keep_events=keep_events, self_service=self_service, agent_hours=agent_hours)
    return sim.run()


__all__ = ["BANK_TZ", "DEFAULT_START", "Measures", "SimReport", "SimResult", "simulate"]
