"""Running a strategy: which segment each account is in and which actions fall due today; and why.

:func:`select_treatments` works on the whole feature table in DuckDB (one SQL statement built from
the strategy). :func:`select_for_account` is the reference for one account, evaluating the same
conditions one by one; tests prove both agree. :func:`explain` tells a person why an account is
where it is and what comes next.

Segment entry
=============

Actions are timed from the day an account entered its segment. That day is not a feature (it is the
strategy's own memory), so it comes in as an *assignments* table — the ``strategy_assignments``
concept — with one row per account: ``account_id``, ``strategy`` (name), ``segment`` (code),
``since`` (date). An account whose assignment names the same strategy and the same segment it is
selected into today keeps its ``since``; otherwise (new account, other segment, other strategy) it
enters today and its day-0 actions are due. A new *version* of the same strategy keeps the dates:
editing a path does not restart every account's clock. The result carries ``segment_since``, so the
result of day D, reduced to (account_id, strategy, segment, segment_since), is the assignments input
of day D+1; whoever stores it (the daily cycle) owns that table.

Every result row records the strategy name, version and segment that chose its actions, and each
action its step in the path, so a message or task created from it can say exactly which rule sent it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from arrears.strategy.conditions import Condition, conjuncts, evaluate, evaluate_many, to_duckdb
from arrears.strategy.features import FEATURE_SCHEMA
from arrears.strategy.model import Action, Segment, Strategy, action_date, days_in_segment

ASSIGNMENTS_SCHEMA = pa.schema([
    ("account_id", pa.int64()), ("strategy", pa.string()), ("segment", pa.string()), ("since", pa.date32()),
])
ACTION_TYPE = pa.struct([
    ("step", pa.int32()), ("kind", pa.string()), ("day", pa.int32()), ("template", pa.string()),
    ("queue", pa.string()), ("priority", pa.int32()), ("note", pa.string()), ("channel", pa.string()),
])
TREATMENTS_SCHEMA = pa.schema([
    ("account_id", pa.int64()), ("strategy", pa.string()), ("strategy_version", pa.int64()),
    ("segment", pa.string()), ("segment_since", pa.date32()), ("days_in_segment", pa.int32()),
    ("actions", pa.list_(ACTION_TYPE)),
])


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _path_table(strategy: Strategy) -> pa.Table:
    rows = [{"__p_id": n, "__p_segment": seg.code, "__p_step": a.step, "__p_kind": a.kind, "__p_day": a.day,
             "__p_every": a.every, "__p_until": a.until, "__p_template": a.template, "__p_queue": a.queue,
             "__p_priority": a.priority, "__p_note": a.note, "__p_channel": a.channel}
            for n, (seg, a) in enumerate((s, a) for s in strategy.segments for a in s.path)]
    schema = pa.schema([("__p_id", pa.int32()), ("__p_segment", pa.string()), ("__p_step", pa.int32()),
                        ("__p_kind", pa.string()), ("__p_day", pa.int32()), ("__p_every", pa.int32()),
                        ("__p_until", pa.int32()), ("__p_template", pa.string()), ("__p_queue", pa.string()),
                        ("__p_priority", pa.int32()), ("__p_note", pa.string()), ("__p_channel", pa.string())])
    return pa.Table.from_pylist(rows, schema=schema)


def treatment_sql(strategy: Strategy, business_date: date) -> str:
    """The DuckDB statement over ``features``, ``assignments`` and ``path`` (see :func:`select_treatments`)."""
    bd = f"DATE '{business_date.isoformat()}'"
    whens = " ".join(f"WHEN ({to_duckdb(s.when)}) THEN {_q(s.code)}" for s in strategy.segments if s.when)
    catch_all = next((s.code for s in strategy.segments if s.when is None), None)
    otherwise = _q(catch_all) if catch_all else "NULL"
    segment_case = f"CASE {whens} ELSE {otherwise} END" if whens else otherwise
    action_conds = [(n, a.when) for n, a in enumerate(a for s in strategy.segments for a in s.path)]
    conds = " ".join(f"WHEN {n} THEN coalesce(({to_duckdb(w)}), false)" for n, w in action_conds if w is not None)
    action_ok = f"(CASE p.__p_id {conds} ELSE true END)" if conds else "true"
    return f"""
    WITH seg AS (
        SELECT f.*, CAST({segment_case} AS VARCHAR) AS __segment FROM features f
    ), entered AS (
        SELECT s.*, coalesce(a.since, {bd}) AS __since,
               date_diff('day', coalesce(a.since, {bd}), {bd}) AS __days
        FROM seg s LEFT JOIN assignments a
          ON a.account_id = s.account_id AND a.strategy = {_q(strategy.name)} AND a.segment = s.__segment
    ), due AS (
        SELECT e.account_id,
               list(struct_pack(step := p.__p_step, kind := p.__p_kind, day := p.__p_day,
                                template := p.__p_template, queue := p.__p_queue, priority := p.__p_priority,
                                note := p.__p_note, channel := p.__p_channel) ORDER BY p.__p_step) AS actions
        FROM entered e JOIN path p ON p.__p_segment = e.__segment
        WHERE e.__days >= p.__p_day
          AND ((p.__p_every IS NULL AND e.__days = p.__p_day)
               OR (p.__p_every IS NOT NULL AND (e.__days - p.__p_day) % p.__p_every = 0
                   AND (p.__p_until IS NULL OR e.__days <= p.__p_until)))
          AND {action_ok}
        GROUP BY e.account_id
    )
    SELECT e.account_id, {_q(strategy.name)} AS strategy, CAST({int(strategy.version)} AS BIGINT) AS strategy_version,
           e.__segment AS segment, e.__since AS segment_since, CAST(e.__days AS INTEGER) AS days_in_segment,
           coalesce(d.actions, []) AS actions
    FROM entered e LEFT JOIN due d USING (account_id)
    ORDER BY e.account_id
    """


def register_inputs(con: duckdb.DuckDBPyConnection, features: pa.Table, assignments: pa.Table | None) -> None:
    """Register ``features`` and ``assignments`` on ``con``, checked against their schemas."""
    con.register("features", features.select(FEATURE_SCHEMA.names).cast(FEATURE_SCHEMA))
    con.register("assignments", ASSIGNMENTS_SCHEMA.empty_table() if assignments is None else
                 assignments.select(ASSIGNMENTS_SCHEMA.names).cast(ASSIGNMENTS_SCHEMA))


def select_treatments(features: pa.Table, strategy: Strategy, business_date: date, *,
                      assignments: pa.Table | None = None) -> pa.Table:
    """One row per account of ``features``: its segment, since when, and the actions due on ``business_date``.

    ``features`` has the feature-view schema; ``assignments`` (:data:`ASSIGNMENTS_SCHEMA`) says since
    when each account is in its segment (see the module docstring). Result: :data:`TREATMENTS_SCHEMA`,
    ordered by account id; ``segment`` is NULL for an account that matches no segment of a strategy
    with ``otherwise: no_treatment``; ``actions`` lists the due actions by step (empty when none).
    """
    with closing(duckdb.connect()) as con:
        register_inputs(con, features, assignments)
        con.register("path", _path_table(strategy))
        result = con.sql(treatment_sql(strategy, business_date)).to_arrow_table()
    return result.cast(TREATMENTS_SCHEMA)


# -- one account ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Treatment:
    account_id: int
    strategy: str
    strategy_version: int
    segment: str | None
    segment_since: date
    days_in_segment: int
    actions: tuple[Action, ...]

    def as_row(self) -> dict[str, Any]:
        """The same shape as a row of :func:`select_treatments`."""
        return {"account_id": self.account_id, "strategy": self.strategy, "strategy_version": self.strategy_version,
                "segment": self.segment, "segment_since": self.segment_since, "days_in_segment": self.days_in_segment,
                "actions": [{"step": a.step, "kind": a.kind, "day": a.day, "template": a.template, "queue": a.queue,
                             "priority": a.priority, "note": a.note, "channel": a.channel} for a in self.actions]}


def _all_conditions(strategy: Strategy) -> list[Condition]:
    out = [s.when for s in strategy.segments if s.when is not None]
    return out + [a.when for s in strategy.segments for a in s.path if a.when is not None]


def choose_segment(features: Mapping[str, Any], strategy: Strategy,
                   values: Mapping[int, Any] | None = None) -> Segment | None:
    """The first segment whose condition is true for this account (a catch-all always is).

    ``values``: the conditions already evaluated for this account, by ``id(condition)``."""
    for seg in strategy.segments:
        if seg.when is None:
            return seg
        value = values[id(seg.when)] if values is not None else evaluate(seg.when, features)
        if value is True:
            return seg
    return None


def _since(segment: Segment | None, business_date: date, assignment: tuple[str, date] | None) -> date:
    if segment is not None and assignment is not None and assignment[0] == segment.code:
        return assignment[1]
    return business_date


def select_for_account(features: Mapping[str, Any], strategy: Strategy, business_date: date, *,
                       assignment: tuple[str, date] | None = None) -> Treatment:
    """The reference for one account. ``assignment`` = (segment code, since) the account had so far.

    Every condition of the strategy is evaluated on this account's features alone (one query over a
    one-row table); the segment order, entry dates and timing are plain Python."""
    conds = _all_conditions(strategy)
    values = {id(c): None if v is None else bool(v) for c, v in zip(conds, evaluate_many(conds, features))}
    seg = choose_segment(features, strategy, values)
    since = _since(seg, business_date, assignment)
    days_in = days_in_segment(business_date, since)
    actions = tuple(a for a in seg.path if a.due_on(days_in) and (a.when is None or values[id(a.when)] is True)) \
        if seg is not None else ()
    return Treatment(account_id=int(features["account_id"]), strategy=strategy.name,
                     strategy_version=strategy.version, segment=seg.code if seg else None, segment_since=since,
                     days_in_segment=days_in, actions=actions)


# -- explain ----------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _truth(value: Any) -> str:
    return "unknown (NULL)" if value is None else _show(bool(value))


@dataclass(frozen=True)
class Rejection:
    segment: str
    #: the first part of the condition that is not true, as DuckDB SQL
    failing: str
    #: False, or None when SQL says unknown
    value: bool | None
    values: dict[str, Any]

    def text(self) -> str:
        shown = ", ".join(f"{k} = {_show(v)}" for k, v in self.values.items())
        verdict = "false" if self.value is False else "unknown (NULL)"
        return f"segment {self.segment} not chosen: {self.failing} is {verdict}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True)
class Upcoming:
    on: date
    day: int
    action: Action
    #: the action's own condition on today's features (None when it has none or it is unknown)
    condition_now: bool | None


@dataclass(frozen=True)
class Explanation:
    account_id: int
    account_ref: str | None
    business_date: date
    strategy: Strategy
    rejected: tuple[Rejection, ...]
    segment: Segment | None
    #: the chosen segment's condition values (column → value)
    why: dict[str, Any]
    since: date
    days_in: int
    due_today: tuple[Action, ...]
    #: actions due today whose own condition is not true
    skipped_today: tuple[Action, ...]
    upcoming: tuple[Upcoming, ...] = field(default=())

    def lines(self) -> list[str]:
        ref = f"{self.account_ref} (id {self.account_id})" if self.account_ref else f"id {self.account_id}"
        out = [f"account {ref} on {self.business_date.isoformat()}: strategy {self.strategy.label}"]
        out += [r.text() for r in self.rejected]
        if self.segment is None:
            out.append("no segment matches: no treatment (the strategy says 'otherwise: no_treatment')")
            return out
        if self.segment.when is None:
            reason = "the catch-all segment"
        else:
            shown = ", ".join(f"{k} = {_show(v)}" for k, v in self.why.items())
            reason = f"{to_duckdb(self.segment.when)} is true" + (f" ({shown})" if shown else "")
        out.append(f"segment {self.segment.code} chosen: {reason}")
        out.append(f"in segment since {self.since.isoformat()} (day {self.days_in})")
        if not self.segment.path:
            out.append("no treatment: this segment's path is empty")
            return out
        if self.due_today:
            out.append("due today:")
            out += [f"  step {a.step}: {a.describe()}" for a in self.due_today]
        else:
            out.append("nothing due today")
        for a in self.skipped_today:
            out.append(f"  step {a.step} skipped today: its condition {to_duckdb(a.when) if a.when else ''} is not true")
        if self.upcoming:
            out.append("next:")
            for u in self.upcoming:
                cond = ""
                if u.action.when is not None:
                    cond = f" (condition {_truth(u.condition_now)} today)"
                out.append(f"  {u.on.isoformat()} (day {u.day}) step {u.action.step}: {u.action.describe()}{cond}")
        else:
            out.append("nothing further on this path")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())


def explain(features: Mapping[str, Any], strategy: Strategy, *, business_date: date,
            segment_since: date | None = None) -> Explanation:
    """Why this account is in its segment, the first failing condition of each segment before it (with
    the feature values involved), what is due today and what comes next, with dates.

    ``segment_since``: the day the account entered the segment it is chosen into (default: today)."""
    rejected: list[Rejection] = []
    chosen: Segment | None = None
    for seg in strategy.segments:
        if seg.when is None:
            chosen = seg
            break
        parts = conjuncts(seg.when)
        values = evaluate_many([seg.when, *parts], features)
        if values[0] is True:
            chosen = seg
            break
        failing, value = next(((p, v) for p, v in zip(parts, values[1:]) if v is not True), (seg.when.expr, values[0]))
        names = [c for c in seg.when.columns if c in {col.name for col in failing.find_all(exp.Column)}]
        rejected.append(Rejection(segment=seg.code, failing=to_duckdb(failing),
                                  value=None if value is None else bool(value),
                                  values={n: features[n] for n in names}))
    since = segment_since or business_date
    days_in = days_in_segment(business_date, since)
    if chosen is None:
        return Explanation(account_id=int(features["account_id"]), account_ref=features.get("account_ref"),
                           business_date=business_date, strategy=strategy, rejected=tuple(rejected), segment=None,
                           why={}, since=since, days_in=days_in, due_today=(), skipped_today=())
    why = {n: features[n] for n in (chosen.when.columns if chosen.when else ())}
    conds = [a.when for a in chosen.path if a.when is not None]
    now = dict(zip([id(c) for c in conds], evaluate_many(conds, features)))
    due, skipped, upcoming = [], [], []
    for a in chosen.path:
        ok = True if a.when is None else now[id(a.when)] is True
        if a.due_on(days_in):
            (due if ok else skipped).append(a)
        nxt = a.next_day(days_in + 1)
        if nxt is not None:
            upcoming.append(Upcoming(on=action_date(since, nxt), day=nxt, action=a,
                                     condition_now=None if a.when is None or now[id(a.when)] is None
                                     else bool(now[id(a.when)])))
    upcoming.sort(key=lambda u: (u.on, u.action.step))
    return Explanation(account_id=int(features["account_id"]), account_ref=features.get("account_ref"),
                       business_date=business_date, strategy=strategy, rejected=tuple(rejected), segment=chosen,
                       why=why, since=since, days_in=days_in, due_today=tuple(due), skipped_today=tuple(skipped),
                       upcoming=tuple(upcoming))
