"""The whole treatment choice as one portable SQL statement: strategies in order, experiment arms,
segment entry dates and the actions due today, over the feature view of the whole portfolio.

The daily strategy step of the store (:func:`arrears.strategy.step.choose`) decides in Python, one
strategy at a time, which is clear and quick for the store's open cases. Past one machine the
decision must run where the data is, so this module writes the same rules as SQL text in DuckDB's
dialect that SQLGlot translates to Spark SQL (:func:`arrears.delinquency.spark_engine.to_spark_sql`).
``tests/strategy/test_selection_sql.py`` proves it equal to :func:`~arrears.strategy.step.choose` on
random portfolios, and ``tests/batch/test_filecycle.py`` proves Spark equal to DuckDB row by row.

Inputs (relation names):

``features``
    the feature view (:data:`arrears.strategy.features.FEATURE_SCHEMA`);
``assignments``
    ``account_id, strategy, segment, since``: since when each account is in its segment
    (yesterday's result; see :mod:`arrears.strategy.engine`);
``paths``
    :func:`paths_table`: every action of every segment of every strategy, numbered;
``arms``
    ``account_id, arm_0, arm_1, …``: each account's arm in each live experiment, from
    :func:`arms_sql` — the one part written per dialect, because the hash functions differ.

How the choice is made, exactly as the step makes it:

1. Every strategy places the account in a segment (or none: ``otherwise: no_treatment``); the
   FIRST strategy, in the order given, that places it is its *base*.
2. The first live experiment whose champion arm names the base strategy (or names none) deals
   the account an arm by its account number. The arm runs its strategy (default: the base) and,
   when it names a segment, puts the account there. That re-run happens only when it changes
   something and the base segment's path is not empty (holds and plans stay untreated whatever the
   arm). A re-run that places the account nowhere leaves it untreated.
3. The entry date is kept when yesterday's assignment names the same strategy and segment; the
   actions due are those whose day (or repeat) falls on today's days-in-segment and whose condition
   holds.

Outputs: :func:`treatments_sql` (one row per treated account) and :func:`actions_sql` (one row per
due action), both over a relation ``chosen`` that :func:`chosen_sql` builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa

from arrears.kit.errors import ArrearsError
from arrears.strategy.conditions import to_duckdb
from arrears.strategy.experiments import ExperimentError, assignment_sql
from arrears.strategy.model import Strategy

PATHS_SCHEMA = pa.schema([
    ("path_id", pa.int32()), ("strategy", pa.string()), ("segment", pa.string()), ("step", pa.int32()),
    ("kind", pa.string()), ("day", pa.int32()), ("every", pa.int32()), ("until", pa.int32()),
    ("template", pa.string()), ("queue", pa.string()), ("priority", pa.int32()), ("note", pa.string()),
    ("channel", pa.string()),
])

TREATMENT_COLUMNS = ("account_id", "account_ref", "strategy", "strategy_version", "segment", "segment_since",
                     "days_in_segment", "experiment", "arm")
ACTION_COLUMNS = ("account_id", "account_ref", "strategy", "strategy_version", "segment", "step", "kind", "day",
                  "template", "queue", "priority", "note", "channel")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _actions(strategies: Sequence[Strategy]) -> list[tuple[int, Strategy, Any, Any]]:
    """(path id, strategy, segment, action) for every action of every strategy, numbered in order."""
    out = []
    for strategy in strategies:
        for seg in strategy.segments:
            for action in seg.path:
                out.append((len(out), strategy, seg, action))
    return out


def paths_table(strategies: Sequence[Strategy]) -> pa.Table:
    """The ``paths`` input: one row per action of every segment of every strategy."""
    rows = [{"path_id": n, "strategy": s.name, "segment": seg.code, "step": a.step, "kind": a.kind, "day": a.day,
             "every": a.every, "until": a.until, "template": a.template, "queue": a.queue, "priority": a.priority,
             "note": a.note, "channel": a.channel} for n, s, seg, a in _actions(strategies)]
    return pa.Table.from_pylist(rows, schema=PATHS_SCHEMA)


def live_experiments(experiments: Sequence[Any], business_date: date) -> list[Any]:
    return [e for e in experiments if e.active_on(business_date)]


def arms_sql(experiments: Sequence[Any], business_date: date, dialect: str = "duckdb") -> str:
    """The ``arms`` input over ``features``, in ``dialect`` (duckdb or spark): each account's arm in
    each live experiment, by its account number."""
    live = live_experiments(experiments, business_date)
    cols = "".join(f", {assignment_sql(e, 'account_ref', dialect)} AS arm_{i}" for i, e in enumerate(live))
    return f"SELECT account_id{cols} FROM features"


def _segment_case(strategy: Strategy) -> str:
    whens = " ".join(f"WHEN ({to_duckdb(s.when)}) THEN {_q(s.code)}" for s in strategy.segments if s.when)
    catch_all = next((s.code for s in strategy.segments if s.when is None), None)
    otherwise = _q(catch_all) if catch_all else "NULL"
    return f"CAST(CASE {whens} ELSE {otherwise} END AS VARCHAR)" if whens else f"CAST({otherwise} AS VARCHAR)"


def check_arms(strategies: Sequence[Strategy], experiments: Sequence[Any], business_date: date) -> None:
    """Refuse a live experiment whose arm names a strategy not given, or a segment its strategy lacks."""
    names = {s.name: s for s in strategies}
    for e in live_experiments(experiments, business_date):
        for arm in e.arms:
            if arm.strategy is not None and arm.strategy not in names:
                raise ExperimentError(f"experiment {e.code}, arm {arm.code}: strategy {arm.strategy!r} is not among the "
                                  f"strategy files given ({', '.join(names)})")
            if arm.segment is not None:
                targets = [names[arm.strategy]] if arm.strategy else (
                    [names[e.champion_arm.strategy]] if e.champion_arm.strategy in names else list(strategies))
                for t in targets:
                    if not any(s.code == arm.segment for s in t.segments):
                        raise ExperimentError(f"experiment {e.code}, arm {arm.code}: segment {arm.segment!r} is "
                                              f"not a segment of strategy {t.label}")


def chosen_sql(strategies: Sequence[Strategy], experiments: Sequence[Any], business_date: date) -> str:
    """``chosen``: one row per treated account — strategy index, segment, entry date, days in it,
    experiment and arm (over ``features``, ``assignments`` and ``arms``)."""
    if not strategies:
        raise ArrearsError("the strategy step needs at least one strategy file")
    check_arms(strategies, experiments, business_date)
    live = live_experiments(experiments, business_date)
    bd = f"DATE '{business_date.isoformat()}'"
    n = len(strategies)
    segs = ", ".join(f"{_segment_case(s)} AS seg_{i}" for i, s in enumerate(strategies))
    arm_cols = "".join(f", m.arm_{i}" for i in range(len(live)))
    base_i = "CASE " + " ".join(f"WHEN seg_{i} IS NOT NULL THEN {i}" for i in range(n)) + " END"
    base_seg = f"coalesce({', '.join(f'seg_{i}' for i in range(n))})" if n > 1 else "seg_0"
    empty = [f"(base_i = {i} AND base_segment = {_q(seg.code)})"
             for i, s in enumerate(strategies) for seg in s.segments if not seg.path]
    base_empty = " OR ".join(empty) if empty else "false"
    index = {s.name: i for i, s in enumerate(strategies)}

    # the first live experiment covering the base strategy decides
    covers = []
    for k, e in enumerate(live):
        champion = e.champion_arm.strategy
        cond = "true" if champion is None else (f"base_i = {index[champion]}" if champion in index else "false")
        covers.append(f"WHEN {cond} THEN {k}")
    exp_k = f"CASE {' '.join(covers)} END" if covers else "CAST(NULL AS INTEGER)"
    exp_code = ("CASE exp_k " + " ".join(f"WHEN {k} THEN {_q(e.code)}" for k, e in enumerate(live)) + " END"
                if live else "CAST(NULL AS VARCHAR)")
    arm_code = ("CASE exp_k " + " ".join(f"WHEN {k} THEN arm_{k}" for k in range(len(live))) + " END"
                if live else "CAST(NULL AS VARCHAR)")
    target_whens, override_whens = [], []
    for k, e in enumerate(live):
        for arm in e.arms:
            on = f"exp_k = {k} AND arm_code = {_q(arm.code)}"
            if arm.strategy is not None:
                target_whens.append(f"WHEN {on} THEN {index[arm.strategy]}")
            if arm.segment is not None:
                override_whens.append(f"WHEN {on} THEN {_q(arm.segment)}")
    target_i = f"CASE {' '.join(target_whens)} ELSE base_i END" if target_whens else "base_i"
    override = f"CASE {' '.join(override_whens)} END" if override_whens else "CAST(NULL AS VARCHAR)"
    seg_of_target = "CASE target_i " + " ".join(f"WHEN {i} THEN seg_{i}" for i in range(n)) + " END"
    name_of = "CASE final_i " + " ".join(f"WHEN {i} THEN {_q(s.name)}" for i, s in enumerate(strategies)) + " END"
    version_of = ("CASE final_i " + " ".join(f"WHEN {i} THEN {int(s.version)}" for i, s in enumerate(strategies))
                  + " END")
    return f"""
    WITH segs AS (
        SELECT f.account_id, f.account_ref, {segs}{arm_cols}
        FROM features f LEFT JOIN arms m ON m.account_id = f.account_id
    ), base AS (
        SELECT *, {base_i} AS base_i, {base_seg} AS base_segment FROM segs
    ), dealt AS (
        SELECT *, {exp_k} AS exp_k FROM base WHERE base_i IS NOT NULL
    ), armed AS (
        SELECT *, {exp_code} AS experiment, {arm_code} AS arm_code FROM dealt
    ), targeted AS (
        SELECT *, {target_i} AS target_i, {override} AS override_segment FROM armed
    ), decided AS (
        SELECT *,
               exp_k IS NOT NULL AND (target_i <> base_i OR override_segment IS NOT NULL)
                   AND NOT ({base_empty}) AS rerun
        FROM targeted
    ), final AS (
        SELECT account_id, account_ref, experiment, arm_code AS arm,
               CASE WHEN rerun THEN target_i ELSE base_i END AS final_i,
               CASE WHEN rerun THEN coalesce(override_segment, {seg_of_target}) ELSE base_segment END AS segment
        FROM decided
    ), named AS (
        SELECT account_id, account_ref, experiment, arm, segment,
               CAST({name_of} AS VARCHAR) AS strategy, CAST({version_of} AS BIGINT) AS strategy_version
        FROM final WHERE segment IS NOT NULL
    )
    SELECT n.account_id, n.account_ref, n.strategy, n.strategy_version, n.segment,
           coalesce(a.since, {bd}) AS segment_since,
           CAST(date_diff('day', coalesce(a.since, {bd}), {bd}) AS INTEGER) AS days_in_segment,
           n.experiment, n.arm
    FROM named n LEFT JOIN assignments a
      ON a.account_id = n.account_id AND a.strategy = n.strategy AND a.segment = n.segment
    """


def treatments_sql() -> str:
    """One row per treated account (:data:`TREATMENT_COLUMNS`), over ``chosen``."""
    return f"SELECT {', '.join(TREATMENT_COLUMNS)} FROM chosen"


def actions_sql(strategies: Sequence[Strategy]) -> str:
    """One row per action due today (:data:`ACTION_COLUMNS`), over ``chosen``, ``paths`` and ``features``."""
    conds = " ".join(f"WHEN {n} THEN coalesce(({to_duckdb(a.when)}), false)"
                     for n, _, _, a in _actions(strategies) if a.when is not None)
    action_ok = f"(CASE p.path_id {conds} ELSE true END)" if conds else "true"
    return f"""
    SELECT c.account_id, c.account_ref, c.strategy, c.strategy_version, c.segment, p.step, p.kind, p.day,
           p.template, p.queue, p.priority, p.note, p.channel
    FROM chosen c
    JOIN paths p ON p.strategy = c.strategy AND p.segment = c.segment
    JOIN features f ON f.account_id = c.account_id
    WHERE c.days_in_segment >= p.day
      AND ((p.every IS NULL AND c.days_in_segment = p.day)
           OR (p.every IS NOT NULL AND (c.days_in_segment - p.day) % p.every = 0
               AND (p.until IS NULL OR c.days_in_segment <= p.until)))
      AND {action_ok}
    """


def choose_duckdb(features: pa.Table, strategies: Sequence[Strategy], business_date: date, *,
                  assignments: pa.Table | None = None, experiments: Sequence[Any] = ()) -> tuple[pa.Table, pa.Table]:
    """(treatments, actions) of the portfolio in DuckDB, ordered by account (and step)."""
    from contextlib import closing

    import duckdb

    from arrears.strategy.engine import register_inputs

    with closing(duckdb.connect()) as con:
        register_inputs(con, features, assignments)
        con.register("paths", paths_table(strategies))
        con.execute(f"CREATE TEMP TABLE arms AS {arms_sql(experiments, business_date)}")
        con.execute(f"CREATE TEMP TABLE chosen AS {chosen_sql(strategies, experiments, business_date)}")
        treatments = con.sql(f"{treatments_sql()} ORDER BY account_id").to_arrow_table()
        actions = con.sql(f"{actions_sql(strategies)} ORDER BY account_id, step").to_arrow_table()
    return treatments, actions
