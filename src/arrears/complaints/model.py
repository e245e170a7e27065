"""Complaints on the clock: the rule that sets a complaint's deadline, its states and the moves between
them. Pure: no database, no I/O (the store side is :mod:`arrears.complaints.service`).

**The rule (China).** Under the NFRA's 《银行业保险业消费投诉处理管理办法》 (CBIRC Order 2020 No. 3) a
bank decides a consumer complaint and tells the complainant within 15 days of receiving it; a complex
case may be extended to 30 days, the complainant being told of the extension and why (paraphrase).
The PBOC's 《中国人民银行金融消费者权益保护实施办法》 (PBOC Order 2020 No. 5) holds banks to the same
15 days, extendable for complex cases (paraphrase). docs/complaints.md cites both.

**Days are calendar days**, counted from the day after receipt: the instruments say 日 (days), not
工作日 (working days), and the first day is not counted. A deadline that falls on a rest day is NOT
moved to the next working day: answering earlier is always within the rule, answering later might not
be. The deadline is a business date in the bank's calendar; the clock runs out at the bank's midnight
after it (:func:`due_instant`).

**One extension**, with a reason, while the complaint is unanswered and before its deadline has
passed, to the rule's extended limit (30 days from receipt). A further extension (the NFRA text allows
one more for very complex cases, with senior approval) is outside what this module does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from arrears.kit.errors import ArrearsError

#: How a complaint reached the bank. ``regulator`` = forwarded by a regulator (the NFRA's 12378
#: hotline, the PBOC's 12363 hotline, a local office); its reference goes in ``regulator_ref``.
CHANNELS = ("phone", "letter", "email", "branch", "app", "portal", "agent", "regulator", "other")
#: What the complaint is about.
CATEGORIES = ("collection_conduct", "contact_frequency", "contact_time", "third_party", "fees_interest",
              "amount_disputed", "repayment_plan", "credit_report", "privacy", "agency", "other")
#: Why it happened, recorded when it is answered (with free text).
ROOT_CAUSES = ("agent_conduct", "agency_conduct", "process", "system", "policy", "communication",
               "customer_misunderstanding", "no_fault_found", "other")
STATUSES = ("received", "acknowledged", "investigating", "answered", "closed")
#: States in which the complaint is open: the customer's collection contact is held.
OPEN_STATUSES = ("received", "acknowledged", "investigating", "answered")
#: States from which the deadline still matters (the complaint is not answered yet).
UNANSWERED = ("received", "acknowledged", "investigating")
#: The moves a person makes; ``extend`` and escalation do not change the status.
MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "acknowledge": (("received",), "acknowledged"),
    "investigate": (("received", "acknowledged"), "investigating"),
    "answer": (("received", "acknowledged", "investigating"), "answered"),
    "close": (("answered",), "closed"),
}


class ComplaintError(ArrearsError):
    """A move the complaint's state or the rule does not allow."""

    status = 409


class ComplaintFieldError(ArrearsError):
    """A field of a complaint that is missing or not one of its codes; ``field`` names it."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ComplaintRule:
    """Days to answer a complaint, and the most an extension may give (both from receipt, calendar
    days, the day of receipt not counted)."""

    code: str
    days: int
    extended_days: int
    source: str

    def deadline(self, received_on: date) -> date:
        """The last day to answer a complaint received on ``received_on``."""
        return received_on + timedelta(days=self.days)

    def extended_deadline(self, received_on: date) -> date:
        return received_on + timedelta(days=self.extended_days)


CN_RULE = ComplaintRule(
    code="cn", days=15, extended_days=30,
    source="《银行业保险业消费投诉处理管理办法》(CBIRC Order 2020 No. 3); "
           "《中国人民银行金融消费者权益保护实施办法》(PBOC Order 2020 No. 5)")
RULES = {"cn": CN_RULE}


def received_on(received_at: datetime, bank_tz: str) -> date:
    """The business date (in the bank's zone) on which a complaint received at ``received_at`` arrived."""
    if received_at.tzinfo is None:
        raise ArrearsError("naive datetime refused: times must be timezone-aware")
    return received_at.astimezone(ZoneInfo(bank_tz)).date()


def due_instant(deadline: date, bank_tz: str) -> datetime:
    """The moment the clock runs out: the bank's midnight after the deadline day."""
    return datetime.combine(deadline + timedelta(days=1), time(), ZoneInfo(bank_tz))


def is_overdue(*, status: str, deadline: date, today: date) -> bool:
    """Past its deadline and still unanswered (an answered complaint is never overdue)."""
    return status in UNANSWERED and today > deadline


@dataclass(frozen=True)
class Ageing:
    """How long a complaint has been open (to its answer, else to ``today``), the days left to its
    deadline (negative: past it) and whether it is overdue."""

    days_open: int
    days_left: int
    overdue: bool


def ageing(*, status: str, received: date, deadline: date, answered: date | None, today: date) -> Ageing:
    end = min(answered, today) if answered else today
    return Ageing(max(0, (end - received).days), (deadline - today).days,
                  is_overdue(status=status, deadline=deadline, today=today))


def move(status: str, action: str) -> str:
    """The status after ``action``, or :class:`ComplaintError` when the state does not allow it."""
    if action not in MOVES:
        raise ComplaintError(f"unknown action {action!r}")
    sources, target = MOVES[action]
    if status not in sources:
        raise ComplaintError(f"a complaint that is {status} cannot be {target}")
    return target


def extension(*, rule: ComplaintRule, status: str, received: date, deadline: date, extended: bool,
              today: date) -> date:
    """The new deadline of a complaint extended on ``today``: once, while unanswered, not after the
    deadline has passed, to the rule's extended limit."""
    if extended:
        raise ComplaintError("the complaint has been extended once already")
    if status not in UNANSWERED:
        raise ComplaintError(f"a complaint that is {status} cannot be extended")
    if today > deadline:
        raise ComplaintError("the deadline has passed: an extension is given before it runs out")
    new = rule.extended_deadline(received)
    if new <= deadline:
        raise ComplaintError("the deadline is already at the rule's limit")
    return new


def check_code(value: str, allowed: tuple[str, ...], field: str) -> str:
    """``value`` when it is one of ``allowed``; else :class:`ComplaintFieldError` naming ``field``."""
    if value not in allowed:
        raise ComplaintFieldError(f"{field} must be one of: {', '.join(allowed)}", field=field)
    return value


def per_thousand(complaints: int, accounts: int) -> Decimal | None:
    """Complaints per 1,000 accounts, to one decimal (half-up); None without accounts."""
    if accounts <= 0:
        return None
    return (Decimal(complaints) * 1000 / Decimal(accounts)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
