"""All SQL of the strategy step: assignments, decisions, strategy tasks, behaviour scores and the
facts the step reads (case states, contact points, latest minimum due). Functions flush, never commit.

Lists of ids go to the database in chunks (:data:`CHUNK`) so a portfolio-sized step never builds one
enormous ``IN`` list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer, Statement
from arrears.cases.tables import Case, Task
from arrears.contact.plan import Recipient
from arrears.kit.clock import utc_now
from arrears.strategy.engine import ASSIGNMENTS_SCHEMA
from arrears.strategy.tables import (
    BehaviourScore,
    ExperimentEntry,
    StrategyAssignment,
    StrategyDecision,
    StrategyTask,
)

CHUNK = 5_000


def _chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    batch: list[int] = []
    for i in ids:
        batch.append(int(i))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- assignments ------------------------------------------------------------------------------------

def read_assignments(session: Session) -> pa.Table:
    """The current assignments as the engine's input (:data:`ASSIGNMENTS_SCHEMA`)."""
    rows = session.execute(select(StrategyAssignment.account_id, StrategyAssignment.strategy,
                                  StrategyAssignment.segment, StrategyAssignment.since)).all()
    return pa.Table.from_pylist([{"account_id": a, "strategy": s, "segment": g, "since": d} for a, s, g, d in rows],
                                schema=ASSIGNMENTS_SCHEMA)


def replace_assignments(session: Session, rows: Sequence[dict[str, Any]], *, business_date: date, actor: str) -> None:
    """Make the table exactly ``rows`` (account_id, strategy, strategy_version, segment, since, experiment, arm)."""
    session.execute(delete(StrategyAssignment))
    if rows:
        session.execute(insert(StrategyAssignment), [
            {**r, "updated_on": business_date, "updated_by": actor} for r in rows])
    session.flush()


# -- decisions --------------------------------------------------------------------------------------

def replace_decisions(session: Session, rows: Sequence[dict[str, Any]], *, business_date: date, actor: str) -> None:
    """The date's decision rows become ``rows`` (a re-run of the date replaces them)."""
    session.execute(delete(StrategyDecision).where(StrategyDecision.business_date == business_date))
    if rows:
        now = utc_now()
        session.execute(insert(StrategyDecision), [
            {**r, "business_date": business_date, "created_by": actor, "created_at": now} for r in rows])
    session.flush()


def add_experiment_entries(session: Session, *, business_date: date) -> None:
    """Record the date's new experiment entries: every decision of the date with an experiment arm whose
    account has not entered that experiment yet, with that arm (intention to treat). One ``INSERT …
    SELECT``; a re-run of the date adds nothing and never changes an entry's arm."""
    sd, e = StrategyDecision, ExperimentEntry
    entered = select(e.id).where(e.experiment == sd.experiment, e.account_id == sd.account_id).exists()
    new = select(sd.experiment, sd.account_id, sd.arm, sd.business_date, sd.case_id).where(
        sd.business_date == business_date, sd.experiment.is_not(None), sd.arm.is_not(None), ~entered)
    session.execute(insert(e).from_select(["experiment", "account_id", "arm", "entered_on", "case_id"], new))
    session.flush()


def decisions(session: Session, *, business_date: date) -> list[StrategyDecision]:
    return list(session.execute(select(StrategyDecision).where(StrategyDecision.business_date == business_date)
                                .order_by(StrategyDecision.account_id)).scalars())


# -- tasks ------------------------------------------------------------------------------------------

def strategy_tasks_of(session: Session, *, business_date: date,
                      account_ids: Iterable[int]) -> dict[tuple[int, str, int, str, int], int]:
    """Tasks already made on the date: (account, strategy, version, segment, step) → task id."""
    out: dict[tuple[int, str, int, str, int], int] = {}
    for ids in _chunks(account_ids):
        for r in session.execute(select(
                StrategyTask.account_id, StrategyTask.strategy, StrategyTask.strategy_version, StrategyTask.segment,
                StrategyTask.step, StrategyTask.task_id).where(
                StrategyTask.business_date == business_date, StrategyTask.account_id.in_(ids))):
            out[(r[0], r[1], r[2], r[3], r[4])] = r[5]
    return out


def open_tasks_of_kind(session: Session, *, kind: str, case_ids: Iterable[int]) -> dict[int, int]:
    """Open tasks of ``kind`` by case: case id → the oldest such task's id."""
    out: dict[int, int] = {}
    for ids in _chunks(case_ids):
        for case_id, task_id in session.execute(
                select(Task.case_id, func.min(Task.id)).where(Task.kind == kind, Task.status == "open",
                                                              Task.case_id.in_(ids)).group_by(Task.case_id)):
            out[case_id] = task_id
    return out


def add_task(session: Session, *, case_id: int, kind: str, due_on: date, created_by: str,
             link: dict[str, Any]) -> int:
    """A new open task on the case and its link to the strategy rule that made it; returns the task id."""
    now = utc_now()
    task = Task(case_id=case_id, kind=kind, due_on=due_on, status="open", created_by=created_by[:64], created_at=now)
    session.add(task)
    session.flush()
    session.add(StrategyTask(task_id=task.id, case_id=case_id, created_at=now, **link))
    session.flush()
    return task.id


def strategy_tasks(session: Session, *, business_date: date | None = None) -> list[StrategyTask]:
    stmt = select(StrategyTask).order_by(StrategyTask.id)
    if business_date is not None:
        stmt = stmt.where(StrategyTask.business_date == business_date)
    return list(session.execute(stmt).scalars())


# -- facts the step reads ---------------------------------------------------------------------------

def case_states(session: Session, case_ids: Iterable[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for ids in _chunks(case_ids):
        out.update(session.execute(select(Case.id, Case.status).where(Case.id.in_(ids))).all())
    return out


#: Which contact-point kind each message channel goes to.
CHANNEL_KIND = {"sms": "phone", "email": "email", "letter": "address"}


def recipients(session: Session, account_ids: Iterable[int]) -> dict[int, Recipient]:
    """Each account's message recipients: the cardholder's own (``owner = 'debtor'``) contact points
    that are not opted out — verified ones only for phone and e-mail; for the postal address a verified
    one if there is one, else any — the lowest id of each kind; the open case and the customer's language."""
    out: dict[int, Recipient] = {}
    for ids in _chunks(account_ids):
        accounts = session.execute(
            select(Account.id, Account.account_ref, Account.customer_id, Customer.language)
            .join(Customer, Customer.id == Account.customer_id).where(Account.id.in_(ids))).all()
        customers = {c for _, _, c, _ in accounts}
        cases = dict(session.execute(select(Case.account_id, Case.id).where(
            Case.account_id.in_(ids), Case.status.in_(_open_states()))).all())
        points: dict[tuple[int, str], tuple[bool, int]] = {}
        if customers:
            for cust, kind, pid, verified in session.execute(
                    select(ContactPoint.customer_id, ContactPoint.kind, ContactPoint.id, ContactPoint.verified)
                    .where(ContactPoint.customer_id.in_(customers), ContactPoint.owner == "debtor",
                           ContactPoint.opted_out.is_(False))):
                if not verified and kind != "address":
                    continue
                rank = (not verified, pid)
                best = points.get((cust, kind))
                if best is None or rank < best:
                    points[(cust, kind)] = rank

        def point(cust: int, channel: str, points: dict[tuple[int, str], tuple[bool, int]] = points) -> int | None:
            best = points.get((cust, CHANNEL_KIND[channel]))
            return best[1] if best else None

        for account_id, ref, cust, language in accounts:
            out[account_id] = Recipient(account_ref=ref, case_id=cases.get(account_id), locale=language or "zh_CN",
                                        sms=point(cust, "sms"), email=point(cust, "email"),
                                        letter=point(cust, "letter"))
    return out


#: days a letter gives the cardholder to pay or get in touch (the ``reply_by`` of letters)
REPLY_DAYS = 14


def message_facts(session: Session, *, business_date: date, account_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """What a collection message says about each account on the business date, as template fields
    (docs/channels.md): ``amount_due`` (past due, fen), ``due_date`` (the oldest unpaid due date),
    ``dpd``, ``balance`` (the open case's, fen), ``reply_by`` (letters), and ``amount`` and
    ``promised_date`` of the latest open promise when there is one. Dates as ISO text."""
    from arrears.cases.tables import Promise
    from arrears.delinquency.tables import DelinquencySnapshot

    out: dict[int, dict[str, Any]] = {}
    reply_by = (business_date + timedelta(days=REPLY_DAYS)).isoformat()
    for ids in _chunks(account_ids):
        for account_id in ids:
            out[account_id] = {"amount_due": 0, "due_date": business_date.isoformat(), "dpd": 0, "balance": 0,
                               "reply_by": reply_by}
        for account_id, past_due, dpd, oldest in session.execute(
                select(DelinquencySnapshot.account_id, DelinquencySnapshot.amount_past_due, DelinquencySnapshot.dpd,
                       DelinquencySnapshot.oldest_unpaid_due_date)
                .where(DelinquencySnapshot.account_id.in_(ids), DelinquencySnapshot.business_date == business_date,
                       DelinquencySnapshot.superseded_by_run_id.is_(None))):
            out[account_id].update(amount_due=int(past_due), dpd=int(dpd),
                                   due_date=(oldest or business_date).isoformat())
        for account_id, balance in session.execute(select(Case.account_id, Case.balance).where(
                Case.account_id.in_(ids), Case.status.in_(_open_states()))):
            out[account_id]["balance"] = int(balance)
        for account_id, amount, promised in session.execute(
                select(Case.account_id, Promise.amount, Promise.promised_date).join(Case, Case.id == Promise.case_id)
                .where(Case.account_id.in_(ids), Promise.status == "open", Promise.created_on <= business_date)
                .order_by(Promise.id)):
            out[account_id].update(amount=int(amount), promised_date=promised.isoformat())  # the latest wins
    return out


def _open_states() -> tuple[str, ...]:
    from arrears.cases.model import OPEN_STATES

    return OPEN_STATES


def latest_minimum_due(session: Session, *, business_date: date, account_ids: Iterable[int]) -> dict[int, int]:
    """The minimum due (fen) of each account's latest statement dated on or before the business date."""
    out: dict[int, int] = {}
    for ids in _chunks(account_ids):
        latest = (select(Statement.account_id, func.max(Statement.statement_date).label("d"))
                  .where(Statement.account_id.in_(ids), Statement.statement_date <= business_date)
                  .group_by(Statement.account_id).subquery())
        out.update(session.execute(
            select(Statement.account_id, func.max(Statement.minimum_due))
            .where(tuple_(Statement.account_id, Statement.statement_date).in_(select(latest.c.account_id, latest.c.d)))
            .group_by(Statement.account_id)).all())
    return out


# -- behaviour scores -------------------------------------------------------------------------------

def replace_scores(session: Session, rows: Sequence[dict[str, Any]], *, business_date: date, model_name: str,
                   model_version: str) -> None:
    """The date's scores become ``rows`` (account_id, score); a re-run of the date replaces them."""
    session.execute(delete(BehaviourScore).where(BehaviourScore.business_date == business_date))
    if rows:
        now = utc_now()
        for part in range(0, len(rows), CHUNK):
            session.execute(insert(BehaviourScore), [
                {"account_id": r["account_id"], "score": r["score"], "business_date": business_date,
                 "model_name": model_name, "model_version": model_version, "created_at": now}
                for r in rows[part:part + CHUNK]])
    session.flush()


def scores(session: Session, *, business_date: date) -> dict[int, int]:
    return dict(session.execute(select(BehaviourScore.account_id, BehaviourScore.score)
                                .where(BehaviourScore.business_date == business_date)).all())
