"""The strategy step's store: current segment assignments, the decision log and behaviour scores.

- ``strategy_assignments``: the strategy's memory — one current row per account (the strategy and
  segment it is in, since when). The daily step rewrites it to exactly the accounts it assigned
  that day; an account that leaves every strategy loses its row, so when it comes back it enters
  its segment afresh (day-0 actions due again).
- ``strategy_decisions``: append-only history, one row per business date and account: the strategy
  name, version and segment that chose the day's actions (and the experiment arm), the due actions
  and what became of each. Re-running a date replaces that date's rows.
- ``strategy_tasks``: the link from a task the step created to the rule that created it (strategy,
  version, segment, arm, step, queue, priority, note); its unique key makes a re-run of the date
  create no task twice.
- ``behaviour_scores``: the behaviour score per account and business date (basis points) and the
  model that produced it; read by the feature view as ``behaviour_score``.
- ``experiment_entries``: the experiments' cohorts — one row per experiment and account: the arm and
  the business date on which the step first treated the account in that experiment (intention to
  treat: the arm at entry stays the account's arm in the read-out).
- ``experiment_arm_stats``: the champion/challenger read-out's per-arm sums, precomputed by the step
  for its business date, per team (None: cases of no team), experiment and arm, over the experiment's
  cohort with each account's outcomes since its own entry date (``arrears.reports.experiments``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime


class StrategyAssignment(Base):
    """Where an account is now: strategy, segment and the day it entered that segment."""

    __tablename__ = "strategy_assignments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    strategy: Mapped[str] = mapped_column(String(64))
    strategy_version: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(64))
    since: Mapped[date] = mapped_column(Date)
    experiment: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(64))
    #: the business date of the step that wrote the row, and who ran it ("cycle", "user:<id>" …)
    updated_on: Mapped[date] = mapped_column(Date)
    updated_by: Mapped[str] = mapped_column(String(64))


class StrategyDecision(Base):
    """One account's treatment on one business date, and which rule chose it."""

    __tablename__ = "strategy_decisions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    strategy: Mapped[str] = mapped_column(String(64))
    strategy_version: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(64))
    segment_since: Mapped[date] = mapped_column(Date)
    days_in_segment: Mapped[int] = mapped_column(Integer)
    experiment: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(64))
    #: the due actions (step, kind, day, template, queue, priority, note) and each one's result
    actions: Mapped[Any] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_strategy_decisions_date_account", StrategyDecision.business_date, StrategyDecision.account_id, unique=True)


class StrategyTask(Base):
    """A task the strategy step created, and the rule that created it."""

    __tablename__ = "strategy_tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), unique=True)
    business_date: Mapped[date] = mapped_column(Date)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    strategy: Mapped[str] = mapped_column(String(64))
    strategy_version: Mapped[int] = mapped_column(Integer)
    segment: Mapped[str] = mapped_column(String(64))
    experiment: Mapped[str | None] = mapped_column(String(64))
    arm: Mapped[str | None] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    #: the strategy action kind (call_queue, review_task, legal_review, agency_placement, charge_off)
    action: Mapped[str] = mapped_column(String(32))
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    #: the case state the step moved the case to with the task (legal_review / agency_placement), if any
    moved_to: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_strategy_tasks_rule", StrategyTask.business_date, StrategyTask.account_id, StrategyTask.strategy,
      StrategyTask.strategy_version, StrategyTask.segment, StrategyTask.step, unique=True)


class BehaviourScore(Base):
    """The behaviour score of an account on a business date (probability of paying next, basis points)."""

    __tablename__ = "behaviour_scores"
    __table_args__ = (CheckConstraint("score BETWEEN 0 AND 10000", name="score"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    business_date: Mapped[date] = mapped_column(Date)
    score: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


Index("uq_behaviour_scores_account_date", BehaviourScore.account_id, BehaviourScore.business_date, unique=True)
Index("ix_behaviour_scores_date", BehaviourScore.business_date)


class ExperimentEntry(Base):
    """An account's entry into an experiment: the arm and business date of its first treatment in it."""

    __tablename__ = "experiment_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    experiment: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    arm: Mapped[str] = mapped_column(String(64))
    entered_on: Mapped[date] = mapped_column(Date)
    #: the case the account had when it entered (information; the read-out scopes by the latest case)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))


Index("uq_experiment_entries_experiment_account", ExperimentEntry.experiment, ExperimentEntry.account_id,
      unique=True)
Index("ix_experiment_entries_experiment_entered", ExperimentEntry.experiment, ExperimentEntry.entered_on)


class ExperimentArmStat(Base):
    """The read-out's sums of one arm as of a cycle date, in one team (None: no team).

    Every column is additive over teams. The sum of squared recovered amounts is kept in the three
    parts of :data:`arrears.reports.experiments.SPLIT` (Σhi², Σhi·lo, Σlo²), each fitting 64 bits."""

    __tablename__ = "experiment_arm_stats"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    experiment: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(64))
    #: the experiment's first entry date (the read-out's "since"; each account counts from its own entry)
    started_on: Mapped[date] = mapped_column(Date)
    accounts: Mapped[int] = mapped_column(BigInteger)
    cured: Mapped[int] = mapped_column(BigInteger)
    rolled: Mapped[int] = mapped_column(BigInteger)
    recovered_fen: Mapped[int] = mapped_column(BigInteger)
    recovered_hh: Mapped[int] = mapped_column(BigInteger)
    recovered_hl: Mapped[int] = mapped_column(BigInteger)
    recovered_ll: Mapped[int] = mapped_column(BigInteger)
    contacts: Mapped[int] = mapped_column(BigInteger)
    contacts_sq: Mapped[int] = mapped_column(BigInteger)
    complaints: Mapped[int] = mapped_column(BigInteger)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_experiment_arm_stats_date_team", ExperimentArmStat.business_date, ExperimentArmStat.team_id)
