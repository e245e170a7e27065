"""The collections reports from the store: the figures the team lead and supervisor dashboards show
and export, on SQLite and PostgreSQL alike (SQLAlchemy Core, no dialect-specific SQL).

Every function takes ``team_id``: ``None`` for the whole book (supervisor, compliance, admin),
a team's id for a team lead — then only accounts whose case belongs to that team count.
Definitions (docs/reports.md):

- **by bucket** — accounts in arrears on the date (current delinquency snapshots) per bucket, their
  past-due amount and their case balance, in fen; read from ``book_figures``, which the cycle writes
  for its date and every date it restates, and the assignment of cases to teams refreshes for the
  latest date (an account counts in the team of its latest case);
- **roll rates** — for the accounts in arrears on the first date, their bucket on the second (the
  current bucket when no longer in arrears);
- **cure rate** — per cycle date, cases moved to ``cured`` by that cycle ÷ accounts in arrears on
  the previous cycle date (``book_figures``);
- **promise kept rate** — promises falling due in the window that were judged: kept ÷ (kept +
  partly kept + broken);
- **right-party contacts by hour of week** — outbound calls in the window by the customer's local
  weekday and hour, and how many were a conversation with the cardholder: party ``debtor`` and a
  right-party outcome (``party: debtor`` in outcomes.yaml; an unanswered call stored with the
  cardholder as its party is never a contact);
- **queue health** — open cases per team and state, waiting unclaimed, held now, tasks due today
  and overdue, the oldest open case;
- **agent activity** — per agent on a business date: calls, right-party contacts (as above),
  promises taken, agreements made.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer
from arrears.auth.tables import Team, User
from arrears.cases.model import OPEN_STATES
from arrears.cases.tables import Case, CaseTransition, Interaction, Promise, Task
from arrears.delinquency.tables import BookFigure, CycleRun, DelinquencySnapshot
from arrears.kit.csvsafe import SafeWriter
from arrears.reports.model import HourGrid, RollMatrix, rate_bp, roll_matrix

JUDGED = ("kept", "partly_kept", "broken")
#: Days of the default window of the trend figures (cures, promises, contact, roll rates).
WINDOW_DAYS = 30


def window(last: date, days: int = WINDOW_DAYS) -> tuple[date, date]:
    """The first and last dates (both included) of the ``days``-day window ending on ``last``: the
    default of the dashboards and of ``arrears report kpis`` alike. Roll rates run from the first date's
    book to the business date's."""
    if days < 1:
        raise ValueError("a window has at least one day")
    return last - timedelta(days=days - 1), last


def _buckets() -> list[str]:
    from arrears.delinquency.config import load_default_rules

    return [b.name for b in load_default_rules().buckets.buckets]


def _team_accounts(team_id: int | None) -> ColumnElement[bool]:
    """Snapshot/account rows of the team's cases (everything when ``team_id`` is None)."""
    if team_id is None:
        return true()
    return DelinquencySnapshot.account_id.in_(select(Case.account_id).where(Case.team_id == team_id))


def _current(day: date) -> ColumnElement[bool]:
    return and_(DelinquencySnapshot.business_date == day, DelinquencySnapshot.superseded_by_run_id.is_(None))


def _book_scope(team_id: int | None) -> ColumnElement[bool]:
    return true() if team_id is None else BookFigure.team_id == team_id


def by_bucket(session: Session, *, business_date: date, team_id: int | None = None) -> list[dict[str, Any]]:
    """Per bucket (in order, empty buckets left out): accounts, past-due and case balance in fen
    (the cycle's ``book_figures`` of the date)."""
    rows = session.execute(
        select(BookFigure.bucket, func.sum(BookFigure.accounts), func.sum(BookFigure.amount_past_due),
               func.sum(BookFigure.balance))
        .where(BookFigure.business_date == business_date, _book_scope(team_id))
        .group_by(BookFigure.bucket)).all()
    found = {b: (int(n), int(p or 0), int(bal or 0)) for b, n, p, bal in rows}
    return [{"bucket": b, "accounts": found[b][0], "past_due_fen": found[b][1], "balance_fen": found[b][2]}
            for b in _buckets() if b in found]


def roll_rates(session: Session, *, from_date: date, to_date: date, team_id: int | None = None) -> RollMatrix:
    """Bucket on ``to_date`` of every account in arrears on ``from_date``."""
    if to_date <= from_date:
        raise ValueError("the second date must come after the first")
    buckets = _buckets()
    later = (select(DelinquencySnapshot.account_id, DelinquencySnapshot.bucket, DelinquencySnapshot.delinquent)
             .where(_current(to_date)).subquery())
    to_bucket = case((later.c.delinquent, later.c.bucket), else_=buckets[0])
    rows = session.execute(
        select(DelinquencySnapshot.bucket, to_bucket, func.count())
        .outerjoin(later, later.c.account_id == DelinquencySnapshot.account_id)
        .where(_current(from_date), DelinquencySnapshot.delinquent, _team_accounts(team_id))
        .group_by(DelinquencySnapshot.bucket, to_bucket)).all()
    return roll_matrix(((f, t, n) for f, t, n in rows), buckets)


def cure_trend(session: Session, *, from_date: date, to_date: date, team_id: int | None = None) -> list[dict[str, Any]]:
    """Per completed cycle date in the window: cures by that cycle, accounts in arrears the cycle
    before, and the rate."""
    runs = session.execute(
        select(CycleRun.business_date, func.max(CycleRun.id)).where(CycleRun.status == "completed")
        .group_by(CycleRun.business_date).order_by(CycleRun.business_date)).all()
    dates = [d for d, _ in runs]
    cured_q = (select(CycleRun.business_date, func.count(func.distinct(CaseTransition.case_id)))
               .join(CycleRun, CycleRun.id == CaseTransition.cycle_run_id)
               .join(Case, Case.id == CaseTransition.case_id)
               .where(CaseTransition.to_state == "cured", CycleRun.business_date >= from_date,
                      CycleRun.business_date <= to_date,
                      true() if team_id is None else Case.team_id == team_id)
               .group_by(CycleRun.business_date))
    cured = {d: int(n) for d, n in session.execute(cured_q).all()}
    pairs = [(prev, day) for prev, day in zip(dates, dates[1:], strict=False) if from_date <= day <= to_date]
    # accounts in arrears the cycle before, for every cycle of the window, from the book figures
    before: dict[date, int] = {}
    if pairs:
        before = {d: int(n) for d, n in session.execute(
            select(BookFigure.business_date, func.sum(BookFigure.accounts))
            .where(BookFigure.business_date.in_([prev for prev, _ in pairs]), _book_scope(team_id))
            .group_by(BookFigure.business_date)).all()}
    out = []
    for prev, day in pairs:
        base = before.get(prev, 0)
        n = cured.get(day, 0)
        out.append({"business_date": day, "cured": n, "in_arrears_before": base, "cure_bp": rate_bp(n, base)})
    return out


def promise_kept(session: Session, *, from_date: date, to_date: date, team_id: int | None = None) -> dict[str, Any]:
    """Promises due in the window, by how they were judged, and the kept rate."""
    rows = session.execute(
        select(Promise.status, func.count()).join(Case, Case.id == Promise.case_id)
        .where(Promise.promised_date >= from_date, Promise.promised_date <= to_date,
               true() if team_id is None else Case.team_id == team_id)
        .group_by(Promise.status)).all()
    counts = {s: int(n) for s, n in rows}
    judged = sum(counts.get(s, 0) for s in JUDGED)
    return {"from": from_date, "to": to_date, "open": counts.get("open", 0), "kept": counts.get("kept", 0),
            "partly_kept": counts.get("partly_kept", 0), "broken": counts.get("broken", 0),
            "kept_bp": rate_bp(counts.get("kept", 0), judged)}


@lru_cache(maxsize=1)
def _right_party_outcomes() -> tuple[str, ...]:
    from arrears.cases.config import load_default_case_rules

    return load_default_case_rules().right_party_outcomes()


def _conversation() -> ColumnElement[bool]:
    """An interaction that is a real conversation with the cardholder: party ``debtor`` and a
    right-party outcome (``party: debtor`` in the case rules)."""
    return and_(Interaction.party == "debtor", Interaction.outcome.in_(_right_party_outcomes()))


def _bounds(from_date: date, to_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    # widened by a day on each side: customers' zones differ from the bank's
    start = datetime.combine(from_date - timedelta(days=1), time(), zone)
    end = datetime.combine(to_date + timedelta(days=2), time(), zone)
    return start, end


def rpc_by_hour(session: Session, *, from_date: date, to_date: date, team_id: int | None = None,
                bank_zone: str = "Asia/Shanghai") -> HourGrid:
    """Outbound calls whose local date (customer's zone) is in the window, by hour of week."""
    start, end = _bounds(from_date, to_date, ZoneInfo(bank_zone))
    rows = session.execute(
        select(Interaction.started_at, _conversation(), Customer.time_zone)
        .join(Case, Case.id == Interaction.case_id).join(Account, Account.id == Case.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(Interaction.channel == "call", Interaction.direction == "outbound",
               Interaction.started_at >= start, Interaction.started_at < end,
               true() if team_id is None else Case.team_id == team_id)).all()
    grid = HourGrid()
    zones: dict[str, ZoneInfo] = {}
    for at, talked, tz in rows:
        zone = zones.setdefault(tz or bank_zone, ZoneInfo(tz or bank_zone))
        if from_date <= at.astimezone(zone).date() <= to_date:
            grid.add(at, zone, bool(talked))
    return grid


def queue_health(session: Session, *, today: date, team_id: int | None = None) -> list[dict[str, Any]]:
    """Per team (and cases given to no team): open cases, by state, unclaimed, held, tasks due and overdue."""
    scope = true() if team_id is None else Case.team_id == team_id
    teams = dict(session.execute(select(Team.id, Team.code)).all())
    out: dict[int | None, dict[str, Any]] = {}

    def row(t: int | None) -> dict[str, Any]:
        return out.setdefault(t, {"team": teams.get(t, "—") if t is not None else "—", "open": 0, "held": 0,
                                  "unclaimed": 0, "tasks_due": 0, "tasks_overdue": 0, "oldest_opened": None,
                                  "states": {}})

    for t, status, n, held, oldest in session.execute(
            select(Case.team_id, Case.status, func.count(), func.sum(case((Case.held_by.is_not(None), 1), else_=0)),
                   func.min(Case.opened_on))
            .where(Case.status.in_(OPEN_STATES), scope).group_by(Case.team_id, Case.status)).all():
        r = row(t)
        r["open"] += int(n)
        r["held"] += int(held or 0)
        r["unclaimed"] += int(n) - int(held or 0)
        r["states"][status] = int(n)
        r["oldest_opened"] = oldest if r["oldest_opened"] is None else min(r["oldest_opened"], oldest)
    for t, due, overdue in session.execute(
            select(Case.team_id, func.sum(case((Task.due_on == today, 1), else_=0)),
                   func.sum(case((Task.due_on < today, 1), else_=0)))
            .join(Case, Case.id == Task.case_id)
            .where(Task.status == "open", Case.status.in_(OPEN_STATES), scope).group_by(Case.team_id)).all():
        r = row(t)
        r["tasks_due"], r["tasks_overdue"] = int(due or 0), int(overdue or 0)
    return sorted(out.values(), key=lambda r: str(r["team"]))


def agent_activity(session: Session, *, business_date: date, team_id: int | None = None,
                   bank_zone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """Per agent on a business date (the bank's zone): calls, right-party contacts, promises, agreements."""
    from arrears.plans.tables import PlanAgreement

    zone = ZoneInfo(bank_zone)
    start = datetime.combine(business_date, time(), zone)
    end = start + timedelta(days=1)
    people = select(User.id, User.username).where(User.role.in_(("agent", "team_lead")),
                                                 true() if team_id is None else User.team_id == team_id)
    users = dict(session.execute(people).all())
    stats = {uid: {"agent": name, "calls": 0, "rpc": 0, "promises": 0, "agreements": 0} for uid, name in users.items()}
    for uid, calls, rpc in session.execute(
            select(Interaction.agent_id, func.count(), func.sum(case((_conversation(), 1), else_=0)))
            .where(Interaction.channel == "call", Interaction.direction == "outbound", Interaction.started_at >= start,
                   Interaction.started_at < end, Interaction.agent_id.in_(list(users) or [-1]))
            .group_by(Interaction.agent_id)).all():
        stats[uid]["calls"], stats[uid]["rpc"] = int(calls), int(rpc or 0)
    from arrears.cases.service import user_actor

    by_actor = {user_actor(uid): uid for uid in users}  # promises record "user:<id>"
    for who, n in session.execute(
            select(Promise.created_by, func.count()).where(Promise.created_on == business_date,
                                                           Promise.created_by.in_(list(by_actor) or [""]))
            .group_by(Promise.created_by)).all():
        stats[by_actor[who]]["promises"] = int(n)
    for uid, n in session.execute(
            select(PlanAgreement.created_by, func.count()).where(
                PlanAgreement.created_at >= start, PlanAgreement.created_at < end,
                PlanAgreement.created_by.in_(list(users) or [-1]))
            .group_by(PlanAgreement.created_by)).all():
        stats[uid]["agreements"] = int(n)
    rows = sorted(stats.values(), key=lambda r: r["agent"])
    for r in rows:
        r["rpc_bp"] = rate_bp(r["rpc"], r["calls"])
    return rows


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV text (UTF-8 with a header; the first row's keys when ``columns`` is None).
    Nested values (a dict of states) are written as ``key=value;…``."""
    rows = list(rows)
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    buf = io.StringIO()
    writer = SafeWriter(buf, lineterminator="\n")  # text cells that would run as formulas are escaped
    writer.writerow(cols)
    for r in rows:
        writer.writerow([";".join(f"{k}={v}" for k, v in sorted(r[c].items())) if isinstance(r.get(c), dict)
                         else ("" if r.get(c) is None else r[c]) for c in cols])
    return buf.getvalue()


__all__ = ["agent_activity", "by_bucket", "cure_trend", "promise_kept", "queue_health", "roll_rates",
           "rpc_by_hour", "to_csv"]
