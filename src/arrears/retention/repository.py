"""The SQL of the retention job: which rows of a table have passed their period and are not under a
legal hold, read from the store's own foreign keys (so a new table needs no code, only its line in
the schedule). Portable: the same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import FromClause

from arrears.cases.model import ENDED_STATES, OPEN_STATES
from arrears.escalation.model import LIVE_REFERRAL_STATUSES
from arrears.plans.tables import DRAFT_STATUSES
from arrears.retention.model import KeepWhile, TableRule

#: Agreements that keep their customer's data: binding or still being made.
LIVE_AGREEMENT_STATUSES = ("active", *DRAFT_STATUSES)


def fk_paths(metadata: MetaData, table: Table, target: str) -> list[list[ForeignKey]]:
    """For each foreign key of ``table``, the shortest chain of foreign keys from it to ``target``
    (none when it does not lead there)."""
    paths = []
    for first in sorted(table.foreign_keys, key=lambda fk: fk.parent.name):
        seen = {table.name}
        queue: deque[list[ForeignKey]] = deque([[first]])
        while queue:
            path = queue.popleft()
            here = path[-1].column.table
            if here.name == target:
                paths.append(path)
                break
            if here.name in seen:
                continue
            seen.add(here.name)
            for fk in sorted(here.foreign_keys, key=lambda fk: fk.parent.name):
                queue.append([*path, fk])
    return paths


def _join_path(src: FromClause, table: Table, path: list[ForeignKey], prefix: str) -> tuple[FromClause, Any]:
    """``src`` outer-joined along ``path`` from ``table`` (fresh aliases named by ``prefix``), and the
    column holding the key of the path's end (the last foreign key's own column: the end is not joined)."""
    here: FromClause = table
    for m, fk in enumerate(path[:-1]):
        nxt = fk.column.table.alias(f"{prefix}_{m}_{fk.column.table.name}")
        src = src.outerjoin(nxt, here.c[fk.parent.name] == nxt.c[fk.column.name])
        here = nxt
    return src, here.c[path[-1].parent.name]


def _walk(metadata: MetaData, table: Table, target: str, src: FromClause | None = None,
          prefix: str = "p") -> tuple[FromClause, list[Any]]:
    """``table`` (or ``src`` built on it) joined along every path to ``target``, and per path the
    column holding the target's key."""
    out: FromClause = table if src is None else src
    keys = []
    for n, path in enumerate(fk_paths(metadata, table, target)):
        out, key = _join_path(out, table, path, f"{prefix}{n}")
        keys.append(key)
    return out, keys


def bank_midnight(day: date, zone: str) -> datetime:
    """The bank's midnight starting ``day``, in UTC."""
    return datetime.combine(day, time(0), ZoneInfo(zone)).astimezone(UTC)


def on_or_before(col: ColumnElement[Any], cutoff: date, zone: str) -> ColumnElement[bool]:
    """The date or moment in ``col`` falls on ``cutoff`` or earlier (a moment by the bank's calendar)."""
    if isinstance(col.type, DateTime) or isinstance(getattr(col.type, "impl", None), DateTime):
        return col < bank_midnight(cutoff + timedelta(days=1), zone)
    return col <= cutoff


def _after(col: ColumnElement[Any], cutoff: date, zone: str) -> ColumnElement[bool]:
    return col.is_not(None) & ~on_or_before(col, cutoff, zone)


class Tables:
    """The store's tables the job reads to decide, by name (from the metadata it is given)."""

    def __init__(self, metadata: MetaData) -> None:
        t = metadata.tables
        self.metadata = metadata
        self.customers, self.accounts, self.cases = t["customers"], t["accounts"], t["cases"]
        self.holds, self.statements, self.payments = t["holds"], t["statements"], t["payments"]
        self.interactions, self.agreements = t["interactions"], t["plan_agreements"]
        self.referrals = t["legal_referrals"]


def held(db: Tables, customer: ColumnElement[Any], keep: KeepWhile, as_of: date) -> ColumnElement[bool]:
    """The customer is under a legal hold: an open hold of a listed kind, an open case (an open
    balance being collected), a live plan, a live legal referral."""
    acc, cases = db.accounts, db.cases
    conds: list[ColumnElement[bool]] = []
    if keep.hold_kinds:
        h = db.holds
        conds.append(exists(select(literal(1)).select_from(h.join(acc, h.c.account_id == acc.c.id)).where(
            acc.c.customer_id == customer, h.c.kind.in_(sorted(keep.hold_kinds)),
            or_(h.c.end_date.is_(None), h.c.end_date >= as_of))))
    if keep.open_case:
        conds.append(exists(select(literal(1)).select_from(cases.join(acc, cases.c.account_id == acc.c.id)).where(
            acc.c.customer_id == customer, cases.c.status.in_(OPEN_STATES))))
    if keep.active_plan:
        a = db.agreements
        conds.append(exists(select(literal(1)).select_from(a.join(acc, a.c.account_id == acc.c.id)).where(
            acc.c.customer_id == customer, a.c.status.in_(LIVE_AGREEMENT_STATUSES))))
    if keep.legal_referral:
        r = db.referrals
        conds.append(exists(select(literal(1)).select_from(
            r.join(cases, r.c.case_id == cases.c.id).join(acc, cases.c.account_id == acc.c.id)).where(
            acc.c.customer_id == customer, r.c.status.in_(LIVE_REFERRAL_STATUSES))))
    return or_(*conds) if conds else false()


def active_since(db: Tables, customer: ColumnElement[Any], cutoff: date, zone: str) -> ColumnElement[bool]:
    """Something happened with the customer after ``cutoff`` (docs/retention.md, "last activity"): the
    customer or an account of theirs was added, a statement or payment, a case opened, closed or
    reopened, a contact, a plan made."""
    acc, cases, i, a = db.accounts, db.cases, db.interactions, db.agreements
    of_customer = acc.c.customer_id == customer
    on_cases = cases.join(acc, cases.c.account_id == acc.c.id)
    return or_(
        exists(select(literal(1)).select_from(db.customers).where(
            db.customers.c.id == customer, _after(db.customers.c.created_at, cutoff, zone))),
        exists(select(literal(1)).select_from(acc).where(of_customer, _after(acc.c.opened_on, cutoff, zone))),
        exists(select(literal(1)).select_from(db.statements.join(acc, db.statements.c.account_id == acc.c.id))
               .where(of_customer, _after(db.statements.c.statement_date, cutoff, zone))),
        exists(select(literal(1)).select_from(db.payments.join(acc, db.payments.c.account_id == acc.c.id))
               .where(of_customer, _after(db.payments.c.value_date, cutoff, zone))),
        exists(select(literal(1)).select_from(on_cases).where(of_customer, or_(
            _after(cases.c.opened_on, cutoff, zone), _after(cases.c.closed_on, cutoff, zone),
            _after(cases.c.reopened_on, cutoff, zone)))),
        exists(select(literal(1)).select_from(i.join(cases, i.c.case_id == cases.c.id).join(
            acc, cases.c.account_id == acc.c.id)).where(of_customer, _after(i.c.started_at, cutoff, zone))),
        exists(select(literal(1)).select_from(a.join(acc, a.c.account_id == acc.c.id)).where(
            of_customer, _after(a.c.created_at, cutoff, zone))),
    )


def primary_key(table: Table) -> Column[Any]:
    cols = list(table.primary_key.columns)
    if len(cols) != 1:
        raise ValueError(f"table {table.name} has no single-column primary key")
    return cols[0]


def _not_done(table: Table, rule: TableRule) -> ColumnElement[bool]:
    """A row still holding a value the rule empties (so a second run finds nothing left to do)."""
    conds = []
    for name, value in rule.set:
        col = table.c[name]
        if value is None:
            conds.append(col.is_not(None))
        elif isinstance(col.type, JSON):
            conds.append(cast(col, Text) != "{}")
        else:
            conds.append(col.is_distinct_from(value))
    return or_(*conds)


def _unreferenced(metadata: MetaData, table: Table) -> list[ColumnElement[bool]]:
    """No row of another table points at the row (erasing it would break that row's foreign key)."""
    conds = []
    for other in metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is table:
                ref = other.alias(f"ref_{other.name}_{fk.parent.name}") if other is table else other
                conds.append(~exists(select(literal(1)).select_from(ref).where(
                    ref.c[fk.parent.name] == table.c[fk.column.name])))
    return conds


def due_rows(db: Tables, rule: TableRule, *, as_of: date, cutoff: date, zone: str,
             keep: KeepWhile, held_only: bool = False) -> Select[Any]:
    """The primary keys of the rows of ``rule.table`` past their period on ``as_of`` (their event on
    ``cutoff`` or before) that still hold something to remove, and are under no legal hold — or, with
    ``held_only``, those a legal hold keeps."""
    metadata = db.metadata
    table = metadata.tables[rule.table]
    pk = primary_key(table)
    if table.name == "customers":
        src, customers = table, [table.c.id]
    else:
        src, customers = _walk(metadata, table, "customers")
    conds: list[ColumnElement[bool]] = []
    if rule.event == "created":
        assert rule.column is not None
        if "." in rule.column:
            fk_col, target_col = rule.column.split(".", 1)
            (fk,) = table.c[fk_col].foreign_keys
            hop = fk.column.table.alias(f"created_{fk.column.table.name}")
            src = src.join(hop, table.c[fk_col] == hop.c[fk.column.name])
            conds.append(on_or_before(hop.c[target_col], cutoff, zone))
        else:
            conds.append(on_or_before(table.c[rule.column], cutoff, zone))
    elif rule.event == "case_closed":
        if table.name == "cases":
            case: FromClause = table
        else:
            src, case_key = _join_path(src, table, fk_paths(metadata, table, "cases")[0], "c")
            case = db.cases.alias("retention_case")
            src = src.join(case, case.c.id == case_key)
        conds += [case.c.status.in_(ENDED_STATES), case.c.closed_on.is_not(None),
                  on_or_before(case.c.closed_on, cutoff, zone)]
    else:  # last_activity
        customer = func.coalesce(*customers) if len(customers) > 1 else customers[0]
        conds += [customer.is_not(None), ~active_since(db, customer, cutoff, zone)]
    if rule.action == "anonymise":
        conds.append(_not_done(table, rule))
    elif rule.action == "erase":
        conds += _unreferenced(metadata, table)
    holds = [held(db, c, keep, as_of) for c in customers]
    if held_only:
        conds.append(or_(*holds) if holds else false())
    else:
        conds += [~h for h in holds]
    return select(pk).select_from(src).where(and_(*conds))


def count(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def next_batch(session: Session, stmt: Select[Any], table: Table, size: int) -> list[Any]:
    """The next ``size`` due keys, in key order; on PostgreSQL rows another run holds are skipped."""
    pk = primary_key(table)
    batch = stmt.order_by(pk).limit(size)
    if session.get_bind().dialect.name == "postgresql":
        batch = batch.with_for_update(of=table, skip_locked=True)
    return list(session.scalars(batch).all())


def apply(session: Session, table: Table, rule: TableRule, keys: Sequence[Any]) -> int:
    """Erase the rows, or empty the rule's columns in them; returns the rows changed."""
    pk = primary_key(table)
    if rule.action == "erase":
        result = session.execute(delete(table).where(pk.in_(keys)))
    else:
        values = {name: null() if value is None else value for name, value in rule.set}
        result = session.execute(update(table).where(pk.in_(keys)).values(values))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def is_date_column(col: Column[Any]) -> bool:
    return isinstance(col.type, (Date, DateTime)) or isinstance(getattr(col.type, "impl", None), DateTime)
