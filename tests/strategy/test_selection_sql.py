"""The portable selection SQL chooses exactly what the store's strategy step chooses.

:func:`arrears.strategy.step.choose` (Python, strategy by strategy) is the reference; the SQL of
:mod:`arrears.strategy.selection_sql` runs the whole portfolio in one statement (DuckDB here, Spark
in tests/batch/test_filecycle.py). Random feature rows, random yesterday's assignments, two
strategies in order and experiments whose arms switch strategy or force a segment.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.kit.errors import ArrearsError
from arrears.strategy.engine import ASSIGNMENTS_SCHEMA
from arrears.strategy.experiments import assign, load_experiments
from arrears.strategy.features import features_table
from arrears.strategy.selection_sql import choose_duckdb
from arrears.strategy.step import choose
from tests.strategy.test_engine import BD, EARLY, LATE, ROW

EXPERIMENTS = """\
experiments:
  - code: early-e
    salt: early-e-1
    start: 2026-01-01
    champion: champ
    arms:
      - {code: champ, share_bp: 4000, strategy: %(early)s}
      - {code: to-late, share_bp: 3000, strategy: %(late)s}
      - {code: forced, share_bp: 3000, segment: early_m2}
  - code: late-e
    salt: late-e-1
    start: 2026-01-01
    champion: champ
    arms:
      - {code: champ, share_bp: 5000, strategy: %(late)s}
      - {code: m3-only, share_bp: 5000, segment: m3}
  - code: ended
    salt: ended-1
    start: 2025-01-01
    end: 2025-12-31
    arms:
      - {code: all, share_bp: 10000, segment: on_hold}
"""


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("exp") / "experiments.yaml"
    path.write_text(EXPERIMENTS % {"early": EARLY.name, "late": LATE.name}, encoding="utf-8")
    return load_experiments(path)


@st.composite
def portfolios(draw: st.DrawFn) -> tuple[list[dict[str, Any]], pa.Table]:
    rows = draw(st.lists(ROW, min_size=1, max_size=25))
    rows = [{**r, "account_id": i + 1, "account_ref": f"CC{draw(st.integers(0, 10**9)):010d}-{i}"}
            for i, r in enumerate(rows)]
    names = {EARLY.name: [s.code for s in EARLY.segments], LATE.name: [s.code for s in LATE.segments]}
    memory = []
    for r in rows:
        if draw(st.booleans()):
            strategy = draw(st.sampled_from(sorted(names)))
            memory.append({"account_id": r["account_id"], "strategy": strategy,
                           "segment": draw(st.sampled_from(names[strategy])),
                           "since": BD - timedelta(days=draw(st.integers(0, 40)))})
    return rows, pa.Table.from_pylist(memory, schema=ASSIGNMENTS_SCHEMA)


def _reference(rows: list[dict[str, Any]], assignments: pa.Table, experiments: Any) -> tuple[list[Any], list[Any]]:
    chosen = choose(features_table(rows), [EARLY, LATE], BD, assignments=assignments, experiments=experiments)
    refs = {r["account_id"]: r["account_ref"] for r in rows}
    treatments = [(r["account_id"], refs[r["account_id"]], r["strategy"], r["strategy_version"], r["segment"],
                   r["segment_since"], r["days_in_segment"], r["experiment"], r["arm"]) for r in chosen]
    actions = [(r["account_id"], a["step"], a["kind"], a["day"], a["template"], a["queue"], a["priority"], a["note"])
               for r in chosen for a in r["actions"]]
    return treatments, actions


def _sql(rows: list[dict[str, Any]], assignments: pa.Table, experiments: Any) -> tuple[list[Any], list[Any]]:
    treatments, actions = choose_duckdb(features_table(rows), [EARLY, LATE], BD, assignments=assignments,
                                        experiments=experiments)
    t = [tuple(r.values()) for r in treatments.to_pylist()]
    a = [(r["account_id"], r["step"], r["kind"], r["day"], r["template"], r["queue"], r["priority"], r["note"])
         for r in actions.to_pylist()]
    return t, a


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(portfolios())
def test_sql_choice_equals_the_step_without_experiments(data: Any) -> None:
    rows, assignments = data
    assert _sql(rows, assignments, ()) == _reference(rows, assignments, ())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(portfolios())
def test_sql_choice_equals_the_step_with_experiments(experiments: Any, data: Any) -> None:
    rows, assignments = data
    assert _sql(rows, assignments, experiments) == _reference(rows, assignments, experiments)


def test_the_arms_are_actually_exercised(experiments: Any) -> None:
    # a fixed portfolio wide enough that every arm of both live experiments is dealt and re-runs happen
    rows = [{**r, "account_id": i + 1, "account_ref": f"ACC{i:05d}"} for i, r in enumerate(
        [_row(dpd=d) for d in (15, 45, 75, 100, 130) for _ in range(40)])]
    treatments, _ = choose_duckdb(features_table(rows), [EARLY, LATE], BD, experiments=experiments)
    seen = {(r["experiment"], r["arm"], r["strategy"], r["segment"]) for r in treatments.to_pylist()}
    assert {e for e, *_ in seen} == {"early-e", "late-e"}
    assert {(e, a) for e, a, *_ in seen} == {("early-e", "champ"), ("early-e", "forced"),
                                             ("late-e", "champ"), ("late-e", "m3-only")}
    # the late-stage strategy places no early account, so the "to-late" arm leaves its accounts untreated
    treated = {r["account_id"] for r in treatments.to_pylist()}
    early = [r for r in rows if r["dpd"] <= 60]
    to_late = {r["account_id"] for r in early if assign(r["account_ref"], experiments[0]).code == "to-late"}
    assert to_late and {r["account_id"] for r in early} - treated == to_late
    assert ("early-e", "forced", EARLY.name, "early_m2") in seen
    assert any(e == "late-e" and a == "m3-only" and s == "m3" for e, a, _, s in seen)
    assert _sql(rows, pa.Table.from_pylist([], schema=ASSIGNMENTS_SCHEMA), experiments) == \
        _reference(rows, pa.Table.from_pylist([], schema=ASSIGNMENTS_SCHEMA), experiments)


def _row(**values: Any) -> dict[str, Any]:
    base = {"product": "standard", "account_status": "open", "language": "zh_CN", "region_code": "44",
            "months_on_book": 30, "credit_limit": 5_000_000, "balance": 1_200_000, "utilisation_bp": 2_400,
            "dpd": 0, "bucket": "M1", "cycles_delinquent": 1, "amount_past_due": 80_000, "charge_off": False,
            "payments_90d_fen": 0, "payments_count_90d": 0, "last_payment_days_ago": None, "behaviour_score": 5_000,
            "hold_active": False, "hold_kind": None, "hold_review_pending": False, "case_id": 1,
            "case_status": "contacting", "days_in_case": 10, "last_contact_outcome": None,
            "days_since_last_contact": None, "contact_attempts_7d": 0, "rpc_30d": 0, "open_promise": False,
            "promise_broken_90d": False, "plan_status": None}
    base.update(values)
    dpd = base["dpd"]
    base["bucket"] = "M1" if dpd <= 30 else "M2" if dpd <= 60 else "M3" if dpd <= 90 else "M4" if dpd <= 120 else "M5"
    return base


def test_an_arm_naming_an_unknown_strategy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("experiments:\n  - code: x\n    salt: x1\n    start: 2026-01-01\n    arms:\n"
                    "      - {code: a, share_bp: 10000, strategy: nowhere}\n", encoding="utf-8")
    with pytest.raises(ArrearsError, match="nowhere"):
        choose_duckdb(features_table([{**_row(dpd=15), "account_id": 1, "account_ref": "A"}]), [EARLY], BD,
                      experiments=load_experiments(path))


def test_no_strategy_is_refused() -> None:
    with pytest.raises(ArrearsError):
        choose_duckdb(features_table([]), [], date(2026, 3, 1))
