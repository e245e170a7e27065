"""The strategy step of the daily cycle: score, choose each account's treatment, apply it.

:func:`run_strategy_step` (see docs/strategy.md, "The daily strategy step"):

1. **Score** (with a model directory): every account with an open case is scored by the behaviour
   model on the store's features of the business date; the date's ``behaviour_scores`` rows are
   replaced (one transaction), so the feature view's ``behaviour_score`` sees today's score.
2. **Compute** (no writes): the feature view, the current assignments, and :func:`select_treatments`
   for each strategy file. Files are tried in the order given: an account is treated by the FIRST
   strategy that puts it in a segment (``otherwise: no_treatment`` strategies leave the others to
   the next file). With an experiments file, an account whose strategy is an active experiment's
   champion strategy (or any account, when the champion arm names no strategy) is dealt an arm by
   :func:`arrears.strategy.experiments.assign` on its account number; an arm naming another strategy
   runs that strategy (it must be one of the files given) for the account, an arm naming a segment
   places the account in that segment — unless the strategy put it in a segment with an empty path
   (hold, plan): those stay untreated whatever the arm. The first active experiment covering an
   account decides.
3. **Apply** (one transaction): assignments replaced by today's, the day's decision rows replaced,
   due sms/email/letter actions enqueued through :func:`arrears.contact.plan.enqueue_message_batches`
   (idempotency key per date/account/strategy/version/segment/step), and work actions turned into
   tasks linked to their rule in ``strategy_tasks`` (unique per date/account/strategy/version/
   segment/step, so re-running the date creates nothing twice), due ``portal_link`` actions sent
   through :func:`arrears.strategy.portal_links.send_links` (once per account and date); then, in the
   same transaction, the
   date's new experiment entries (``experiment_entries``: the arm at entry, never changed by a re-run)
   and the date's precomputed read-out sums (``experiment_arm_stats``, rewritten;
   :func:`arrears.reports.experiments.refresh_arm_stats`) that the dashboards read.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from os import PathLike
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from arrears.cases.model import OPEN_STATES, can_transition
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError, ConfigError
from arrears.strategy import repository as repo
from arrears.strategy.engine import TREATMENTS_SCHEMA, select_treatments
from arrears.strategy.features import build_features
from arrears.strategy.model import LINK_KIND, MESSAGE_KINDS, Strategy

#: Work actions and the task kind each creates.
TASK_KIND = {"call_queue": "call", "review_task": "review_task", "legal_review": "legal_review",
             "agency_placement": "agency_placement", "charge_off": "charge_off"}
#: Work actions that also move the case when its lifecycle allows it (charge-off never does: the
#: write-off is the charge-off committee's decision, the task asks for it).
MOVES_CASE = ("legal_review", "agency_placement")


@dataclass
class StepResult:
    business_date: date
    #: accounts scored (0 without a model)
    scored: int = 0
    model: str | None = None
    #: accounts given a segment, by (strategy, segment)
    segments: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: accounts by (experiment, arm)
    arms: Counter[tuple[str, str]] = field(default_factory=Counter)
    messages_enqueued: int = 0
    messages_already: int = 0
    #: (account, step, why) of messages not enqueued (no contact point)
    messages_skipped: list[tuple[str, int, str]] = field(default_factory=list)
    tasks_created: int = 0
    tasks_already: int = 0
    #: work actions without a task (no open case; an open call task already waiting)
    tasks_skipped: int = 0
    #: case moves made with legal_review / agency_placement tasks
    cases_moved: int = 0
    #: personal links sent (portal_link actions), already sent on the date, not sent (no contact point)
    links_sent: int = 0
    links_already: int = 0
    links_skipped: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def accounts(self) -> int:
        return sum(self.segments.values())

    def summary(self) -> str:
        segs = ", ".join(f"{s}/{g} {n:,}" for (s, g), n in sorted(self.segments.items())) or "none"
        arms = "" if not self.arms else " Arms: " + ", ".join(f"{e}/{a} {n:,}" for (e, a), n in sorted(self.arms.items())) + "."
        scored = f"{self.scored:,} accounts scored ({self.model}); " if self.model else ""
        links = "" if not (self.links_sent or self.links_already or self.links_skipped) else (
            f" Personal links: {self.links_sent:,} sent ({self.links_already:,} already, "
            f"{len(self.links_skipped):,} without a contact point).")
        return (f"Strategy: {scored}{self.accounts:,} accounts in segments ({segs}); "
                f"{self.messages_enqueued:,} messages enqueued ({self.messages_already:,} already, "
                f"{len(self.messages_skipped):,} without a contact point); {self.tasks_created:,} tasks created "
                f"({self.tasks_already:,} already, {self.tasks_skipped:,} not needed), "
                f"{self.cases_moved:,} cases moved.{links}{arms}")


# -- 1. scoring -------------------------------------------------------------------------------------

def score_inputs(features: pa.Table, min_due: dict[int, int]) -> pa.Table:
    """The behaviour model's columns (docs/behaviour-score.md) from the feature view.

    The model was trained on month-end snapshots; the step scores the business date's state with
    the nearest store features: 90-day payments for the 3-month ones, the latest statement's minimum
    due, a negative balance as 0. ``age_band`` and ``region`` are not kept by the store: the model
    treats them as missing."""
    ids = features.column("account_id").to_pylist()
    balance = pc.max_element_wise(features.column("balance"), 0)
    return pa.table({
        "account_ref": features.column("account_ref"),
        "dpd": features.column("dpd"),
        "bucket": features.column("bucket"),
        "balance_fen": balance,
        "credit_limit_fen": features.column("credit_limit"),
        "utilisation_bp": pc.fill_null(features.column("utilisation_bp"), 0),
        "payments_3m_fen": features.column("payments_90d_fen"),
        "payments_count_3m": features.column("payments_count_90d"),
        "min_due_fen": pa.array([min_due.get(i, 0) for i in ids], pa.int64()),
        "months_on_book": features.column("months_on_book"),
        "cycles_delinquent": features.column("cycles_delinquent"),
    })


def score_accounts(engine: Engine, *, business_date: date, model_dir: str | PathLike[str],
                   time_zone: str = "Asia/Shanghai") -> tuple[int, str]:
    """Score every account with an open case on the date and replace the date's scores (one
    transaction). Returns (accounts scored, "name version")."""
    from arrears.score.model import load_model

    model = load_model(model_dir)
    features = build_features(engine, business_date, time_zone=time_zone)
    open_case = pc.is_in(features.column("case_status"), pa.array(OPEN_STATES, pa.string()))
    features = features.filter(pc.fill_null(open_case, False))
    with transaction(engine) as session:
        ids = features.column("account_id").to_pylist()
        min_due = repo.latest_minimum_due(session, business_date=business_date, account_ids=ids)
        scores = model.score(score_inputs(features, min_due)).to_pylist() if ids else []
        repo.replace_scores(session, [{"account_id": a, "score": int(s)} for a, s in zip(ids, scores)],
                            business_date=business_date, model_name=model.name, model_version=model.version)
    return len(ids), f"{model.name} {model.version}"


# -- 2. choosing ------------------------------------------------------------------------------------

def _arm_variant(strategy: Strategy, segment: str | None) -> Strategy:
    """The strategy as an arm runs it: with ``segment``, every account the strategy treats goes there."""
    if segment is None:
        return strategy
    try:
        target = strategy.segment(segment)
    except KeyError:
        raise ConfigError(f"experiment arm names segment {segment!r}, which strategy {strategy.label} does not have",
                          file=strategy.file) from None
    return dataclasses.replace(strategy, segments=(dataclasses.replace(target, when=None),),
                               no_treatment_otherwise=False)


def choose(features: pa.Table, strategies: Sequence[Strategy], business_date: date, *, assignments: pa.Table,
           experiments: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Each account's treatment row (:data:`TREATMENTS_SCHEMA` plus ``experiment``, ``arm``, ``case_id``,
    ``case_status``), for accounts given a segment; see the module docstring for the rules."""
    from arrears.strategy.experiments import ExperimentError, assign

    by_name = {s.name: s for s in strategies}
    info = {r["account_id"]: r for r in features.select(["account_id", "account_ref", "case_id", "case_status"])
            .to_pylist()}
    chosen: dict[int, dict[str, Any]] = {}
    for strategy in strategies:
        for row in select_treatments(features, strategy, business_date, assignments=assignments).to_pylist():
            if row["segment"] is not None and row["account_id"] not in chosen:
                chosen[row["account_id"]] = {**row, "experiment": None, "arm": None}
    live = [e for e in experiments if e.active_on(business_date)]
    if live:
        reruns: dict[tuple[str, str | None], list[tuple[int, str, str]]] = {}
        for account_id, row in chosen.items():
            for e in live:
                champion = e.champion_arm.strategy
                if champion is not None and champion != row["strategy"]:
                    continue
                arm = assign(info[account_id]["account_ref"], e)
                row["experiment"], row["arm"] = e.code, arm.code
                target = arm.strategy or row["strategy"]
                if target not in by_name:
                    raise ExperimentError(f"experiment {e.code}, arm {arm.code}: strategy {target!r} is not among the "
                                      f"strategy files given ({', '.join(by_name)})")
                base = by_name[row["strategy"]]
                empty = not base.segment(row["segment"]).path
                if (target != row["strategy"] or arm.segment is not None) and not empty:
                    reruns.setdefault((target, arm.segment), []).append((account_id, e.code, arm.code))
                break
        for (target, segment), members in reruns.items():
            strategy = _arm_variant(by_name[target], segment)
            ids = pa.array([m[0] for m in members], pa.int64())
            subset = features.filter(pc.is_in(features.column("account_id"), ids))
            tags = {m[0]: m[1:] for m in members}
            for row in select_treatments(subset, strategy, business_date, assignments=assignments).to_pylist():
                exp_code, arm_code = tags[row["account_id"]]
                if row["segment"] is None:
                    chosen.pop(row["account_id"], None)
                else:
                    chosen[row["account_id"]] = {**row, "experiment": exp_code, "arm": arm_code}
    out = []
    for account_id in sorted(chosen):
        row = chosen[account_id]
        row["case_id"], row["case_status"] = info[account_id]["case_id"], info[account_id]["case_status"]
        out.append(row)
    return out


# -- 3. applying ------------------------------------------------------------------------------------

def _rule_text(row: dict[str, Any], step: int) -> str:
    arm = f", experiment {row['experiment']} arm {row['arm']}" if row.get("arm") else ""
    return f"strategy {row['strategy']} v{row['strategy_version']}, segment {row['segment']}, step {step}{arm}"


def apply_treatments(session: Any, rows: Sequence[dict[str, Any]], *, business_date: date, actor: str,
                     result: StepResult, time_zone: str = "Asia/Shanghai", settings: Any = None) -> None:
    """Write the day's treatments inside the caller's transaction (flush only)."""
    from arrears.cases.service import transition
    from arrears.contact.plan import enqueue_message_batches
    from arrears.reports.experiments import refresh_arm_stats
    from arrears.strategy.portal_links import send_links

    links = send_links(session, rows, business_date=business_date, settings=settings)  # before the decisions go
    result.links_sent += links.sent
    result.links_already += links.already
    result.links_skipped += links.skipped

    repo.replace_assignments(session, [
        {"account_id": r["account_id"], "strategy": r["strategy"], "strategy_version": r["strategy_version"],
         "segment": r["segment"], "since": r["segment_since"], "experiment": r["experiment"], "arm": r["arm"]}
        for r in rows], business_date=business_date, actor=actor)

    with_messages = [r for r in rows if any(a["kind"] in MESSAGE_KINDS for a in r["actions"])]
    people = repo.recipients(session, [r["account_id"] for r in with_messages])
    facts = repo.message_facts(session, business_date=business_date,
                               account_ids=[r["account_id"] for r in with_messages])
    batch = enqueue_message_batches(session, pa.Table.from_pylist(
        [{k: r[k] for k in TREATMENTS_SCHEMA.names} for r in with_messages], schema=TREATMENTS_SCHEMA),
        business_date=business_date, recipients=people, facts=facts)
    result.messages_enqueued += sum(batch.enqueued.values())
    result.messages_already += sum(batch.already.values())
    result.messages_skipped += batch.skipped
    skipped = {(acc, step) for acc, step, _ in batch.skipped}

    with_work = [r for r in rows if any(a["kind"] in TASK_KIND for a in r["actions"])]
    done = repo.strategy_tasks_of(session, business_date=business_date, account_ids=[r["account_id"] for r in with_work])
    open_case_ids = [r["case_id"] for r in with_work if r["case_id"] is not None and r["case_status"] in OPEN_STATES]
    open_calls = repo.open_tasks_of_kind(session, kind="call", case_ids=open_case_ids)
    states = repo.case_states(session, open_case_ids)

    decisions = []
    for r in rows:
        outcomes = []
        for a in r["actions"]:
            entry = dict(a)
            kind, step = a["kind"], int(a["step"])
            if kind in MESSAGE_KINDS:
                ref = people[r["account_id"]].account_ref if r["account_id"] in people else str(r["account_id"])
                entry["result"] = f"no {kind} contact point" if (ref, step) in skipped else "message"
            elif kind == LINK_KIND:
                entry["result"] = links.results.get((r["account_id"], step), "not sent")
            elif kind in TASK_KIND:
                entry["result"] = _work(session, r, a, business_date=business_date, actor=actor, done=done,
                                        open_calls=open_calls, states=states, result=result, transition=transition)
            outcomes.append(entry)
        result.segments[(r["strategy"], r["segment"])] += 1
        if r["arm"]:
            result.arms[(r["experiment"], r["arm"])] += 1
        decisions.append({"account_id": r["account_id"], "case_id": r["case_id"], "strategy": r["strategy"],
                          "strategy_version": r["strategy_version"], "segment": r["segment"],
                          "segment_since": r["segment_since"], "days_in_segment": r["days_in_segment"],
                          "experiment": r["experiment"], "arm": r["arm"], "actions": outcomes})
    repo.replace_decisions(session, decisions, business_date=business_date, actor=actor)
    repo.add_experiment_entries(session, business_date=business_date)
    refresh_arm_stats(session, business_date=business_date, bank_zone=time_zone)


def _work(session: Any, r: dict[str, Any], a: dict[str, Any], *, business_date: date, actor: str,
          done: dict[tuple[int, str, int, str, int], int], open_calls: dict[int, int], states: dict[int, str],
          result: StepResult, transition: Any) -> str:
    kind, step = a["kind"], int(a["step"])
    key = (r["account_id"], r["strategy"], int(r["strategy_version"]), r["segment"], step)
    if key in done:
        result.tasks_already += 1
        return f"task {done[key]}"
    case_id = r["case_id"] if r["case_status"] in OPEN_STATES else None
    if case_id is None:
        result.tasks_skipped += 1
        return "no open case"
    if kind == "call_queue" and case_id in open_calls:
        result.tasks_skipped += 1
        return f"open call task {open_calls[case_id]} already waiting"
    moved_to = None
    if kind in MOVES_CASE and can_transition(states.get(case_id, ""), kind):
        transition(session, case_id=case_id, to_state=kind, actor=actor[:64], reason=_rule_text(r, step))
        states[case_id] = kind
        moved_to = kind
        result.cases_moved += 1
    task_id = repo.add_task(session, case_id=case_id, kind=TASK_KIND[kind], due_on=business_date,
                            created_by=f"strategy:{r['strategy']} v{r['strategy_version']}", link={
                                "business_date": business_date, "account_id": r["account_id"],
                                "strategy": r["strategy"], "strategy_version": int(r["strategy_version"]),
                                "segment": r["segment"], "experiment": r["experiment"], "arm": r["arm"],
                                "step": step, "action": kind, "queue": a["queue"],
                                "priority": int(a["priority"] or 5), "note": a["note"], "moved_to": moved_to})
    done[key] = task_id
    if kind == "call_queue":
        open_calls[case_id] = task_id
    result.tasks_created += 1
    return f"task {task_id}" + (f", case moved to {moved_to}" if moved_to else "")


# -- the step ---------------------------------------------------------------------------------------

def run_strategy_step(engine: Engine, *, business_date: date, strategy_files: Sequence[str | PathLike[str]],
                      experiments_file: str | PathLike[str] | None = None,
                      model_dir: str | PathLike[str] | None = None, actor: str = "cycle",
                      time_zone: str = "Asia/Shanghai", settings: Any = None) -> StepResult:
    """Score (optional), choose and apply the day's treatments; see the module docstring.

    Files are loaded (and rejected, naming file, line and field) before anything is written.
    Re-running a date is safe: scores and decisions of the date are replaced, assignments rewritten,
    and no message or task is made twice."""
    from arrears.strategy.config import load_strategy
    from arrears.strategy.experiments import load_experiments

    if not strategy_files:
        raise ArrearsError("the strategy step needs at least one strategy file")
    strategies = [load_strategy(f) for f in strategy_files]
    names = [s.name for s in strategies]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ArrearsError(f"strategy name(s) {', '.join(dupes)} given more than once")
    experiments = load_experiments(experiments_file) if experiments_file is not None else ()
    result = StepResult(business_date=business_date)
    if model_dir is not None:
        result.scored, result.model = score_accounts(engine, business_date=business_date, model_dir=model_dir,
                                                     time_zone=time_zone)
    features = build_features(engine, business_date, time_zone=time_zone)
    with transaction(engine) as session:
        assignments = repo.read_assignments(session)
    rows = choose(features, strategies, business_date, assignments=assignments, experiments=experiments)
    with transaction(engine) as session:
        apply_treatments(session, rows, business_date=business_date, actor=actor, result=result,
                         time_zone=time_zone, settings=settings)
    return result
