"""The champion/challenger read-out from the operational store (docs/experiments.md, "The read-out on
the dashboards"; definitions in docs/reports.md, ``experiment_readout``).

Two ways to the same sums, sharing one grouped query (:func:`sums_query`, over a subquery of members):

- **precomputed** (what the dashboards read): the strategy step records each account's entry into an
  experiment (``experiment_entries``: the arm and date of its first treatment in it) and then, for its
  business date, :func:`refresh_arm_stats` writes ``experiment_arm_stats``: per team, experiment and
  arm, the sums over the experiment's cohort (entries on or before the date, each in its arm at entry
  and in the team of its latest case) with outcomes from the experiment's first entry date to the
  business date — "since the experiment began, as of the cycle". :func:`stored_readouts` reads the rows
  of the latest cycle date on or before the page's last date and sums them over teams: a few rows.
- **live** over any window (:func:`experiment_readouts`, :func:`store_arm_stats`): described below.
  For a window starting on the experiment's first entry date and an account with cases of one team,
  both give the same sums.

For a window of business dates ``[from_date, to_date]`` (both included) and a scope (``team_id``:
``None`` for the whole book, else the accounts with a case of that team, as every report):

- **who is in an arm** — every account the strategy step treated in the window under an experiment
  (``strategy_decisions`` rows with an experiment), in the arm recorded on its FIRST treated date of
  the window: the arm it entered the window with (intention to treat). The assignment is stable, so
  an account changes arm only when the experiment's shares change; such an account still counts once,
  in its first arm (docs/experiments.md: leave share changes out of a running read-out);
- **cured** — one of its cases moved to ``cured`` by a cycle of a date in the window
  (``case_transitions`` by ``cycle_runs.business_date``; a move made outside a cycle by its time);
- **rolled** — a current ``bucket_changes`` row of a date in the window to a worse bucket (the
  order of the delinquency rules' bucket table);
- **recovered_fen** — the sum of its payments valued in the window (integer fen);
- **contacts** — outbound interactions (calls, visits, SMS… recorded on its cases) plus outbox
  messages (SMS, e-mail, letters) sent, in the window;
- **complaints** — interactions with the outcome ``complaint`` in the window, plus complaint holds the
  bank sent in its holds file (``ingest_run_id`` set) starting in the window. A complaint an agent
  records places a complaint hold too (outcomes.yaml); that hold is not counted again.

Times (interactions, messages, moves outside a cycle) count when they fall between the window's
first midnight and the midnight after its last date in the bank's zone.

The per-arm sums (:class:`arrears.strategy.experiments.ArmStats`) are computed by ONE grouped query
(each account's outcome is a row of a subquery, never loaded); the intervals and verdicts are
:func:`arrears.strategy.experiments.readout`'s.

**The champion.** The store records arm codes only. With an experiments file (``ARREARS_EXPERIMENTS_FILE``,
the file the cycle runs with ``--experiments``) an experiment of the same code whose arms include every
arm seen in the store gives the champion (``champion:`` or its first arm) and the arms' order. Otherwise
the champion is the arm with the most accounts in the read-out (ties: the first code in alphabetical
order) — champion/challenger designs give the champion the largest share — and the read-out says so
(``champion_rule``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from os import PathLike
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from arrears.accounts.tables import Hold, Payment
from arrears.cases.tables import Case, CaseTransition, Interaction
from arrears.channels.tables import OutboxMessage
from arrears.delinquency.tables import BucketChange, CycleRun
from arrears.kit.clock import utc_now
from arrears.strategy.experiments import Arm, ArmStats, Experiment, Readout, readout
from arrears.strategy.tables import ExperimentArmStat, ExperimentEntry, StrategyDecision

#: Recovered amounts are split as ``hi * SPLIT + lo`` so that the sum of squares is summed from
#: products that fit a 64-bit integer on SQLite (which has no wider integer): Σx² = SPLIT²·Σhi² +
#: 2·SPLIT·Σhi·lo + Σlo², exact.
SPLIT = 1_000_000

ChampionRule = Literal["file", "largest arm"]


@dataclass(frozen=True)
class ExperimentReadout:
    """One experiment's read-out in a scope and window: the per-arm sums, the statistics, and how the
    champion was known."""

    experiment: Experiment
    stats: dict[str, ArmStats]
    readout: Readout
    champion_rule: ChampionRule
    #: for a precomputed read-out: the experiment's first entry date and the cycle date it is as of
    since: date | None = None
    as_of: date | None = None


def _buckets() -> list[str]:
    from arrears.delinquency.config import load_default_rules

    return [b.name for b in load_default_rules().buckets.buckets]


def _moments(from_date: date, to_date: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(from_date, time(), zone), datetime.combine(to_date + timedelta(days=1), time(), zone)


def _in_team(column: ColumnElement[int], team_id: int | None) -> ColumnElement[bool]:
    if team_id is None:
        return true()
    return column.in_(select(Case.account_id).where(Case.team_id == team_id))


def window_members(*, from_date: date, to_date: date, team_id: int | None = None):  # type: ignore[no-untyped-def]
    """The live read-out's arms: each account treated in the window under an experiment, in the arm of
    its first treated date of the window (subquery ``account_id, experiment, arm``)."""
    sd = StrategyDecision
    in_window = and_(sd.business_date >= from_date, sd.business_date <= to_date)
    first = (select(sd.account_id, sd.experiment, func.min(sd.business_date).label("first_date"))
             .where(in_window, sd.experiment.is_not(None), sd.arm.is_not(None), _in_team(sd.account_id, team_id))
             .group_by(sd.account_id, sd.experiment).subquery("first_treated"))
    entry = aliased(sd)
    return (select(first.c.account_id, first.c.experiment, entry.arm)
            .join(entry, and_(entry.account_id == first.c.account_id, entry.business_date == first.c.first_date))
            .subquery("members"))


def cohort_members(*, experiment: str, as_of: date):  # type: ignore[no-untyped-def]
    """An experiment's cohort as of a date: its ``experiment_entries`` of that date or before, each in
    its arm at entry and in the team of its latest case as the cases stand now (None: no team, or no
    case) — subquery ``account_id, experiment, arm, team_id``."""
    e = ExperimentEntry
    latest = Case.__table__.alias("latest")
    # index lookups per entry rather than a join to grouped cases (see refresh_book_figures). ``id + 0``:
    # PostgreSQL otherwise turns max(id) into a backward scan of the primary key filtered on the account,
    # which it picks in the step's own transaction (stale statistics) and which reads the whole table
    # per entry; this way it reads the account's cases through ix_cases_account_id.
    team = (select(latest.c.team_id).where(latest.c.id == select(func.max(Case.id + 0))
                                           .where(Case.account_id == e.account_id).correlate(e)
                                           .scalar_subquery())
            .scalar_subquery())
    return (select(e.account_id, e.experiment, e.arm, team.label("team_id"))
            .where(e.experiment == experiment, e.entered_on <= as_of).subquery("members"))


def sums_query(members, *, from_date: date, to_date: date, bank_zone: str = "Asia/Shanghai",  # type: ignore[no-untyped-def]
               buckets: Sequence[str] | None = None, by_team: bool = False):
    """The grouped query over ``members`` (a subquery with ``account_id, experiment, arm`` and, with
    ``by_team``, ``team_id``): one row per ([team,] experiment, arm) with ``n, cured, rolled,
    recovered, Σhi², Σhi·lo, Σlo², contacts, Σcontacts², complaints`` (see :data:`SPLIT`), the
    outcomes counted in ``[from_date, to_date]`` as the module docstring says."""
    start, end = _moments(from_date, to_date, ZoneInfo(bank_zone))
    cured = (select(Case.account_id).join(CaseTransition, CaseTransition.case_id == Case.id)
             .outerjoin(CycleRun, CycleRun.id == CaseTransition.cycle_run_id)
             .where(CaseTransition.to_state == "cured",
                    or_(and_(CycleRun.business_date >= from_date, CycleRun.business_date <= to_date),
                        and_(CaseTransition.cycle_run_id.is_(None), CaseTransition.at >= start,
                             CaseTransition.at < end)))
             .group_by(Case.account_id).subquery("cured"))

    order = {b: i for i, b in enumerate(buckets if buckets is not None else _buckets())}
    rolled = (select(BucketChange.account_id)
              .where(BucketChange.superseded_by_run_id.is_(None), BucketChange.business_date >= from_date,
                     BucketChange.business_date <= to_date,
                     case(order, value=BucketChange.to_bucket) > case(order, value=BucketChange.from_bucket))
              .group_by(BucketChange.account_id).subquery("rolled"))

    paid = (select(Payment.account_id, cast(func.sum(Payment.amount), BigInteger).label("amount"))
            .where(Payment.value_date >= from_date, Payment.value_date <= to_date)
            .group_by(Payment.account_id).subquery("paid"))

    one, zero = literal(1, Integer), literal(0, Integer)
    events = union_all(
        select(Case.account_id.label("account_id"),
               case((Interaction.direction == "outbound", 1), else_=0).label("contact"),
               case((Interaction.outcome == "complaint", 1), else_=0).label("complaint"))
        .select_from(Interaction).join(Case, Case.id == Interaction.case_id)
        .where(Interaction.started_at >= start, Interaction.started_at < end,
               or_(Interaction.direction == "outbound", Interaction.outcome == "complaint")),
        select(Case.account_id, one, zero).select_from(OutboxMessage).join(Case, Case.id == OutboxMessage.case_id)
        .where(OutboxMessage.status == "sent", OutboxMessage.sent_at >= start, OutboxMessage.sent_at < end),
        select(Hold.account_id, zero, one)
        .where(Hold.kind == "complaint", Hold.ingest_run_id.is_not(None), Hold.start_date >= from_date,
               Hold.start_date <= to_date),
    ).subquery("events")
    touched = (select(events.c.account_id, cast(func.sum(events.c.contact), BigInteger).label("contacts"),
                      cast(func.sum(events.c.complaint), BigInteger).label("complaints"))
               .group_by(events.c.account_id).subquery("touched"))

    rec = func.coalesce(paid.c.amount, 0)
    contacts = func.coalesce(touched.c.contacts, 0)
    keys = [members.c.team_id] if by_team else []
    per_account = (
        select(*keys, members.c.experiment, members.c.arm,
               case((cured.c.account_id.is_not(None), 1), else_=0).label("cured"),
               case((rolled.c.account_id.is_not(None), 1), else_=0).label("rolled"),
               rec.label("rec"), (rec // SPLIT).label("hi"), (rec % SPLIT).label("lo"),
               contacts.label("contacts"), func.coalesce(touched.c.complaints, 0).label("complaints"))
        .outerjoin(cured, cured.c.account_id == members.c.account_id)
        .outerjoin(rolled, rolled.c.account_id == members.c.account_id)
        .outerjoin(paid, paid.c.account_id == members.c.account_id)
        .outerjoin(touched, touched.c.account_id == members.c.account_id)
        .subquery("per_account"))
    a = per_account.c
    group = [*([a.team_id] if by_team else []), a.experiment, a.arm]

    def total(x: ColumnElement[int]) -> ColumnElement[int]:
        return cast(func.sum(x), BigInteger)

    return (select(*group, cast(func.count(), BigInteger), total(a.cured), total(a.rolled), total(a.rec),
                   total(a.hi * a.hi), total(a.hi * a.lo), total(a.lo * a.lo), total(a.contacts),
                   total(a.contacts * a.contacts), total(a.complaints))
            .group_by(*group).order_by(*group))


def arm_stats_query(*, from_date: date, to_date: date, team_id: int | None = None,
                    bank_zone: str = "Asia/Shanghai", buckets: Sequence[str] | None = None):  # type: ignore[no-untyped-def]
    """The live grouped query over a window: one row per (experiment, arm) with ``n, cured, rolled,
    recovered, Σhi², Σhi·lo, Σlo², contacts, Σcontacts², complaints`` (see :data:`SPLIT`)."""
    return sums_query(window_members(from_date=from_date, to_date=to_date, team_id=team_id),
                      from_date=from_date, to_date=to_date, bank_zone=bank_zone, buckets=buckets)


def _stats(arm: str, n: object, cured: object, rolled: object, rec: object, hh: object, hl: object, ll: object,
           contacts: object, contacts_sq: object, complaints: object) -> ArmStats:
    def whole(v: object) -> int:
        return int(v or 0)  # type: ignore[call-overload]

    rec_sq = SPLIT * SPLIT * whole(hh) + 2 * SPLIT * whole(hl) + whole(ll)
    return ArmStats(arm, whole(n), whole(cured), whole(rolled), whole(rec), rec_sq, whole(contacts),
                    whole(contacts_sq), whole(complaints))


def store_arm_stats(session: Session, *, from_date: date, to_date: date, team_id: int | None = None,
                    bank_zone: str = "Asia/Shanghai") -> dict[str, dict[str, ArmStats]]:
    """Experiment code → arm code → :class:`ArmStats` of the accounts treated in the window (see the
    module docstring), summed in the store."""
    if to_date < from_date:
        raise ValueError("the window's first date must not come after its last")
    out: dict[str, dict[str, ArmStats]] = {}
    rows = session.execute(arm_stats_query(from_date=from_date, to_date=to_date, team_id=team_id,
                                           bank_zone=bank_zone)).all()
    for exp, arm, *sums in rows:
        out.setdefault(str(exp), {})[str(arm)] = _stats(str(arm), *sums)
    return out


def champion_experiment(code: str, stats: dict[str, ArmStats],
                        known: Sequence[Experiment] = ()) -> tuple[Experiment, ChampionRule]:
    """The experiment to read ``stats`` against: the known one of that code when its arms cover every arm
    in ``stats``; else arms named after the store's, the champion being the arm with most accounts
    (ties: first code alphabetically), then the challengers alphabetically."""
    for e in known:
        if e.code == code and set(stats) <= {a.code for a in e.arms}:
            return e, "file"
    champion = min(stats, key=lambda arm: (-stats[arm].n, arm))
    codes = [champion, *sorted(c for c in stats if c != champion)]
    # shares are not used by the read-out; they only have to be valid
    arms = tuple(Arm(c, 10_000 if c == champion else 0) for c in codes)
    return Experiment(code, arms, salt="store-readout", champion=champion), "largest arm"


def load_known_experiments(path: str | PathLike[str] | None) -> tuple[Experiment, ...]:
    """The experiments file's experiments; none without a file. A file that cannot be read is an error
    the caller decides about."""
    if path is None:
        return ()
    from arrears.strategy.experiments import load_experiments

    return load_experiments(path)


def experiment_readouts(session: Session, *, from_date: date, to_date: date, team_id: int | None = None,
                        bank_zone: str = "Asia/Shanghai", known: Sequence[Experiment] = (),
                        confidence: float = 0.95) -> list[ExperimentReadout]:
    """Every experiment with accounts treated in the window and scope, in code order, with its read-out."""
    return _readouts(store_arm_stats(session, from_date=from_date, to_date=to_date, team_id=team_id,
                                     bank_zone=bank_zone), known=known, confidence=confidence)


def _readouts(sums: dict[str, dict[str, ArmStats]], *, known: Sequence[Experiment], confidence: float,
              since: dict[str, date] | None = None, as_of: date | None = None) -> list[ExperimentReadout]:
    out = []
    for code, by_arm in sorted(sums.items()):
        experiment, rule = champion_experiment(code, by_arm, known)
        stats = {a.code: by_arm.get(a.code, ArmStats(a.code)) for a in experiment.arms}
        out.append(ExperimentReadout(experiment, stats, readout(stats, experiment, confidence=confidence), rule,
                                     since=(since or {}).get(code), as_of=as_of))
    return out


# -- the precomputed read-out (what the dashboards read) ------------------------------------------------

#: ``experiment_arm_stats`` columns after the keys, in the order of :func:`sums_query`'s sums.
SUM_COLUMNS = ("accounts", "cured", "rolled", "recovered_fen", "recovered_hh", "recovered_hl", "recovered_ll",
               "contacts", "contacts_sq", "complaints")


def refresh_arm_stats(session: Session, *, business_date: date, bank_zone: str = "Asia/Shanghai",
                      buckets: Sequence[str] | None = None) -> None:
    """Rewrite ``experiment_arm_stats`` for ``business_date`` (flush only; the caller owns the
    transaction): per experiment with entries on or before the date, its cohort
    (:func:`cohort_members`) summed per team and arm with the outcomes from the experiment's first
    entry date to ``business_date`` — one ``INSERT … SELECT`` of :func:`sums_query` per experiment."""
    e = ExperimentEntry
    session.execute(delete(ExperimentArmStat).where(ExperimentArmStat.business_date == business_date))
    starts = session.execute(select(e.experiment, func.min(e.entered_on)).where(e.entered_on <= business_date)
                             .group_by(e.experiment).order_by(e.experiment)).all()
    stamp = utc_now()
    for code, started in starts:
        sums = sums_query(cohort_members(experiment=code, as_of=business_date), from_date=started,
                          to_date=business_date, bank_zone=bank_zone, buckets=buckets, by_team=True).subquery("sums")
        c = list(sums.c)
        rows = select(literal(business_date, Date), c[0], c[1], c[2], literal(started, Date), *c[3:],
                      literal(stamp, ExperimentArmStat.refreshed_at.type))
        session.execute(insert(ExperimentArmStat).from_select(
            ["business_date", "team_id", "experiment", "arm", "started_on", *SUM_COLUMNS, "refreshed_at"], rows))
    session.flush()


def stored_arm_stats(session: Session, *, to_date: date, team_id: int | None = None
                     ) -> tuple[date | None, dict[str, date], dict[str, dict[str, ArmStats]]]:
    """The precomputed sums of the latest cycle date on or before ``to_date`` that has any:
    (that date or None, experiment → first entry date, experiment → arm → :class:`ArmStats`), summed
    over teams for the whole book (``team_id`` None) or the team's rows only."""
    st = ExperimentArmStat
    as_of = session.execute(select(func.max(st.business_date)).where(st.business_date <= to_date)).scalar_one()
    if as_of is None:
        return None, {}, {}
    scope = true() if team_id is None else st.team_id == team_id
    rows = session.execute(
        select(st.experiment, st.arm, func.min(st.started_on), *(func.sum(getattr(st, c)) for c in SUM_COLUMNS))
        .where(st.business_date == as_of, scope).group_by(st.experiment, st.arm)
        .order_by(st.experiment, st.arm)).all()
    since: dict[str, date] = {}
    out: dict[str, dict[str, ArmStats]] = {}
    for exp, arm, started, *sums in rows:
        since[str(exp)] = started
        out.setdefault(str(exp), {})[str(arm)] = _stats(str(arm), *sums)
    return as_of, since, out


def stored_readouts(session: Session, *, to_date: date, team_id: int | None = None,
                    known: Sequence[Experiment] = (), confidence: float = 0.95
                    ) -> tuple[date | None, list[ExperimentReadout]]:
    """The dashboards' read-out: :func:`stored_arm_stats` through :func:`readout` — a few rows read,
    no outcome scanned. Returns the cycle date it is as of (None: nothing precomputed) and the
    read-outs, each with ``since`` (the experiment's first entry date) and ``as_of``."""
    as_of, since, sums = stored_arm_stats(session, to_date=to_date, team_id=team_id)
    return as_of, _readouts(sums, known=known, confidence=confidence, since=since, as_of=as_of)


__all__ = ["SPLIT", "SUM_COLUMNS", "ExperimentReadout", "arm_stats_query", "champion_experiment", "cohort_members",
           "experiment_readouts", "load_known_experiments", "refresh_arm_stats", "store_arm_stats", "stored_arm_stats",
           "stored_readouts", "sums_query", "window_members"]
