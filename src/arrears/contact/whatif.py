""""What if": a proposed policy pack tried on the stored contact history and, through the simulator,
forward in time, before anybody changes a rule (``arrears policy whatif``, docs/compliance.md).

Replay. Every outbound contact stored in the window (interactions on the gated channels: call, sms,
email, letter, visit, app; and calls dialled whose outcome no interaction records, as unanswered
calls — the gate counts them too) is put to the gate twice, in time order per customer:

- under the **current** pack, with the history as it happened (every earlier contact counts);
- under the **proposed** pack, with the history as it would have been: a contact the proposed pack
  blocks did not happen, so it does not count in any later count (attempts a day, conversations,
  per-person limits). Contacts before the window (:data:`LOOKBACK_DAYS`) count as they happened.

The facts the store keeps are read as they stood at each contact: holds, appointment windows and the
debtor's agreement to them, a refusal recorded for the contact point, a field visit's record, the
debtor's numbers still valid when someone else was contacted, and the Regulation F facts (a written
cease request, the workplace flags, the limitation date, the first communication). The facts it does not keep per contact
— the call was recorded, a voicemail had the limited content, an electronic message carried the
opt-out notice and the debt-collector disclosure, a letter was sealed, nothing about the debt was said
to someone other than the debtor, a visit without a record had two collectors who did not enter — are
taken as they were required: the contact went through the gate when it was made. A
contact with the debtor is taken as for collection, one with anyone else as to re-establish contact. The
replay therefore measures what the pack's timing, counting, party and hold rules would have done.
The customer's own wishes (contact preferences) are the same under every pack and are not replayed.

A contact the proposed pack blocks loses its outcome: a right-party contact (:data:`RPC_OUTCOMES`),
the promises recorded on it (a ``promise_to_pay`` outcome without a promise row counts as one, of
unknown amount), a complaint.

Forward. The simulator (:func:`arrears.sim.simulate.simulate`) runs the same synthetic book, the same
strategies and the same seed under each pack, so the difference is the pack's. The simulator has no
complaints of its own: expected complaints are the simulated contacts weighted by the complaint rate
per contact at each customer-local hour seen in the replayed history (a contact whose outcome was
``complaint``), shrunk toward the window's overall rate (:data:`RATE_STRENGTH` contacts of weight).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.accounts.tables import Hold as LedgerHold
from arrears.cases.tables import Appointment as CaseAppointment
from arrears.cases.tables import Case, Interaction, Promise
from arrears.config import get_settings
from arrears.contact.besttime import RPC_OUTCOMES
from arrears.contact.cn_records import debtor_numbers
from arrears.contact.cn_tables import AppointmentAgreement, ContactRefusal, VisitRecord
from arrears.contact.config import PACK_NAMES, load_default_pack
from arrears.contact.packchoice import LAYER_NAMES, base_pack_name, layers_for, load_layer, merge, pack_for
from arrears.contact.policy import (
    CHANNELS,
    Appointment,
    Attempt,
    ContactCandidate,
    Decision,
    Hold,
    PolicyPack,
    gate,
    local_instant,
    zone,
)
from arrears.contact.regf import candidate_facts
from arrears.contact.repository import PERSON_HOLD_KINDS
from arrears.contact.service import GATE_PARTY, HISTORY_PARTY, NOT_A_CONVERSATION
from arrears.dialler.tables import DiallerCall
from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan

#: Days before the window whose contacts are read as history (longer than any window in the packs).
LOOKBACK_DAYS = 31
#: Weight, in contacts, of the window's overall complaint rate in each hour's rate.
RATE_STRENGTH = 50
_GATED = frozenset(CHANNELS)
_CHUNK = 5_000


@dataclass(frozen=True)
class StoredContact:
    """One outbound contact as stored: the interaction, whom it was for and what came of it."""

    #: the interaction, or None for a dialled call no interaction records (``dialler_call_id``)
    interaction_id: int | None
    case_id: int
    account_id: int
    account_ref: str
    customer_id: int
    time_zone: str
    at: datetime
    channel: str
    #: the gate's party the contact was meant for (the contact point's owner, else who was reached)
    party: str
    #: who was reached (interaction party)
    reached: str
    outcome: str
    promises: int = 0
    promised_fen: int = 0
    dialler_call_id: int | None = None
    contact_point_id: int | None = None
    #: a refusal of further contact was recorded for this contact point before the contact
    refused: bool = False
    #: a field visit's record: (collectors, entered, entry consent); None: none recorded
    visit: tuple[int, bool, bool] | None = None
    #: for a contact with anyone but the debtor: the debtor's numbers still thought valid at the time
    debtor_numbers: tuple[str, ...] | None = None
    #: the Regulation F facts the store keeps (:func:`arrears.contact.regf.candidate_facts`)
    regf: tuple[tuple[str, Any], ...] = ()
    #: what chooses the customer's pack (:func:`arrears.contact.packchoice.pack_for`)
    product: str | None = None
    jurisdiction: str | None = None

    @property
    def conversation(self) -> bool:
        return self.channel == "call" and self.reached == "debtor" and self.outcome not in NOT_A_CONVERSATION

    @property
    def right_party(self) -> bool:
        return self.outcome in RPC_OUTCOMES

    def attempt(self) -> Attempt:
        return Attempt(at=self.at, channel=self.channel, party=self.party, conversation=self.conversation,
                       account_id=self.account_ref, party_ref=self.ref)

    @property
    def ref(self) -> str | None:
        """The contact point as the gate names a person (``party_ref``)."""
        return None if self.contact_point_id is None else str(self.contact_point_id)


@dataclass(frozen=True)
class StoredHistory:
    """The contacts of the window, and what the gate needs around them."""

    since: datetime
    until: datetime
    contacts: tuple[StoredContact, ...]
    #: contacts in the lookback before ``since``, per customer, oldest first
    earlier: dict[int, tuple[StoredContact, ...]]
    #: holds per account: (customer id, hold)
    holds: dict[int, tuple[Hold, ...]]
    #: person holds (bankruptcy, deceased) per customer: (account id, hold)
    person_holds: dict[int, tuple[tuple[int, Hold], ...]]
    #: appointment windows per case (not cancelled): start, end, the debtor's agreement on record
    appointments: dict[int, tuple[tuple[datetime, datetime, bool], ...]]


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    ids = list(ids)
    return [ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def read_history(engine: Engine, *, first: date, last: date, bank_tz: str) -> StoredHistory:
    """The outbound contacts stored on business dates ``first`` … ``last`` (the bank's calendar,
    inclusive), with the lookback history, holds and appointment windows of their customers."""
    btz = zone(bank_tz)
    since = local_instant(btz, first)
    until = local_instant(btz, last + timedelta(days=1))
    lookback = since - timedelta(days=LOOKBACK_DAYS)
    with Session(engine) as session:
        rows = session.execute(
            select(Interaction.id, Case.id, Account.id, Account.account_ref, Customer.id, Customer.time_zone,
                   Interaction.started_at, Interaction.channel, Interaction.party, Interaction.outcome,
                   ContactPoint.owner, Interaction.contact_point_id, Account.product, Customer.jurisdiction)
            .join(Case, Case.id == Interaction.case_id).join(Account, Account.id == Case.account_id)
            .join(Customer, Customer.id == Account.customer_id)
            .outerjoin(ContactPoint, ContactPoint.id == Interaction.contact_point_id)
            .where(Interaction.direction == "outbound", Interaction.channel.in_(sorted(_GATED)),
                   Interaction.started_at >= lookback, Interaction.started_at < until)
            .order_by(Interaction.started_at, Interaction.id)).all()
        # a call dialled whose outcome no interaction records is an attempt all the same (as in the gate)
        dialled = session.execute(
            select(DiallerCall.id, Case.id, Account.id, Account.account_ref, Customer.id, Customer.time_zone,
                   DiallerCall.requested_at, ContactPoint.owner, DiallerCall.contact_point_id, Account.product,
                   Customer.jurisdiction)
            .join(Case, Case.id == DiallerCall.case_id).join(Account, Account.id == Case.account_id)
            .join(Customer, Customer.id == Account.customer_id)
            .join(ContactPoint, ContactPoint.id == DiallerCall.contact_point_id)
            .where(DiallerCall.interaction_id.is_(None), DiallerCall.requested_at >= lookback,
                   DiallerCall.requested_at < until)
            .order_by(DiallerCall.requested_at, DiallerCall.id)).all()
        in_window = [r[0] for r in rows if r[6] >= since]
        customers_seen = {r[4] for r in rows if r[6] >= since} | {r[4] for r in dialled if r[6] >= since}
        promises: dict[int, tuple[int, int]] = {}
        for part in _chunks(in_window):
            for iid, n, amount in session.execute(
                    select(Promise.interaction_id, func.count(Promise.id), func.coalesce(func.sum(Promise.amount), 0))
                    .where(Promise.interaction_id.in_(part)).group_by(Promise.interaction_id)):
                promises[int(iid)] = (int(n), int(amount))
        window_customers = sorted(customers_seen)
        holds: dict[int, list[Hold]] = defaultdict(list)
        person: dict[int, list[tuple[int, Hold]]] = defaultdict(list)

        def hold(kind: str, start: date, end: date | None) -> Hold:
            return Hold(kind, local_instant(btz, start),
                        None if end is None else local_instant(btz, end + timedelta(days=1)))

        for part in _chunks(window_customers):
            for cust, acc, kind, start, end in session.execute(
                    select(Account.customer_id, LedgerHold.account_id, LedgerHold.kind, LedgerHold.start_date,
                           LedgerHold.end_date).join(Account, Account.id == LedgerHold.account_id)
                    .where(Account.customer_id.in_(part)).order_by(LedgerHold.start_date, LedgerHold.id)):
                h = hold(kind, start, end)
                holds[acc].append(h)
                if kind in PERSON_HOLD_KINDS:
                    person[cust].append((acc, h))
        window_cases = sorted({r[1] for r in rows if r[6] >= since} | {r[1] for r in dialled if r[6] >= since})
        appointments: dict[int, list[tuple[datetime, datetime, bool]]] = defaultdict(list)
        for part in _chunks(window_cases):
            for cid, start, end, agreed in session.execute(
                    select(CaseAppointment.case_id, CaseAppointment.window_start, CaseAppointment.window_end,
                           AppointmentAgreement.appointment_id)
                    .outerjoin(AppointmentAgreement, AppointmentAgreement.appointment_id == CaseAppointment.id)
                    .where(CaseAppointment.case_id.in_(part), CaseAppointment.status != "cancelled",
                           CaseAppointment.window_end > lookback, CaseAppointment.window_start < until)
                    .order_by(CaseAppointment.window_start, CaseAppointment.id)):
                appointments[cid].append((start, end, agreed is not None))
        points = sorted({r[11] for r in rows if r[11] is not None} | {r[8] for r in dialled if r[8] is not None})
        refusals: dict[int, datetime] = {}
        for part in _chunks(points):
            for cp, at in session.execute(select(ContactRefusal.contact_point_id, ContactRefusal.refused_at)
                                          .where(ContactRefusal.contact_point_id.in_(part))):
                refusals[cp] = at
        visits: dict[int, tuple[int, bool, bool]] = {}
        for part in _chunks(in_window):
            for iid, n, entered, consent in session.execute(
                    select(VisitRecord.interaction_id, VisitRecord.collectors, VisitRecord.entered,
                           VisitRecord.entry_consent).where(VisitRecord.interaction_id.in_(part))):
                visits[iid] = (n, bool(entered), bool(consent))
        # who the debtor's valid numbers were when someone else was contacted (the gate asks the same)
        numbers = {r[0]: debtor_numbers(session, r[4], before=r[6]) for r in rows
                   if r[6] >= since and r[10] is not None and r[10] != "debtor"}
        # the written cease request, the workplace flags, the limitation date (one look-up per person,
        # account, contact point and channel)
        regf: dict[tuple[int, int, int | None, str], tuple[tuple[str, Any], ...]] = {}
        for r in [*rows, *((*d[:7], "call", "", "", *d[7:]) for d in dialled)]:
            key = (r[4], r[2], r[11], r[7])
            if r[6] >= since and key not in regf:
                regf[key] = tuple(sorted(candidate_facts(session, customer_id=r[4], account_id=r[2],
                                                         contact_point_id=r[11], channel=r[7],
                                                         bank_tz=bank_tz).items()))
    contacts: list[StoredContact] = []
    earlier: dict[int, list[StoredContact]] = defaultdict(list)
    def refused_by(cp: int | None, at: datetime) -> bool:
        return cp is not None and cp in refusals and refusals[cp] < at

    for iid, case_id, acc, ref, cust, tz, at, channel, reached, outcome, owner, cp, product, where in rows:
        party = GATE_PARTY.get(owner, "third_party") if owner is not None else HISTORY_PARTY.get(reached, "third_party")
        n, amount = promises.get(iid, (0, 0))
        if n == 0 and outcome == "promise_to_pay":
            n = 1
        contact = StoredContact(iid, case_id, acc, ref, cust, tz or bank_tz, at, channel, party, reached, outcome,
                                n, amount, contact_point_id=cp, refused=refused_by(cp, at), visit=visits.get(iid),
                                debtor_numbers=numbers.get(iid), regf=regf.get((cust, acc, cp, channel), ()),
                                product=product, jurisdiction=where)
        (contacts if at >= since else earlier[cust]).append(contact)
    for did, case_id, acc, ref, cust, tz, at, owner, cp, product, where in dialled:
        contact = StoredContact(None, case_id, acc, ref, cust, tz or bank_tz, at, "call",
                                GATE_PARTY.get(owner, "third_party"), "nobody", "no_answer", dialler_call_id=did,
                                contact_point_id=cp, refused=refused_by(cp, at),
                                regf=regf.get((cust, acc, cp, "call"), ()), product=product, jurisdiction=where)
        (contacts if at >= since else earlier[cust]).append(contact)
    contacts.sort(key=lambda c: c.at)
    for past in earlier.values():
        past.sort(key=lambda c: c.at)
    return StoredHistory(since=since, until=until, contacts=tuple(contacts),
                         earlier={k: tuple(v) for k, v in earlier.items()},
                         holds={k: tuple(v) for k, v in holds.items()},
                         person_holds={k: tuple(v) for k, v in person.items()},
                         appointments={k: tuple(v) for k, v in appointments.items()})


# -- replay -----------------------------------------------------------------------------------------


def _purpose(c: StoredContact) -> str:
    """The store keeps no purpose per contact: the debtor is contacted to collect, anyone else (an
    emergency contact, a third party) to re-establish contact with the debtor (失联修复)."""
    return "collection" if c.party == "debtor" else "reestablish_contact"


def _candidate(c: StoredContact, history: StoredHistory, attempts: tuple[Attempt, ...]) -> ContactCandidate:
    holds = (*history.holds.get(c.account_id, ()),
             *(h for acc, h in history.person_holds.get(c.customer_id, ()) if acc != c.account_id))
    window = next(((a, b, agreed) for a, b, agreed in history.appointments.get(c.case_id, ()) if a <= c.at < b),
                  None)
    collectors, entered, consent = c.visit or (2, False, False)
    return ContactCandidate(
        at=c.at, channel=c.channel, party=c.party, purpose=_purpose(c), tz=c.time_zone, account_id=c.account_ref,
        party_ref=c.ref, recorded=True, voicemail_limited=True, opt_out_notice=True,
        discloses_debt=c.party == "debtor", attempts=attempts, holds=holds,
        appointment=Appointment(*window) if window else None, refused=c.refused,
        debtor_numbers=c.debtor_numbers, collectors=collectors, entered=entered, entry_consent=consent,
        collector_disclosure="full", letter_format="sealed", envelope_text="return_address", **dict(c.regf))


#: A pack for every contact, or a function choosing each contact's pack.
PackOf = PolicyPack | Callable[[StoredContact], PolicyPack]


def customer_pack(c: StoredContact) -> PolicyPack:
    """The pack the customer's contacts are judged by today: the product's or the country's, with the
    state and city layers of the customer's jurisdiction (:func:`arrears.contact.packchoice.pack_for`)."""
    return pack_for(c.product, c.jurisdiction)


def in_place_of(proposed: PolicyPack) -> Callable[[StoredContact], PolicyPack]:
    """Each customer's pack with ``proposed`` in place of the base pack or layer of the same name;
    customers whose packs do not include that name keep theirs. ``ArrearsError`` when no pack in use
    has the name."""
    if proposed.name not in (*PACK_NAMES, *LAYER_NAMES):
        raise ArrearsError(f"the proposed pack {proposed.name!r} takes the place of no pack in use: name it after "
                           f"the pack or layer it changes ({', '.join((*PACK_NAMES, *LAYER_NAMES))}), or compare "
                           "it with one pack for every contact (--current)")
    products = get_settings().product_packs
    cache: dict[tuple[str, tuple[str, ...]], PolicyPack] = {}

    def of(c: StoredContact) -> PolicyPack:
        base, layers = base_pack_name(c.product, c.jurisdiction, products), layers_for(c.jurisdiction)
        key = (base, layers)
        if key not in cache:
            if proposed.name != base and proposed.name not in layers:
                cache[key] = pack_for(c.product, c.jurisdiction, products)
            else:
                try:
                    cache[key] = merge(proposed if proposed.name == base else load_default_pack(base),
                                       tuple(proposed if n == proposed.name else load_layer(n) for n in layers))
                except ValueError as exc:
                    raise ArrearsError(f"the proposed pack {proposed.name!r}: {exc}") from None
        return cache[key]

    return of


def replay(history: StoredHistory, pack: PackOf, *, as_it_would_have_been: bool) -> list[Decision]:
    """The gate's decision on every contact of ``history`` (in its order) under ``pack`` (one pack, or
    a function giving each contact's pack).

    ``as_it_would_have_been``: a contact the pack blocks is left out of the history of later contacts
    (the proposed pack); False: every stored contact counts, as it happened (the current pack)."""
    by_customer: dict[int, list[Attempt]] = {cust: [c.attempt() for c in past]
                                             for cust, past in history.earlier.items()}
    out: list[Decision] = []
    for c in history.contacts:
        past = by_customer.setdefault(c.customer_id, [])
        horizon = c.at - timedelta(days=LOOKBACK_DAYS)
        past[:] = [a for a in past if a.at > horizon]  # the contacts come in time order: drop what has aged out
        decision = gate(_candidate(c, history, tuple(past)), pack if isinstance(pack, PolicyPack) else pack(c))
        if decision.allowed or not as_it_would_have_been:
            past.append(c.attempt())
        out.append(decision)
    return out


@dataclass
class Tally:
    """Blocked contacts and what they would have lost."""

    contacts: int = 0
    right_party: int = 0
    promises: int = 0
    promised_fen: int = 0
    complaints: int = 0

    def add(self, c: StoredContact) -> None:
        self.contacts += 1
        self.right_party += int(c.right_party)
        self.promises += c.promises
        self.promised_fen += c.promised_fen
        self.complaints += int(c.outcome == "complaint")

    def to_dict(self) -> dict[str, Any]:
        return {"contacts": self.contacts, "right_party_contacts": self.right_party, "promises": self.promises,
                "promised_fen": self.promised_fen, "complaints": self.complaints}


@dataclass
class ReplayReport:
    """The replay of the window under both packs."""

    first: date
    last: date
    current: str
    proposed: str
    contacts: Tally = field(default_factory=Tally)
    #: blocked under each pack
    blocked_current: Tally = field(default_factory=Tally)
    blocked_proposed: Tally = field(default_factory=Tally)
    #: blocked by the proposed pack, allowed by the current one (what the change takes away)
    newly_blocked: Tally = field(default_factory=Tally)
    #: allowed by the proposed pack, blocked by the current one (what the change gives back)
    newly_allowed: Tally = field(default_factory=Tally)
    #: contacts blocked by the proposed pack: by rule id (once per rule that blocked), channel, local hour
    by_rule: Counter[str] = field(default_factory=Counter)
    by_rule_current: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_hour: Counter[int] = field(default_factory=Counter)
    #: every contact blocked by the proposed pack
    blocked: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(), "to": self.last.isoformat(), "current_pack": self.current,
            "proposed_pack": self.proposed, "contacts": self.contacts.to_dict(),
            "blocked_current": self.blocked_current.to_dict(), "blocked_proposed": self.blocked_proposed.to_dict(),
            "newly_blocked": self.newly_blocked.to_dict(), "newly_allowed": self.newly_allowed.to_dict(),
            "blocked_by_rule": dict(sorted(self.by_rule.items())),
            "blocked_by_rule_current": dict(sorted(self.by_rule_current.items())),
            "blocked_by_channel": dict(sorted(self.by_channel.items())),
            "blocked_by_local_hour": {f"{h:02d}": n for h, n in sorted(self.by_hour.items())},
            "blocked_contacts": self.blocked,
        }


def _label(pack: PackOf, what: str) -> str:
    return f"{pack.name} {pack.version}" if isinstance(pack, PolicyPack) else what


def compare_history(history: StoredHistory, current: PackOf, proposed: PackOf, *, first: date,
                    last: date, labels: tuple[str, str] | None = None) -> ReplayReport:
    """Replay ``history`` under the current pack (as it happened) and the proposed pack (as it would
    have been) and tally the contacts the proposed pack blocks and what came of them."""
    now = replay(history, current, as_it_would_have_been=False)
    then = replay(history, proposed, as_it_would_have_been=True)
    cur, pro = labels or (_label(current, "each customer's pack"), _label(proposed, "proposed"))
    report = ReplayReport(first, last, cur, pro)
    for c, a, b in zip(history.contacts, now, then, strict=True):
        report.contacts.add(c)
        if not a.allowed:
            report.blocked_current.add(c)
            report.by_rule_current.update(x.rule_id for x in a.blocks)
        if b.allowed:
            if not a.allowed:
                report.newly_allowed.add(c)
            continue
        report.blocked_proposed.add(c)
        if a.allowed:
            report.newly_blocked.add(c)
        rules = [x.rule_id for x in b.blocks]
        report.by_rule.update(rules)
        report.by_channel[c.channel] += 1
        local = c.at.astimezone(zone(c.time_zone))
        report.by_hour[local.hour] += 1
        report.blocked.append({
            "interaction_id": c.interaction_id, "dialler_call_id": c.dialler_call_id, "case_id": c.case_id,
            "at": c.at.isoformat(),
            "local_time": local.isoformat(), "channel": c.channel, "party": c.party, "outcome": c.outcome,
            "rules": rules, "blocked_by_current_pack": not a.allowed, "promises": c.promises,
            "promised_fen": c.promised_fen})
    return report


# -- complaints per contact -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintRates:
    """Complaints per contact at each customer-local hour (0–23), from the replayed history."""

    overall: float
    by_hour: tuple[float, ...]
    contacts: int
    complaints: int

    def at(self, local_hour: int) -> float:
        return self.by_hour[local_hour]


def complaint_rates(contacts: Iterable[StoredContact], strength: int = RATE_STRENGTH) -> ComplaintRates:
    """Each hour's complaint rate, shrunk toward the overall rate by ``strength`` contacts of weight."""
    n = [0] * 24
    k = [0] * 24
    for c in contacts:
        h = c.at.astimezone(zone(c.time_zone)).hour
        n[h] += 1
        k[h] += int(c.outcome == "complaint")
    total, comp = sum(n), sum(k)
    overall = comp / total if total else 0.0
    by_hour = tuple((k[h] + strength * overall) / (n[h] + strength) if n[h] + strength else overall
                    for h in range(24))
    return ComplaintRates(overall, by_hour, total, comp)


# -- forward ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forward:
    """One simulated run under one pack."""

    pack: str
    recovered_fen: int
    recovery_rate: float
    cure_rate: float
    calls: int
    right_party_contacts: int
    messages: int
    promises: int
    contacts_blocked: int
    expected_complaints: float

    def to_dict(self) -> dict[str, Any]:
        return {"pack": self.pack, "recovered_fen": self.recovered_fen,
                "recovered_yuan": format_yuan(self.recovered_fen).replace(",", ""),
                "recovery_rate": self.recovery_rate, "cure_rate": self.cure_rate, "calls": self.calls,
                "right_party_contacts": self.right_party_contacts, "messages": self.messages,
                "promises": self.promises, "contacts_blocked": self.contacts_blocked,
                "expected_complaints": round(self.expected_complaints, 2)}


def forward(pack: PolicyPack, *, strategies: Sequence[Any], days: int, accounts: int, seed: int, start: date,
            rates: ComplaintRates, agent_hours: Sequence[int] | None = None) -> Forward:
    """Simulate ``accounts`` synthetic accounts (drawn from ``seed``) for ``days`` days under ``pack``,
    agents calling at ``agent_hours`` of the bank's clock (default: the simulator's 08:00–21:00)."""
    from arrears.sim.behaviour import synthetic_customers
    from arrears.sim.events import EventKind
    from arrears.sim.simulate import simulate

    customers = synthetic_customers(accounts, seed=seed)
    more = {} if agent_hours is None else {"agent_hours": tuple(agent_hours)}
    result = simulate(customers, strategies, days=days, start=start, seed=seed, pack=pack, keep_events=True, **more)
    zones = {int(a): str(z) for a, z in zip(customers.account_id.tolist(), customers.time_zone.tolist(), strict=True)}
    expected = 0.0
    for e in result.events:
        if e.kind in (EventKind.CALL_ATTEMPTED, EventKind.MESSAGE_SENT):
            expected += rates.at(e.at.astimezone(zone(zones[e.account_id])).hour)
    t = result.report.total
    return Forward(pack=f"{pack.name} {pack.version}", recovered_fen=t.recovered, recovery_rate=t.recovery_rate,
                   cure_rate=t.cure_rate, calls=t.calls_attempted, right_party_contacts=t.calls_answered,
                   messages=t.sms + t.email + t.letter, promises=t.promises_made,
                   contacts_blocked=t.contacts_blocked, expected_complaints=expected)


__all__ = ["ComplaintRates", "Forward", "PackOf", "ReplayReport", "StoredContact", "StoredHistory", "Tally",
           "compare_history", "complaint_rates", "customer_pack", "forward", "in_place_of", "read_history", "replay"]
