"""The self-service funnel: personal links sent → opened → verified → acted, and what the cardholders
did, by bucket and by strategy, for the links sent in a window of dates (docs/self-service.md,
"Sending the link and measuring it").

Definitions:

- **sent** — personal links made in the window (bank dates of ``portal_links.created_at``), whoever
  made them (a strategy step, an agent, the command line) and whichever way (``channel``: sms, email,
  or none when the link was printed);
- **opened** — links whose page was opened at least once; **verified** — links whose visitor proved
  who they are; **acted** — links through which the cardholder did something (``acted_at``). A stage
  counts every link that reached it or a later one, so sent ≥ opened ≥ verified ≥ acted always;
- **what was done** — per kind (paid, plan, promise, call-back, told us, preferences) the links
  through which the cardholder did it at least once (the audit records ``portal.payment``,
  ``portal.plan``, ``portal.promise``, ``portal.callback``, ``portal.tell``, ``portal.preferences``
  name the link). A link that did two things counts once in each kind and once in *acted*;
- **bucket** — the account's bucket on the day the link was sent (its latest current delinquency
  snapshot on or before that day; the first bucket, current, without one);
- **strategy** — the strategy that sent the link (``created_by`` ``strategy:<name>/…``), else the
  strategy the daily step had the account in on that day (its latest decision on or before that day
  within :data:`DECISION_LOOKBACK` days), else ``none``.

Rates are basis points of the stage before (opened of sent, verified of opened, acted of verified)
and, overall, acted of sent. A team lead sees the links of accounts whose case is their team's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Case
from arrears.delinquency.tables import DelinquencySnapshot
from arrears.portal.tables import PortalLink
from arrears.reports.model import rate_bp
from arrears.strategy.tables import StrategyDecision

#: What a cardholder can do, in the order shown: (kind, audit action).
ACTED_KINDS = (("paid", "portal.payment"), ("plan", "portal.plan"), ("promise", "portal.promise"),
               ("callback", "portal.callback"), ("told_us", "portal.tell"), ("preferences", "portal.preferences"))
KIND_OF_ACTION = {action: kind for kind, action in ACTED_KINDS}
STAGES = ("sent", "opened", "verified", "acted")
#: How far back a link's strategy is looked for in the daily decisions, in days.
DECISION_LOOKBACK = 7
#: How far back a link's bucket is looked for in the snapshots, in days.
SNAPSHOT_LOOKBACK = 45
NO_STRATEGY = "none"
CHUNK = 1000


@dataclass(frozen=True)
class LinkFacts:
    """One link as the funnel counts it."""

    bucket: str
    strategy: str
    opened: bool
    verified: bool
    acted: bool
    #: the kinds of ACTED_KINDS done through the link
    kinds: frozenset[str] = frozenset()


@dataclass
class Stage:
    """The counts of one slice (all links, a bucket, a strategy)."""

    sent: int = 0
    opened: int = 0
    verified: int = 0
    acted: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    def add(self, link: LinkFacts) -> None:
        acted = link.acted or bool(link.kinds)
        verified = link.verified or acted
        self.sent += 1
        self.opened += link.opened or verified
        self.verified += verified
        self.acted += acted
        for kind in link.kinds:
            self.kinds[kind] += 1

    def row(self, dimension: str, value: str) -> dict[str, Any]:
        return {"dimension": dimension, "slice": value, "sent": self.sent, "opened": self.opened,
                "verified": self.verified, "acted": self.acted,
                "opened_bp": rate_bp(self.opened, self.sent), "verified_bp": rate_bp(self.verified, self.opened),
                "acted_bp": rate_bp(self.acted, self.verified), "acted_of_sent_bp": rate_bp(self.acted, self.sent),
                **{kind: self.kinds.get(kind, 0) for kind, _ in ACTED_KINDS}}


@dataclass
class Funnel:
    total: Stage = field(default_factory=Stage)
    by_bucket: dict[str, Stage] = field(default_factory=dict)
    by_strategy: dict[str, Stage] = field(default_factory=dict)

    def rows(self, buckets: Sequence[str] = ()) -> list[dict[str, Any]]:
        """The table: all links first, then each bucket (in ``buckets``' order, others after), then
        each strategy (by name, ``none`` last)."""
        order = {b: i for i, b in enumerate(buckets)}
        out = [self.total.row("all", "all")]
        out += [s.row("bucket", b) for b, s in sorted(self.by_bucket.items(), key=lambda x: (order.get(x[0], 99), x[0]))]
        out += [s.row("strategy", n) for n, s in sorted(self.by_strategy.items(),
                                                        key=lambda x: (x[0] == NO_STRATEGY, x[0]))]
        return out


def funnel_of(links: Iterable[LinkFacts]) -> Funnel:
    """Count links into the funnel (pure)."""
    out = Funnel()
    for link in links:
        out.total.add(link)
        out.by_bucket.setdefault(link.bucket, Stage()).add(link)
        out.by_strategy.setdefault(link.strategy, Stage()).add(link)
    return out


COLUMNS = ["dimension", "slice", *STAGES, "opened_bp", "verified_bp", "acted_bp", "acted_of_sent_bp",
           *(k for k, _ in ACTED_KINDS)]


def _bounds(from_date: date, to_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(from_date, time(), zone), datetime.combine(to_date + timedelta(days=1), time(), zone)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start:start + CHUNK])


def link_facts(session: Session, *, from_date: date, to_date: date, team_id: int | None = None,
               bank_zone: str = "Asia/Shanghai") -> list[LinkFacts]:
    """The facts of every link sent in the window (bank dates), within the scope."""
    from arrears.reports.service import _buckets

    zone = ZoneInfo(bank_zone)
    start, end = _bounds(from_date, to_date, zone)
    scope = [] if team_id is None else [PortalLink.account_id.in_(select(Case.account_id).where(Case.team_id == team_id))]
    links = session.execute(
        select(PortalLink.id, PortalLink.account_id, PortalLink.created_by, PortalLink.created_at,
               PortalLink.first_opened_at, PortalLink.verified_at, PortalLink.acted_at)
        .where(PortalLink.created_at >= start, PortalLink.created_at < end, *scope)
        .order_by(PortalLink.id)).all()
    if not links:
        return []
    accounts = sorted({r.account_id for r in links})
    snapshots: dict[int, list[tuple[date, str]]] = {}
    decisions: dict[int, list[tuple[date, str]]] = {}
    for ids in _chunks(accounts):
        for account_id, day, bucket in session.execute(
                select(DelinquencySnapshot.account_id, DelinquencySnapshot.business_date, DelinquencySnapshot.bucket)
                .where(DelinquencySnapshot.account_id.in_(ids), DelinquencySnapshot.superseded_by_run_id.is_(None),
                       DelinquencySnapshot.business_date >= from_date - timedelta(days=SNAPSHOT_LOOKBACK),
                       DelinquencySnapshot.business_date <= to_date)):
            snapshots.setdefault(account_id, []).append((day, bucket))
        for account_id, day, strategy in session.execute(
                select(StrategyDecision.account_id, StrategyDecision.business_date, StrategyDecision.strategy)
                .where(StrategyDecision.account_id.in_(ids),
                       StrategyDecision.business_date >= from_date - timedelta(days=DECISION_LOOKBACK),
                       StrategyDecision.business_date <= to_date)):
            decisions.setdefault(account_id, []).append((day, strategy))
    kinds: dict[int, set[str]] = {}
    link_ids = {r.id for r in links}
    for action, detail in session.execute(
            select(AuditRecord.action, AuditRecord.detail)
            .where(AuditRecord.action.in_(list(KIND_OF_ACTION)), AuditRecord.at >= start)):
        link_id = (detail or {}).get("link_id") if isinstance(detail, dict) else None
        if isinstance(link_id, int) and link_id in link_ids:
            kinds.setdefault(link_id, set()).add(KIND_OF_ACTION[action])
    current = _buckets()[0]

    def latest(rows: list[tuple[date, str]] | None, day: date, since: date) -> str | None:
        found = [(d, v) for d, v in rows or () if since <= d <= day]
        return max(found)[1] if found else None

    out = []
    for r in links:
        day = r.created_at.astimezone(zone).date()
        bucket = latest(snapshots.get(r.account_id), day, day - timedelta(days=SNAPSHOT_LOOKBACK)) or current
        if r.created_by.startswith("strategy:"):
            strategy = r.created_by.removeprefix("strategy:").split("/", 1)[0] or NO_STRATEGY
        else:
            strategy = latest(decisions.get(r.account_id), day, day - timedelta(days=DECISION_LOOKBACK)) or NO_STRATEGY
        out.append(LinkFacts(bucket=bucket, strategy=strategy, opened=r.first_opened_at is not None,
                             verified=r.verified_at is not None, acted=r.acted_at is not None,
                             kinds=frozenset(kinds.get(r.id, ()))))
    return out


def portal_funnel(session: Session, *, from_date: date, to_date: date, team_id: int | None = None,
                  bank_zone: str = "Asia/Shanghai") -> Funnel:
    if from_date > to_date:
        from arrears.kit.errors import ArrearsError

        raise ArrearsError("the window's first date must not come after its last")
    return funnel_of(link_facts(session, from_date=from_date, to_date=to_date, team_id=team_id, bank_zone=bank_zone))


def funnel_rows(session: Session, *, from_date: date, to_date: date, team_id: int | None = None,
                bank_zone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """The funnel as table rows (:data:`COLUMNS`): all links, by bucket, by strategy."""
    from arrears.reports.service import _buckets

    return portal_funnel(session, from_date=from_date, to_date=to_date, team_id=team_id,
                         bank_zone=bank_zone).rows(_buckets())


def as_json(rows: list[dict[str, Any]], *, from_date: date, to_date: date, team: str | None) -> dict[str, Any]:
    """The API's answer: the window, the scope, the total and the slices."""
    def stage(r: dict[str, Any]) -> dict[str, Any]:
        return {"sent": r["sent"], "opened": r["opened"], "verified": r["verified"], "acted": r["acted"],
                "rates_bp": {"opened_of_sent": r["opened_bp"], "verified_of_opened": r["verified_bp"],
                             "acted_of_verified": r["acted_bp"], "acted_of_sent": r["acted_of_sent_bp"]},
                "acted_by_kind": {k: r[k] for k, _ in ACTED_KINDS}}

    total = next((r for r in rows if r["dimension"] == "all"), None)
    return {"from": from_date.isoformat(), "to": to_date.isoformat(), "team": team,
            "total": stage(total) if total else None,
            "by_bucket": [{"bucket": r["slice"], **stage(r)} for r in rows if r["dimension"] == "bucket"],
            "by_strategy": [{"strategy": r["slice"], **stage(r)} for r in rows if r["dimension"] == "strategy"]}


__all__ = ["ACTED_KINDS", "COLUMNS", "Funnel", "LinkFacts", "Stage", "as_json", "funnel_of", "funnel_rows",
           "link_facts", "portal_funnel"]
