"""Strategies as plain data: segments (a condition each) and their treatment paths (timed actions).

A strategy is read top to bottom: an account belongs to the FIRST segment whose condition is true
(NULL counts as not true). The last segment is a catch-all (no condition), or the strategy says
``otherwise: no_treatment`` and accounts matching nothing get no segment and no action.

A segment's path is a list of actions, each due on a day counted from the day the account entered
the segment (day 0 = the entry day); an action may repeat (``every`` N days, ``until`` a day) and
may carry its own condition, checked on the day it falls due. An empty path is an explicit "no
treatment" for that segment (an account on hold, for instance).

No database, no I/O: the conditions are parsed SQLGlot expressions (:mod:`arrears.strategy.conditions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from arrears.strategy.conditions import Condition

#: What an action can be, in the order of escalation.
ACTION_KINDS = (
    "sms", "email", "portal_link", "letter", "call_queue", "review_task", "legal_review", "agency_placement", "charge_off",
)
#: Kinds that send a message and so need a template; kinds that put work on a queue.
MESSAGE_KINDS = ("sms", "email", "letter")
QUEUE_KINDS = ("call_queue", "review_task", "legal_review", "agency_placement", "charge_off")
#: ``portal_link`` sends the cardholder their personal self-service link, by one of these channels
#: (docs/strategy.md, "Sending the personal link").
LINK_KIND = "portal_link"
LINK_CHANNELS = ("sms", "email")
#: Longest path we accept, in days from segment entry (ten years).
MAX_DAY = 3650
PRIORITIES = range(1, 10)
DEFAULT_PRIORITY = 5


@dataclass(frozen=True)
class Action:
    """One step of a treatment path. ``step`` is its 1-based position in the segment's path."""

    step: int
    kind: str
    day: int
    when: Condition | None = None
    every: int | None = None
    until: int | None = None
    template: str | None = None
    queue: str | None = None
    priority: int = DEFAULT_PRIORITY
    note: str | None = None
    #: the channel a ``portal_link`` action sends the link by (sms or email)
    channel: str | None = None

    def due_on(self, days_in: int) -> bool:
        """Whether the action falls due ``days_in`` days after segment entry (its condition aside)."""
        if days_in < self.day:
            return False
        if self.every is None:
            return days_in == self.day
        return (days_in - self.day) % self.every == 0 and (self.until is None or days_in <= self.until)

    def next_day(self, from_day: int) -> int | None:
        """The first day at or after ``from_day`` (days since entry) the action falls due, or None."""
        if from_day <= self.day:
            return self.day
        if self.every is None:
            return None
        steps = -(-(from_day - self.day) // self.every)
        day = self.day + steps * self.every
        return day if self.until is None or day <= self.until else None

    def describe(self) -> str:
        what = self.kind
        if self.template:
            what += f" template={self.template}"
        if self.queue:
            what += f" queue={self.queue}"
        if self.channel:
            what += f" channel={self.channel}"
        if self.priority != DEFAULT_PRIORITY:
            what += f" priority={self.priority}"
        timing = f"day {self.day}"
        if self.every is not None:
            timing += f", every {self.every} days" + (f" until day {self.until}" if self.until is not None else "")
        cond = f" when {self.when.duckdb}" if self.when else ""
        return f"{timing}: {what}{cond}"


@dataclass(frozen=True)
class Segment:
    code: str
    #: None = catch-all (every account that reaches it)
    when: Condition | None
    path: tuple[Action, ...]
    description: str | None = None

    @property
    def condition_text(self) -> str | None:
        return self.when.text if self.when else None


@dataclass(frozen=True)
class Strategy:
    name: str
    version: int
    segments: tuple[Segment, ...]
    #: True when the last segment is not a catch-all: accounts matching nothing get no treatment
    no_treatment_otherwise: bool = False
    description: str | None = None
    #: champion/challenger splits (not yet: see docs/experiments.md)
    experiments: tuple[()] = field(default=())
    file: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    def segment(self, code: str) -> Segment:
        for s in self.segments:
            if s.code == code:
                return s
        raise KeyError(code)


def days_in_segment(business_date: date, since: date) -> int:
    return (business_date - since).days


def action_date(since: date, day: int) -> date:
    return since + timedelta(days=day)
