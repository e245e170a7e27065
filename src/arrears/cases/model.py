"""The case process as pure rules: lifecycle states and transitions, affordability, promise
judgement and what an interaction outcome does. No database, no I/O.

Lifecycle
=========

A case follows one delinquent account through the collections process::

    new ─► contacting ─► investigating ─► negotiating ─► plan_active
                 │              │               │             │ (plan broken)
                 └──────────────┴───────────────┴─────────────┴─► follow_up
    follow_up ─► contacting | negotiating | legal_review | agency_placement | charged_off | closed

    every open state ─► cured   (the daily cycle, when the account is no longer delinquent)
    cured ─► new                (the daily cycle, when the account rolls back into delinquency)
    closed ─► new               (a person reopens a case closed by decision)

``OPEN_STATES`` are the states in which the case still owns its account: at most one case per
account is in one of them (a partial unique index). ``cured`` and ``closed`` are ended states.
``charged_off`` is open on purpose: recovery work continues after a write-off, and the account
can still cure.

Reopening: a cured case reopens in place (same row, ``cured → new``); its transitions, interactions,
investigations and promises stay attached, so the whole story of the account is one case. A case
``closed`` by decision is not reopened by the cycle; only a person can (``closed → new``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from arrears.kit.errors import ArrearsError

STATES = (
    "new", "contacting", "investigating", "negotiating", "plan_active", "follow_up",
    "legal_review", "agency_placement", "charged_off", "closed", "cured",
)
ENDED_STATES = ("cured", "closed")
OPEN_STATES = tuple(s for s in STATES if s not in ENDED_STATES)
#: State of a case the daily cycle has just opened.
INITIAL_STATE = "new"

#: Every allowed move, ``from -> {to, ...}``. Anything not listed is refused.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"contacting", "cured"}),
    "contacting": frozenset({"investigating", "negotiating", "follow_up", "cured"}),
    "investigating": frozenset({"negotiating", "follow_up", "cured"}),
    "negotiating": frozenset({"plan_active", "investigating", "follow_up", "cured"}),
    "plan_active": frozenset({"follow_up", "cured"}),
    "follow_up": frozenset({"contacting", "negotiating", "legal_review", "agency_placement", "charged_off",
                            "closed", "cured"}),
    "legal_review": frozenset({"follow_up", "agency_placement", "charged_off", "closed", "cured"}),
    "agency_placement": frozenset({"follow_up", "legal_review", "charged_off", "closed", "cured"}),
    "charged_off": frozenset({"legal_review", "agency_placement", "closed", "cured"}),
    "cured": frozenset({"new"}),
    "closed": frozenset({"new"}),
}

assert set(TRANSITIONS) == set(STATES) and all(t <= set(STATES) for t in TRANSITIONS.values())
assert all("cured" in TRANSITIONS[s] for s in OPEN_STATES)


class InvalidTransition(ArrearsError):
    """A move the lifecycle does not allow."""

    status = 409


def can_transition(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def check_transition(from_state: str, to_state: str) -> None:
    """Raise :class:`InvalidTransition` unless ``from_state -> to_state`` is in the table."""
    if to_state not in STATES:
        raise InvalidTransition(f"unknown case state {to_state!r}")
    if not can_transition(from_state, to_state):
        allowed = ", ".join(sorted(TRANSITIONS.get(from_state, ()))) or "none"
        raise InvalidTransition(f"a case in {from_state!r} cannot move to {to_state!r} (allowed: {allowed})")


def reachable_states(start: str = INITIAL_STATE) -> frozenset[str]:
    """Every state reachable from ``start`` through the transition table (including ``start``)."""
    seen, todo = {start}, [start]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return frozenset(seen)


def apply_transitions(start: str, attempts: Iterable[str]) -> tuple[str, list[tuple[str, str]]]:
    """Reference walk: try each target in turn; return the final state and the moves that succeeded."""
    state, done = start, []
    for target in attempts:
        if can_transition(state, target):
            done.append((state, target))
            state = target
    return state, done


# -- interactions -------------------------------------------------------------------------------

CHANNELS = ("call", "sms", "email", "letter", "visit", "app", "self_service")
DIRECTIONS = ("outbound", "inbound")
PARTIES = ("debtor", "emergency_contact", "other", "nobody")
HOLD_KINDS = ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")
#: Who an outcome says was on the other end (``party`` of an outcome in outcomes.yaml):
#: ``nobody`` — nobody answered (the interaction's party must be ``nobody``); ``debtor`` — a right-party
#: outcome, a conversation with the cardholder (party ``debtor``); ``third_party`` — someone else
#: (``emergency_contact`` or ``other``); ``any`` — any party (a message left for someone, a wrong number).
OUTCOME_PARTIES = ("nobody", "debtor", "third_party", "any")
_PARTIES_OF = {"nobody": ("nobody",), "debtor": ("debtor",), "third_party": ("emergency_contact", "other"),
               "any": PARTIES}


class PartyMismatch(ArrearsError):
    """The party recorded does not fit the outcome (an unanswered call with a party, a right-party
    outcome without the cardholder). 422, naming the field ``party``."""

    status = 422
    field = "party"

    def __init__(self, outcome: str, party: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"party must be {' or '.join(allowed)} for the outcome {outcome!r}; got {party!r}")
        self.outcome = outcome
        self.party = party
        self.allowed = allowed


@dataclass(frozen=True)
class OutcomeRule:
    """One configured interaction outcome.

    ``hold``: the hold kind the outcome places on the account at once (None = no hold).
    ``pauses_ageing``: whether that hold pauses ageing (a dispute does by default).
    ``stops_contact``: contact stops until a person reviews the outcome.
    ``party``: who the outcome says was reached (:data:`OUTCOME_PARTIES`); only ``debtor`` outcomes
    are conversations with the cardholder (right-party contacts).
    """

    code: str
    labels: Mapping[str, str]
    hold: str | None = None
    pauses_ageing: bool = False
    stops_contact: bool = False
    party: str = "any"

    def allowed_parties(self) -> tuple[str, ...]:
        """The interaction parties this outcome is consistent with."""
        return _PARTIES_OF[self.party]

    def check_party(self, party: str) -> None:
        """Raise :class:`PartyMismatch` unless ``party`` fits this outcome."""
        if party not in self.allowed_parties():
            raise PartyMismatch(self.code, party, self.allowed_parties())

    @property
    def right_party(self) -> bool:
        """A conversation with the cardholder: counted as a contact by every KPI."""
        return self.party == "debtor"

    def label(self, locale: str = "zh_CN") -> str:
        return self.labels.get(locale) or self.labels["zh_CN"]


@dataclass(frozen=True)
class LivingReserve:
    """What a household keeps before anything goes to arrears (fen per month)."""

    base_fen: int = 150_000
    per_dependant_fen: int = 80_000


@dataclass(frozen=True)
class PromiseRules:
    #: days after the promised date a payment still counts
    grace_days: int = 3
    #: a shortfall at or below this many fen still counts as kept
    tolerance_fen: int = 1_000


@dataclass(frozen=True)
class CaseRules:
    outcomes: Mapping[str, OutcomeRule]
    reserve: LivingReserve = LivingReserve()
    promises: PromiseRules = PromiseRules()

    def outcome(self, code: str) -> OutcomeRule:
        try:
            return self.outcomes[code]
        except KeyError:
            raise ArrearsError(f"unknown interaction outcome {code!r} (known: {', '.join(self.outcomes)})") from None

    def right_party_outcomes(self) -> tuple[str, ...]:
        """Codes of the outcomes that are a conversation with the cardholder (``party: debtor``)."""
        return tuple(code for code, rule in self.outcomes.items() if rule.right_party)

    def unanswered_outcomes(self) -> tuple[str, ...]:
        """Codes of the outcomes that mean nobody answered (``party: nobody``)."""
        return tuple(code for code, rule in self.outcomes.items() if rule.party == "nobody")


# -- investigation ------------------------------------------------------------------------------

CAUSES = ("job_loss", "illness", "business_trouble", "over_indebted", "forgot", "dispute", "fraud", "other")
#: willingness to pay: 1 refuses outright … 5 wants to settle now
WILLINGNESS = (1, 2, 3, 4, 5)


def affordable_monthly(
    *, income: int, essential: int, other_debts: int, dependants: int, reserve: LivingReserve
) -> int:
    """What the customer can pay towards the arrears each month, in fen::

        affordable = max(0, income − essential − other_debts
                            − reserve.per_dependant_fen × dependants − reserve.base_fen)

    Every input is integer fen (``dependants`` a head count); the result is exact, no rounding.
    """
    for name, value in (("income", income), ("essential", essential), ("other_debts", other_debts),
                        ("dependants", dependants)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ArrearsError(f"{name} must be a whole number of fen, got {value!r}")
        if value < 0:
            raise ArrearsError(f"{name} must be >= 0, got {value}")
    left = income - essential - other_debts - reserve.per_dependant_fen * dependants - reserve.base_fen
    return max(0, left)


# -- promises to pay ----------------------------------------------------------------------------

PROMISE_STATUSES = ("open", "kept", "partly_kept", "broken")


@dataclass(frozen=True)
class PromiseJudgement:
    status: str  # one of PROMISE_STATUSES
    paid: int


def promise_window(*, created_on: date, promised_date: date, grace_days: int) -> tuple[date, date]:
    """Value dates that count towards a promise, both ends inclusive."""
    return created_on, promised_date + timedelta(days=grace_days)


def judge_promise(
    *,
    amount: int,
    created_on: date,
    promised_date: date,
    payments: Iterable[tuple[date, int]],
    as_of: date,
    rules: PromiseRules,
) -> PromiseJudgement:
    """Judge a promise on ``as_of`` from the account's payments ``(value_date, fen)``.

    Payments with value dates from the promise's creation through ``promised_date + grace`` count.
    kept: paid >= amount − tolerance (known as soon as it happens); otherwise, once the window has
    passed (``as_of`` after its last day): partly_kept when something was paid, broken when nothing
    was. Before then the promise stays open.
    """
    first, last = promise_window(created_on=created_on, promised_date=promised_date, grace_days=rules.grace_days)
    paid = sum(fen for value_date, fen in payments if first <= value_date <= last and value_date <= as_of)
    if paid >= amount - rules.tolerance_fen:
        return PromiseJudgement("kept", paid)
    if as_of <= last:
        return PromiseJudgement("open", paid)
    return PromiseJudgement("partly_kept" if paid > 0 else "broken", paid)


# -- appointments -------------------------------------------------------------------------------

APPOINTMENT_STATUSES = ("scheduled", "done", "missed", "cancelled")
TASK_STATUSES = ("open", "done", "cancelled")
REVIEW_STATUSES = ("pending", "reviewed")
