"""The daily contact plan: which due case to call in which hour, the dialer file, and the day's messages.

Formulation (see ``docs/contact-timing.md``). Cases ``c`` due a call today, business hours ``h``
(default 08:00–21:00 bank time, 13 hours), agents' teams ``t``. Variables ``x[c, h]`` in {0, 1}:

    maximise    sum  w[c] p[c, h] x[c, h]
    subject to  sum_h x[c, h] <= 1                               every case at most once
                sum_{c in team t} x[c, h] <= capacity[t, h]      agents on shift x calls per agent-hour
                x[c, h] = 0 where the compliance gate blocks the call in hour h

``p[c, h]`` is the case's right-party-contact probability in the customer-local hour of the week that bank
hour ``h`` falls in (:mod:`arrears.contact.besttime`), 1 inside an appointment the customer asked for;
``w[c]`` a value weight (1 = maximise expected RPCs; balance x propensity to favour value), scaled to [0, 1].

Solver: a min-cost flow (OR-Tools ``SimpleMinCostFlow``): source -> case (capacity 1) -> (team, hour)
(capacity 1, cost -round(10^6 w p)) -> sink (capacity[t, h]), plus a zero-cost source -> sink arc for
the cases left out. This is a transportation problem: its constraint matrix is totally unimodular, so
the flow optimum is an optimal 0/1 plan, found exactly (up to the 10^-6 cost scaling) in well under a
second for 50,000 cases x 13 hours. ``scipy.optimize.linear_sum_assignment`` would need every hour
copied once per call of capacity (a 50,000 x 30,000 dense matrix), and a MILP solves the same LP more
slowly; the tests check the flow against both on small instances.

The gate: every allowed (case, hour) pair is the real :func:`arrears.contact.gate` answer for a debtor
collection call, asked at the hour's first and last second (the call may be dialled any time in the
hour). Cases with no holds, attempts or appointment share the answer of their (zone, country, opt-out)
key, so the gate is asked a few hundred times rather than once per case and hour; the others are asked
one by one. A test checks the result against one gate call per case and hour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from arrears.contact.besttime import APPOINTMENT_PROBABILITY, SLOTS, slot_of
from arrears.contact.policy import (
    Appointment,
    Attempt,
    ContactCandidate,
    Hold,
    PolicyPack,
    Wishes,
    gate,
    local_instant,
)
from arrears.kit.csvsafe import SafeWriter

#: Start hours (bank time) of the business day: 08:00 … 20:00, the last hour ending at 21:00.
BUSINESS_HOURS: tuple[int, ...] = tuple(range(8, 21))
#: Cost scale of the min-cost flow (costs must be integers).
COST_SCALE = 1_000_000
DEFAULT_CALLS_PER_AGENT_HOUR = 12

DIALER_COLUMNS = ("case_id", "account_ref", "contact_point_id", "scheduled_hour_local", "customer_time_zone",
                  "priority", "reason", "scheduled_at_utc")


# -- inputs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueCase:
    """A case due a call today and the facts the plan and the gate need.

    ``contact_point_id``: the debtor's phone (a contact point id, never the number). ``weight``: value
    weight (any non-negative scale). ``attempts``/``holds``/``appointment`` as for the gate.
    """

    case_id: int
    account_ref: str
    customer_id: int
    time_zone: str
    contact_point_id: int | None
    team_id: int | None = None
    weight: float = 1.0
    country: str | None = None
    subdiv: str | None = None
    opted_out: bool = False
    holds: tuple[Hold, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    appointment: Appointment | None = None
    #: the customer's contact preferences (None: none)
    wishes: Wishes | None = None
    #: the account's product and the customer's jurisdiction, which choose the case's pack
    #: (:func:`arrears.contact.packchoice.pack_for`)
    product: str | None = None
    jurisdiction: str | None = None


#: One pack for every case, or the pack of each case (e.g. by its product and jurisdiction).
PackOf = PolicyPack | Callable[[DueCase], PolicyPack]


@dataclass(frozen=True)
class Shift:
    """An agent's working hours on the day, bank time: [start_hour, end_hour)."""

    agent_id: int
    team_id: int | None
    start_hour: int = 8
    end_hour: int = 21


def hour_starts(day: date, bank_tz: str, hours: Sequence[int] = BUSINESS_HOURS) -> list[datetime]:
    """The UTC instants at which each business hour of ``day`` starts on the bank's clock."""
    zone = ZoneInfo(bank_tz)
    return [local_instant(zone, day, h * 3600) for h in hours]


def capacity_matrix(shifts: Sequence[Shift], hours: Sequence[int], calls_per_agent_hour: int,
                    teams: Sequence[int | None]) -> np.ndarray:
    """Calls each team can make in each hour: agents on shift x calls per agent-hour, shape (teams, hours)."""
    index = {t: i for i, t in enumerate(teams)}
    cap = np.zeros((len(teams), len(hours)), dtype=np.int64)
    for s in shifts:
        if s.team_id not in index:
            continue
        for j, h in enumerate(hours):
            if s.start_hour <= h < s.end_hour:
                cap[index[s.team_id], j] += calls_per_agent_hour
    return cap


def hour_slots(zones: Sequence[str], starts: Sequence[datetime]) -> np.ndarray:
    """Customer-local slot of each case (by zone) in each business hour, shape (cases, hours)."""
    zones = list(zones)
    out = np.zeros((len(zones), len(starts)), dtype=np.int64)
    by_zone: dict[str, list[int]] = {}
    for i, z in enumerate(zones):
        by_zone.setdefault(z, []).append(i)
    for z, rows in by_zone.items():
        out[rows] = np.array([slot_of(t, z) for t in starts])
    return out


# -- the gate ----------------------------------------------------------------------------------------


def call_candidate(case: DueCase, at: datetime) -> ContactCandidate:
    """The gate's view of a planned collection call to the debtor (recorded, limited-content voicemail,
    the certified script's debt-collector disclosure)."""
    return ContactCandidate(
        at=at, channel="call", party="debtor", purpose="collection", tz=case.time_zone,
        account_id=case.account_ref, country=case.country, subdiv=case.subdiv,
        party_ref=None if case.contact_point_id is None else str(case.contact_point_id), opted_out=case.opted_out,
        recorded=True, voicemail_limited=True, opt_out_notice=True, discloses_debt=True, collector_disclosure="full",
        attempts=case.attempts, holds=case.holds, appointment=case.appointment, wishes=case.wishes)


def _instants(start: datetime) -> tuple[datetime, datetime]:
    return start, start + timedelta(hours=1) - timedelta(seconds=1)


def gate_allows_hour(case: DueCase, start: datetime, pack: PolicyPack) -> bool:
    """The reference: the gate allows a call at the hour's first and at its last second."""
    return all(gate(call_candidate(case, t), pack).allowed for t in _instants(start))


def allowed_matrix(cases: Sequence[DueCase], starts: Sequence[datetime], pack: PackOf) -> np.ndarray:
    """:func:`gate_allows_hour` for every case and hour, shape (cases, hours).

    A case without holds, attempts, appointment or contact preferences depends on the gate only through its zone, country,
    subdivision and opt-out, so those cases share one answer per key and hour.
    """
    out = np.zeros((len(cases), len(starts)), dtype=bool)
    memo: dict[tuple[Any, ...], bool] = {}
    for i, case in enumerate(cases):
        if case.contact_point_id is None:
            continue  # nothing to dial
        simple = not case.holds and not case.attempts and case.appointment is None and case.wishes is None
        own = pack if isinstance(pack, PolicyPack) else pack(case)
        for j, start in enumerate(starts):
            if simple:
                key = (case.time_zone, case.country, case.subdiv, case.opted_out, own.name, own.layers, j)
                found = memo.get(key)
                if found is None:
                    found = memo[key] = gate_allows_hour(case, start, own)
                out[i, j] = found
            else:
                out[i, j] = gate_allows_hour(case, start, own)
    return out


# -- the solver --------------------------------------------------------------------------------------


def solve(value: np.ndarray, allowed: np.ndarray, capacity: np.ndarray,
          team_index: np.ndarray | None = None) -> np.ndarray:
    """The hour (column index) of each case in an optimal plan, -1 for a case not called.

    ``value`` (cases, hours) >= 0, at most 1; ``allowed`` (cases, hours); ``capacity`` (teams, hours) or
    (hours,); ``team_index`` (cases,) row of ``capacity`` for each case (-1: no team can call it).
    """
    from ortools.graph.python import min_cost_flow

    value = np.asarray(value, dtype=np.float64)
    n, hours = value.shape
    capacity = np.atleast_2d(np.asarray(capacity, dtype=np.int64))
    teams = capacity.shape[0]
    if capacity.shape[1] != hours:
        raise ValueError("capacity must have one column per hour")
    if team_index is None:
        if teams != 1:
            raise ValueError("team_index is needed with more than one team")
        team_index = np.zeros(n, dtype=np.int64)
    team_index = np.asarray(team_index, dtype=np.int64)
    if (value < 0).any() or (value > 1 + 1e-9).any():
        raise ValueError("values must lie in [0, 1]")
    result = np.full(n, -1, dtype=np.int64)
    usable = np.asarray(allowed, dtype=bool) & (team_index[:, None] >= 0)
    usable &= capacity[np.maximum(team_index, 0)] > 0
    ci, hj = np.nonzero(usable)
    if len(ci) == 0:
        return result
    source, sink = 0, 1 + n + teams * hours
    case_node = 1 + np.arange(n)
    th_node = 1 + n + team_index[ci] * hours + hj
    flow = min_cost_flow.SimpleMinCostFlow()
    cost = -np.rint(value[ci, hj] * COST_SCALE).astype(np.int64)
    tails = np.concatenate([np.zeros(n, np.int64), case_node[ci],
                            1 + n + np.arange(teams * hours), [source]])
    heads = np.concatenate([case_node, th_node, np.full(teams * hours, sink), [sink]])
    caps = np.concatenate([np.ones(n, np.int64), np.ones(len(ci), np.int64), capacity.reshape(-1), [n]])
    costs = np.concatenate([np.zeros(n, np.int64), cost, np.zeros(teams * hours, np.int64), [0]])
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n, -n]))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow did not solve the plan (status {status})")
    used = flow.flows(arcs[n:n + len(ci)]) > 0
    result[ci[used]] = hj[used]
    return result


def plan_value(value: np.ndarray, assignment: np.ndarray) -> float:
    rows = np.flatnonzero(assignment >= 0)
    return float(value[rows, assignment[rows]].sum())


# -- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCall:
    case_id: int
    account_ref: str
    contact_point_id: int
    time_zone: str
    team_id: int | None
    #: the bank hour the call is planned in (e.g. 19 = 19:00–20:00 bank time)
    hour: int
    at: datetime
    local_start: datetime
    slot: int
    probability: float
    appointment: bool
    #: 1 = first in its hour (highest weighted probability)
    priority: int
    reason: str


@dataclass(frozen=True)
class DailyPlan:
    day: date
    bank_tz: str
    hours: tuple[int, ...]
    teams: tuple[int | None, ...]
    capacity: np.ndarray
    calls: tuple[PlannedCall, ...]
    #: due cases left out for lack of capacity
    unplanned: tuple[int, ...]
    #: due cases no hour of the day allows (gate, no phone or no team on shift)
    blocked: tuple[int, ...]
    expected_rpc: float
    #: the case-order assignment (-1 = not called), for evaluation
    assignment: np.ndarray = field(repr=False)
    slots: np.ndarray = field(repr=False)

    def calls_by_hour(self) -> dict[int, int]:
        out = dict.fromkeys(self.hours, 0)
        for c in self.calls:
            out[c.hour] += 1
        return out


def appointment_mask(cases: Sequence[DueCase], starts: Sequence[datetime]) -> np.ndarray:
    """True where business hour ``j`` overlaps the appointment window the customer asked for."""
    out = np.zeros((len(cases), len(starts)), dtype=bool)
    for i, case in enumerate(cases):
        a = case.appointment
        if a is None:
            continue
        for j, t in enumerate(starts):
            out[i, j] = a.start < t + timedelta(hours=1) and t < a.end
    return out


def one_call_per_customer(cases: Sequence[DueCase], value: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """One contact budget per person: of a customer's due cases, only the planned one of most value
    keeps its call (the call is with the person, about all their accounts); the others go unplanned.
    The gate allowed each call on the person's history before today's plan, so the day's plan adds at
    most one call to it."""
    out = np.array(assignment, copy=True)
    kept: set[int] = set()
    for i in sorted(np.flatnonzero(out >= 0), key=lambda i: (-value[i, out[i]], cases[i].case_id)):
        if cases[i].customer_id in kept:
            out[i] = -1
        else:
            kept.add(cases[i].customer_id)
    return out


def build_plan(cases: Sequence[DueCase], probabilities: np.ndarray, *, day: date, shifts: Sequence[Shift],
               pack: PackOf, bank_tz: str = "Asia/Shanghai", hours: Sequence[int] = BUSINESS_HOURS,
               calls_per_agent_hour: int = DEFAULT_CALLS_PER_AGENT_HOUR,
               allowed: np.ndarray | None = None,
               explain: Callable[[int, int, bool], str] | None = None) -> DailyPlan:
    """The day's plan for ``cases``.

    ``probabilities`` (cases, 168): each case's RPC probability by customer-local hour of the week
    (:meth:`BestTimeModel.posterior_mean` for planning, :meth:`BestTimeModel.thompson` to explore).
    ``allowed``: a precomputed gate mask (default :func:`allowed_matrix`). ``explain(i, slot, appointment)``
    gives the reason text of case ``i``'s call (default: the probability in words).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (len(cases), SLOTS):
        raise ValueError(f"probabilities must be (cases, {SLOTS})")
    hours = tuple(hours)
    starts = hour_starts(day, bank_tz, hours)
    slots = hour_slots([c.time_zone for c in cases], starts)
    p = np.take_along_axis(probabilities, slots, axis=1) if len(cases) else np.zeros((0, len(hours)))
    appt = appointment_mask(cases, starts)
    p = np.where(appt, APPOINTMENT_PROBABILITY, p)
    weight = np.array([max(float(c.weight), 0.0) for c in cases])
    top = weight.max() if len(weight) else 0.0
    w = weight / top if top > 0 else np.ones(len(cases))
    value = np.clip(w[:, None] * p, 0.0, 1.0)
    ok = allowed_matrix(cases, starts, pack) if allowed is None else np.asarray(allowed, dtype=bool)
    teams = tuple(sorted({s.team_id for s in shifts}, key=lambda t: (t is None, t or 0)))
    cap = capacity_matrix(shifts, hours, calls_per_agent_hour, teams)
    tindex = {t: i for i, t in enumerate(teams)}
    # a case without a team may be called by any team's agents only when there is exactly one team
    team_index = np.array([tindex.get(c.team_id, 0 if len(teams) == 1 and c.team_id is None else -1)
                           for c in cases], dtype=np.int64)
    assignment = solve(value, ok, cap, team_index) if len(cases) else np.zeros(0, np.int64)
    assignment = one_call_per_customer(cases, value, assignment)
    reachable = ok & (team_index[:, None] >= 0) & (cap[np.maximum(team_index, 0)] > 0) if len(cases) else ok
    calls: list[PlannedCall] = []
    order = sorted(np.flatnonzero(assignment >= 0), key=lambda i: (assignment[i], -value[i, assignment[i]],
                                                                     cases[i].case_id))
    rank: dict[int, int] = {}
    for i in order:
        j = int(assignment[i])
        rank[j] = rank.get(j, 0) + 1
        case = cases[i]
        s = int(slots[i, j])
        is_appt = bool(appt[i, j])
        reason = explain(int(i), s, is_appt) if explain else (
            "appointment the customer asked for" if is_appt else f"estimated RPC probability {p[i, j]:.0%}")
        calls.append(PlannedCall(
            case_id=case.case_id, account_ref=case.account_ref, contact_point_id=int(case.contact_point_id or 0),
            time_zone=case.time_zone, team_id=case.team_id, hour=hours[j], at=starts[j],
            local_start=starts[j].astimezone(ZoneInfo(case.time_zone)), slot=s, probability=float(p[i, j]),
            appointment=is_appt, priority=rank[j], reason=reason))
    not_called = np.flatnonzero(assignment < 0)
    blocked = tuple(cases[i].case_id for i in not_called if not reachable[i].any())
    unplanned = tuple(cases[i].case_id for i in not_called if reachable[i].any())
    called = np.flatnonzero(assignment >= 0)
    # the model's estimate, also for appointment hours (not the planner's 1.0)
    expected = float(probabilities[called, slots[called, assignment[called]]].sum()) if len(called) else 0.0
    return DailyPlan(day=day, bank_tz=bank_tz, hours=hours, teams=teams, capacity=cap, calls=tuple(calls),
                     unplanned=unplanned, blocked=blocked, expected_rpc=expected, assignment=assignment, slots=slots)


# -- baselines (for the benchmark) --------------------------------------------------------------------


def fill_from(allowed: np.ndarray, capacity: np.ndarray, first: int, order: np.ndarray | None = None) -> np.ndarray:
    """"Everyone at hour ``first`` first": cases in ``order`` take the first allowed hour with capacity left,
    trying ``first``, ``first + 1``, … then the earlier hours (one team)."""
    n, hours = allowed.shape
    left = np.asarray(capacity, dtype=np.int64).reshape(-1).copy()
    seq = list(range(first, hours)) + list(range(first))
    out = np.full(n, -1, dtype=np.int64)
    for i in (range(n) if order is None else order):
        for j in seq:
            if left[j] > 0 and allowed[i, j]:
                out[i] = j
                left[j] -= 1
                break
    return out


def random_plan(allowed: np.ndarray, capacity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cases in random order, each to a random allowed hour with capacity left (one team)."""
    n, hours = allowed.shape
    left = np.asarray(capacity, dtype=np.int64).reshape(-1).copy()
    out = np.full(n, -1, dtype=np.int64)
    for i in rng.permutation(n):
        open_hours = np.flatnonzero((left > 0) & allowed[i])
        if len(open_hours):
            j = int(rng.choice(open_hours))
            out[i] = j
            left[j] -= 1
    return out


# -- the dialer file ---------------------------------------------------------------------------------


def export_dialer_csv(plan: DailyPlan, path: str | Path) -> int:
    """Write the plan as the dialer's CSV (UTF-8, header row, columns :data:`DIALER_COLUMNS`); returns rows.

    The phone is a contact-point id: the dialer reveals the number through the audited reveal.
    Rows are ordered by scheduled time, then priority.
    """
    rows = sorted(plan.calls, key=lambda c: (c.at, c.priority, c.case_id))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = SafeWriter(fh)  # text cells that would run as formulas in a spreadsheet are escaped
        out.writerow(DIALER_COLUMNS)
        for c in rows:
            out.writerow([c.case_id, c.account_ref, c.contact_point_id, c.local_start.isoformat(timespec="minutes"),
                          c.time_zone, c.priority, c.reason, c.at.astimezone(UTC).isoformat(timespec="minutes")])
    return len(rows)


# -- the day's messages ------------------------------------------------------------------------------

BATCH_CHANNELS = ("sms", "email", "letter")


@dataclass(frozen=True)
class Recipient:
    """Where an account's messages go: contact-point ids by channel (phone for SMS, e-mail, postal address)."""

    account_ref: str
    case_id: int | None = None
    locale: str = "zh_CN"
    sms: int | None = None
    email: int | None = None
    letter: int | None = None


@dataclass
class BatchResult:
    enqueued: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BATCH_CHANNELS, 0))
    already: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BATCH_CHANNELS, 0))
    #: (account_ref or id, strategy step, why)
    skipped: list[tuple[str, int, str]] = field(default_factory=list)


def idempotency_key(day: date, account: str, strategy: str, version: int, segment: str | None, step: int) -> str:
    return f"{day.isoformat()}:{account}:{strategy}:{version}:{segment or ''}:{step}"


def enqueue_message_batches(session: Any, treatments: Any, *, business_date: date,
                            recipients: Mapping[int, Recipient],
                            facts: Mapping[int, Mapping[str, Any]] | None = None) -> BatchResult:
    """Turn the due ``sms``/``email``/``letter`` actions of :func:`arrears.strategy.engine.select_treatments`
    into outbox messages (:func:`arrears.channels.outbox.enqueue`), inside the caller's transaction.

    ``treatments``: the Arrow table (or its rows as dicts); ``recipients`` by account id. The idempotency
    key ``{date}:{account_ref}:{strategy}:{version}:{segment}:{step}`` makes a rerun of the same day
    enqueue nothing new. An action whose account has no contact point for its channel is skipped and
    reported. Delivery (and the gate at the moment of sending) belongs to the outbox worker.
    ``facts`` by account id: the template fields the message states (amounts, dates; see
    :func:`arrears.strategy.repository.message_facts`), added to each payload; a letter also gets a
    ``letter_ref`` made from its idempotency key.
    """
    from arrears.channels.outbox import enqueue

    rows: Iterable[dict[str, Any]] = treatments.to_pylist() if hasattr(treatments, "to_pylist") else treatments
    result = BatchResult()
    for row in rows:
        actions = [a for a in row.get("actions") or [] if a["kind"] in BATCH_CHANNELS]
        if not actions:
            continue
        who = recipients.get(int(row["account_id"]))
        for a in actions:
            account = who.account_ref if who else str(row["account_id"])
            point = getattr(who, a["kind"]) if who else None
            if point is None:
                result.skipped.append((account, int(a["step"]), f"no {a['kind']} contact point"))
                continue
            key = idempotency_key(business_date, account, row["strategy"], int(row["strategy_version"]),
                                  row["segment"], int(a["step"]))
            payload = {**(facts or {}).get(int(row["account_id"]), {}),
                       "account_ref": account, "strategy": row["strategy"],
                       "strategy_version": int(row["strategy_version"]), "segment": row["segment"],
                       "step": int(a["step"]), "business_date": business_date.isoformat()}
            if a["kind"] == "letter":
                payload["letter_ref"] = f"L{business_date:%Y%m%d}-{account}-{int(a['step'])}"
            _, new = enqueue(session, idempotency_key=key, channel=a["kind"], template=a["template"] or a["kind"],
                             locale=who.locale if who else "zh_CN", payload=payload,
                             case_id=who.case_id if who else None, contact_point_id=point)
            (result.enqueued if new else result.already)[a["kind"]] += 1
    return result
