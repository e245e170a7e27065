"""Selection on the whole table equals selection account by account; explain says why and what next."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.strategy.config import load_strategy
from arrears.strategy.engine import (
    ASSIGNMENTS_SCHEMA,
    TREATMENTS_SCHEMA,
    explain,
    select_for_account,
    select_treatments,
)
from arrears.strategy.features import FEATURES, features_table
from arrears.strategy.model import Strategy

ROOT = Path(__file__).resolve().parents[2]
EARLY = load_strategy(ROOT / "strategies" / "early-gentle.yaml")
LATE = load_strategy(ROOT / "strategies" / "late-stage.yaml")
BD = date(2026, 3, 1)

TEXT_VALUES: dict[str, list[str]] = {
    "bucket": ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"],
    "hold_kind": ["dispute", "complaint", "hardship", "deceased"],
    "case_status": ["new", "contacting", "follow_up", "closed"],
    "last_contact_outcome": ["no_answer", "refused", "promise_to_pay", "right_party_contact"],
    "plan_status": ["pending_approval", "awaiting_confirmation", "active", "completed", "broken"],
    "account_status": ["open", "charged_off"],
    "language": ["zh_CN", "en"],
    "product": ["standard", "gold"],
    "region_code": ["11", "44"],
}
INT_RANGES: dict[str, tuple[int, int]] = {
    "dpd": (0, 200), "balance": (-10_000, 8_000_000), "utilisation_bp": (0, 12_000), "behaviour_score": (0, 10_000),
    "amount_past_due": (0, 600_000), "payments_90d_fen": (0, 200_000), "payments_count_90d": (0, 4),
    "contact_attempts_7d": (0, 12), "rpc_30d": (0, 3),
}


#: values on the segment boundaries of the example strategies, mixed into the random ones
EDGES: dict[str, list[int]] = {
    "dpd": [0, 1, 10, 11, 30, 31, 60, 61, 90, 91, 120, 121, 179, 180],
    "balance": [4_999_999, 5_000_000], "utilisation_bp": [8_999, 9_000], "behaviour_score": [3_999, 4_000, 7_999, 8_000],
}
#: mostly false, so that the segments behind the "on hold" ones are reached
RARE = ("hold_active", "hold_review_pending", "open_promise", "charge_off")


def _value(f: Any) -> st.SearchStrategy[Any]:
    if f.name in RARE:
        base: st.SearchStrategy[Any] = st.sampled_from([False, False, False, True])
    elif f.type == "boolean":
        base = st.booleans()
    elif f.type == "text":
        base = st.sampled_from(TEXT_VALUES.get(f.name, ["x", "y"]))
    else:
        lo, hi = INT_RANGES.get(f.name, (0, 400))
        base = st.one_of(st.integers(lo, hi), st.sampled_from(EDGES[f.name])) if f.name in EDGES else st.integers(lo, hi)
    return st.one_of(st.none(), base) if f.nullable else base


ROW = st.fixed_dictionaries({f.name: _value(f) for f in FEATURES if f.name not in ("account_id", "account_ref")})


def _rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = draw(st.lists(ROW, min_size=1, max_size=12))
    return [{**r, "account_id": i + 1, "account_ref": f"ACC-{i + 1}"} for i, r in enumerate(rows)]


@st.composite
def portfolios(draw: st.DrawFn, strategy: Strategy) -> tuple[list[dict[str, Any]], dict[int, tuple[str, date]]]:
    rows = _rows(draw)
    codes = [s.code for s in strategy.segments] + ["gone_segment"]
    assignments = {}
    for r in rows:
        if draw(st.booleans()):
            assignments[r["account_id"]] = (draw(st.sampled_from(codes)), BD - timedelta(days=draw(st.integers(0, 40))))
    return rows, assignments


def _assignments_table(strategy: Strategy, assignments: dict[int, tuple[str, date]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"account_id": a, "strategy": strategy.name, "segment": seg, "since": since}
         for a, (seg, since) in assignments.items()]
        # another strategy's memory for the same account never counts
        + [{"account_id": a, "strategy": "other", "segment": seg, "since": BD - timedelta(days=3)}
           for a, (seg, _) in assignments.items()],
        schema=ASSIGNMENTS_SCHEMA)


def _check(strategy: Strategy, data: tuple[list[dict[str, Any]], dict[int, tuple[str, date]]]) -> list[dict[str, Any]]:
    rows, assignments = data
    table = select_treatments(features_table(rows), strategy, BD, assignments=_assignments_table(strategy, assignments))
    assert table.schema == TREATMENTS_SCHEMA
    one_by_one = [select_for_account(r, strategy, BD, assignment=assignments.get(r["account_id"])).as_row()
                  for r in rows]
    assert table.to_pylist() == one_by_one
    return one_by_one


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios(EARLY))
def test_early_table_equals_one_by_one(data) -> None:  # type: ignore[no-untyped-def]
    _check(EARLY, data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(portfolios(LATE))
def test_late_table_equals_one_by_one(data) -> None:  # type: ignore[no-untyped-def]
    _check(LATE, data)


def test_the_properties_see_every_segment_and_actions() -> None:
    """The generated rows reach each segment and make actions due (else the property proves little)."""
    seen: set[str | None] = set()
    due = 0

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)  # the same rows every run
    @given(portfolios(LATE))
    def collect(data) -> None:  # type: ignore[no-untyped-def]
        nonlocal due
        rows, assignments = data
        for r in rows:
            t = select_for_account(r, LATE, BD, assignment=assignments.get(r["account_id"]))
            seen.add(t.segment)
            due += len(t.actions)

    collect()
    assert {s.code for s in LATE.segments} | {None} == seen
    assert due > 0


def _row(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {f.name: None if f.nullable else {"integer": 0, "text": "", "boolean": False}[f.type]
                            for f in FEATURES}
    base.update(account_id=7, account_ref="ACC-7", bucket="M2", account_status="open", language="zh_CN",
                product="standard", credit_limit=5_000_000)
    base.update(values)
    return base


def test_timing_from_segment_entry() -> None:
    row = _row(dpd=45, behaviour_score=7_000)  # early_m2
    since = BD - timedelta(days=4)
    t = select_treatments(features_table([row]), EARLY, BD,
                          assignments=_assignments_table(EARLY, {7: ("early_m2", since)})).to_pylist()[0]
    assert (t["segment"], t["segment_since"], t["days_in_segment"]) == ("early_m2", since, 4)
    # day 4: the every-2-days call (day 0, 2, 4 …) only
    assert [(a["step"], a["kind"], a["queue"], a["priority"]) for a in t["actions"]] == [
        (2, "call_queue", "early_calls", 3)]
    # a new segment (or none remembered) starts at day 0
    t = select_treatments(features_table([row]), EARLY, BD).to_pylist()[0]
    assert (t["segment_since"], t["days_in_segment"]) == (BD, 0)
    assert [(a["step"], a["kind"], a["template"]) for a in t["actions"]] == [
        (1, "sms", "early.second_reminder"), (2, "call_queue", None)]
    assert (t["strategy"], t["strategy_version"]) == ("early-gentle", 1)


def test_no_treatment_otherwise() -> None:
    t = select_treatments(features_table([_row(dpd=75, bucket="M3")]), EARLY, BD).to_pylist()[0]
    assert t["segment"] is None and t["actions"] == []


def test_explain_names_the_first_failing_condition_with_values() -> None:
    row = _row(dpd=45, behaviour_score=None, rpc_30d=0, contact_attempts_7d=3)
    e = explain(row, EARLY, business_date=BD, segment_since=BD - timedelta(days=14))
    assert e.segment is not None and e.segment.code == "early_m2"
    assert e.text().splitlines() == [
        "account ACC-7 (id 7) on 2026-03-01: strategy early-gentle v1",
        "segment on_hold not chosen: hold_active OR hold_review_pending is false "
        "(hold_active = false, hold_review_pending = false)",
        "segment plan_in_progress not chosen: plan_status IN ('pending_approval', 'awaiting_confirmation', 'active') "
        "is unknown (NULL) (plan_status = NULL)",
        "segment promise_pending not chosen: open_promise is false (open_promise = false)",
        "segment early_self_cure not chosen: dpd BETWEEN 1 AND 10 is false (dpd = 45)",
        "segment early_m1 not chosen: dpd BETWEEN 1 AND 30 is false (dpd = 45)",
        "segment early_m2 chosen: dpd BETWEEN 31 AND 60 is true (dpd = 45)",
        "in segment since 2026-02-15 (day 14)",
        "due today:",
        "  step 2: day 0, every 2 days until day 29: call_queue queue=early_calls priority=3 "
        "when contact_attempts_7d < 8",
        "  step 4: day 14: review_task queue=early_review when rpc_30d = 0 OR last_contact_outcome = 'refused'",
        "next:",
        "  2026-03-03 (day 16) step 2: day 0, every 2 days until day 29: call_queue queue=early_calls priority=3 "
        "when contact_attempts_7d < 8 (condition true today)",
    ]


def test_explain_a_skipped_action_and_a_catch_all() -> None:
    row = _row(dpd=45, rpc_30d=1, last_contact_outcome="promise_to_pay")
    e = explain(row, EARLY, business_date=BD, segment_since=BD - timedelta(days=14))
    assert [a.step for a in e.skipped_today] == [4]
    assert "  step 4 skipped today: its condition rpc_30d = 0 OR last_contact_outcome = 'refused' is not true" \
        in e.text().splitlines()
    e = explain(_row(dpd=75), EARLY, business_date=BD)
    assert e.segment is None and e.text().splitlines()[-1].startswith("no segment matches: no treatment")
    e = explain(_row(hold_active=True, hold_kind="dispute"), LATE, business_date=BD)
    assert e.segment is not None and e.segment.code == "on_hold"
    assert e.text().splitlines()[-2:] == ["in segment since 2026-03-01 (day 0)",
                                          "no treatment: this segment's path is empty"]


def test_explain_the_upcoming_path_with_dates() -> None:
    row = _row(dpd=130, balance=9_000_000, rpc_30d=0)
    e = explain(row, LATE, business_date=BD)
    assert e.segment is not None and e.segment.code == "m5_agency"
    assert [(a.step, a.kind) for a in e.due_today] == [(1, "letter"), (2, "call_queue")]
    assert [(u.on, u.action.kind, u.condition_now) for u in e.upcoming] == [
        (date(2026, 3, 5), "call_queue", True), (date(2026, 3, 8), "agency_placement", True),
        (date(2026, 3, 31), "review_task", True)]
