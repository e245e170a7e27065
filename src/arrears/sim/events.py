"""The simulator's event stream: one typed, immutable record per thing that happened.

Events are what a store would record from a real day: contact attempts and their outcomes, gate
blocks, messages, promises, plans, payments, cures and escalations. Every event has an aware UTC
instant (``at``) and the bank's business date it belongs to, so that a later step can write the
stream into the operational store (interactions, promises, plan agreements, payments, tasks) in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    CALL_ATTEMPTED = "call_attempted"      # a call was dialled (it passed the gate); outcome says how it went
    CALL_ANSWERED = "call_answered"        # the debtor answered (a right-party contact); outcome of the talk
    CONTACT_BLOCKED = "contact_blocked"    # the gate refused a call or message; rule_ids say which rules
    MESSAGE_SENT = "message_sent"          # an SMS, e-mail or letter passed the gate and went out
    PROMISE_MADE = "promise_made"          # amount and due date
    PROMISE_KEPT = "promise_kept"
    PROMISE_BROKEN = "promise_broken"
    PLAN_AGREED = "plan_agreed"            # detail: product code, instalments
    INSTALMENT_PAID = "instalment_paid"
    INSTALMENT_MISSED = "instalment_missed"
    PLAN_COMPLETED = "plan_completed"
    PLAN_BROKEN = "plan_broken"
    PAYMENT = "payment"                    # money received: amount in fen; detail "source" says why
    CURED = "cured"                        # the past-due amount is paid: DPD 0
    ROLLED = "rolled"                      # the account moved to a worse bucket; detail from/to
    TASK = "task"                          # review_task for a person
    ESCALATION = "escalation"              # legal_review, agency_placement or charge_off


@dataclass(frozen=True, slots=True)
class SimEvent:
    kind: EventKind
    at: datetime
    business_date: date
    account_id: int
    #: call | sms | email | letter, for contact events
    channel: str | None = None
    #: fen, for payments, promises, plans and instalments
    amount: int | None = None
    #: interaction outcome code (outcomes.yaml) for calls; the action kind for tasks and escalations
    outcome: str | None = None
    #: the gate's blocking rules, for CONTACT_BLOCKED
    rule_ids: tuple[str, ...] = ()
    #: the strategy, segment and step that asked for the action, where one did
    strategy: str | None = None
    segment: str | None = None
    step: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        if self.at.tzinfo is not UTC:
            object.__setattr__(self, "at", self.at.astimezone(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "at": self.at.isoformat(), "business_date": self.business_date.isoformat(),
                "account_id": self.account_id, "channel": self.channel, "amount": self.amount,
                "outcome": self.outcome, "rule_ids": list(self.rule_ids), "strategy": self.strategy,
                "segment": self.segment, "step": self.step, "detail": dict(self.detail)}
