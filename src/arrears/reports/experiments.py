"""The champion/challenger read-out from the operational store (docs/experiments.md, "The read-out on
the dashboards"; definitions in docs/reports.md, ``experiment_readout``).

Two ways to the same sums, sharing one grouped query (:func:`sums_query`, over a subquery of members):

- **precomputed** (what the dashboards read): the strategy step records each account's entry into an
  experiment (``experiment_entries``: the arm and date of its first treatment in it) and then, for its
  business date, :func:`refresh_arm_stats` writes ``experiment_arm_stats``: per team, experiment and
  arm, the sums over the experiment's cohort (entries on or before the date, each in its arm at entry
  and in the team of its latest case) with each account's outcomes from its entry date to the
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
Each account's outcomes count from ITS OWN first date in the arm (``since``: its entry date, or its
first treated date of the window) to the window's last date — not from the window's first date — so
that what brought it into the arm (the bucket change into arrears the cycle found that morning, a call
or a payment the day before) is not taken for what the treatment did:

- **cured** — one of its cases moved to ``cured`` by a cycle of a date after ``since``
  (``case_transitions`` by ``cycle_runs.business_date``; the cycle of ``since`` itself ran before the
  treatment), or by a person at or after ``since``'s first moment;
- **rolled** — a current ``bucket_changes`` row of a date after ``since`` to a bucket worse than the
  one it entered with (its current snapshot on ``since``; current or grace counts as the first bucket
  past grace, M1), in the order of the delinquency rules' bucket table: ending up worse than where it
  started, not reaching M1 from grace nor falling behind again after a cure;
- **recovered_fen** — the sum of its payments valued on ``since`` or later (integer fen);
- **contacts** — outbound interactions (calls, visits, SMS… recorded on its cases) plus outbox
  messages (SMS, e-mail, letters) sent from ``since`` on;
- **complaints** — interactions with the outcome ``complaint`` from ``since`` on, plus complaint holds
  the bank sent in its holds file (``ingest_run_id`` set) starting on ``since`` or later. A complaint an
  agent records places a complaint hold too (outcomes.yaml); that hold is not counted again.

Times (interactions, messages, moves outside a cycle) count from the first midnight of ``since`` to the
midnight after the window's last date, in the bank's zone.

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
)
from sqlalchemy.orm import Session, aliased

from arrears.accounts.tables import Hold, Payment
from arrears.cases.repository import latest_case_team
from arrears.cases.tables import Case, CaseTransition, Interaction
from arrears.channels.tables import OutboxMessage
from arrears.delinquency.tables import BucketChange, CycleRun, DelinquencySnapshot
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
    return (select(first.c.account_id, first.c.experiment, entry.arm, first.c.first_date.label("since"))
            .join(entry, and_(entry.account_id == first.c.account_id, entry.business_date == first.c.first_date))
            .subquery("members"))


def cohort_members(*, experiment: str, as_of: date):  # type: ignore[no-untyped-def]
    """An experiment's cohort as of a date: its ``experiment_entries`` of that date or before, each in
    its arm at entry and in the team of its latest case as the cases stand now (None: no team, or no
    case) — subquery ``account_id, experiment, arm, team_id``."""
    e = ExperimentEntry
    team = latest_case_team(e.account_id, e)  # index look-ups per entry, not a join to grouped cases
    return (select(e.account_id, e.experiment, e.arm, e.entered_on.label("since"), team.label("team_id"))
            .where(e.experiment == experiment, e.entered_on <= as_of).subquery("members"))


def sums_query(members, *, from_date: date, to_date: date, bank_zone: str = "Asia/Shanghai",  # type: ignore[no-untyped-def]
               buckets: Sequence[str] | None = None, by_team: bool = False):
    """The grouped query over ``members`` (a subquery with ``account_id, experiment, arm, since`` and,
    with ``by_team``, ``team_id``; ``since`` is the account's own first date in the arm, on or after
    ``from_date``): one row per ([team,] experiment, arm) with ``n, cured, rolled, recovered, Σhi²,
    Σhi·lo, Σlo², contacts, Σcontacts², complaints`` (see :data:`SPLIT`). Each account's outcomes count
    from its own ``since`` to ``to_date`` as the module docstring says, so that what brought it into
    the arm (the bucket change into arrears, a contact before the treatment began) is not taken for
    what the treatment did. One row per member, its outcomes read by index look-ups on the account."""
    zone = ZoneInfo(bank_zone)
    m = members.c
    days = [from_date + timedelta(days=i) for i in range((to_date - from_date).days + 1)]
    # the first moment of each member's since-date in the bank's zone (exact across daylight saving)
    since_at = case({d: literal(datetime.combine(d, time(), zone), CaseTransition.at.type) for d in days},
                    value=m.since)
    end = datetime.combine(to_date + timedelta(days=1), time(), zone)
    of_account = Case.account_id == m.account_id

    cured = (select(CaseTransition.id).join(Case, Case.id == CaseTransition.case_id)
             .outerjoin(CycleRun, CycleRun.id == CaseTransition.cycle_run_id)
             .where(of_account, CaseTransition.to_state == "cured",
                    or_(and_(CycleRun.business_date > m.since, CycleRun.business_date <= to_date),
                        and_(CaseTransition.cycle_run_id.is_(None), CaseTransition.at >= since_at,
                             CaseTransition.at < end)))
             .correlate(members).exists())

    order = {b: i for i, b in enumerate(buckets if buckets is not None else _buckets())}
    # the bucket it entered with (its current snapshot of that date; none: current), never below the
    # first bucket past the grace one: reaching M1 from grace is not a roll, nor is falling behind again
    # after a cure — only ending up worse than where it started
    entered = func.coalesce(
        select(case(order, value=DelinquencySnapshot.bucket))
        .where(DelinquencySnapshot.account_id == m.account_id, DelinquencySnapshot.business_date == m.since,
               DelinquencySnapshot.superseded_by_run_id.is_(None))
        .correlate(members).scalar_subquery(), 0)
    floor = case((entered < 1, 1), else_=entered)
    rolled = (select(BucketChange.id)
              .where(BucketChange.account_id == m.account_id, BucketChange.superseded_by_run_id.is_(None),
                     BucketChange.business_date > m.since, BucketChange.business_date <= to_date,
                     case(order, value=BucketChange.to_bucket) > floor)
              .correlate(members).exists())

    paid = (select(cast(func.sum(Payment.amount), BigInteger))
            .where(Payment.account_id == m.account_id, Payment.value_date >= m.since, Payment.value_date <= to_date)
            .correlate(members).scalar_subquery())

    def count(stmt) -> ColumnElement[int]:  # type: ignore[no-untyped-def]
        return func.coalesce(stmt.correlate(members).scalar_subquery(), 0)

    calls = count(select(func.count()).select_from(Interaction).join(Case, Case.id == Interaction.case_id)
                  .where(of_account, Interaction.direction == "outbound", Interaction.started_at >= since_at,
                         Interaction.started_at < end))
    # by the account's cases (the index on case_id), not by the index on status, which reads every message
    # ever sent for each account: the status compared through coalesce() is no index condition
    sent = count(select(func.count()).select_from(OutboxMessage)
                 .where(OutboxMessage.case_id.in_(select(Case.id).where(of_account).correlate(members)),
                        func.coalesce(OutboxMessage.status, "") == "sent", OutboxMessage.sent_at >= since_at,
                        OutboxMessage.sent_at < end))
    complained = count(select(func.count()).select_from(Interaction).join(Case, Case.id == Interaction.case_id)
                       .where(of_account, Interaction.outcome == "complaint", Interaction.started_at >= since_at,
                              Interaction.started_at < end))
    filed = count(select(func.count()).select_from(Hold)
                  .where(Hold.account_id == m.account_id, Hold.kind == "complaint", Hold.ingest_run_id.is_not(None),
                         Hold.start_date >= m.since, Hold.start_date <= to_date))

    keys = [m.team_id] if by_team else []
    per_account = (
        select(*keys, m.experiment, m.arm,
               case((cured, 1), else_=0).label("cured"), case((rolled, 1), else_=0).label("rolled"),
               func.coalesce(paid, 0).label("rec"), (calls + sent).label("contacts"),
               (complained + filed).label("complaints"))
        # OFFSET 0 keeps the subquery whole (SQLite and PostgreSQL would otherwise pull it up and
        # evaluate each look-up once per use of its column: the payments' sum seven times)
        .offset(0).subquery("per_account"))
    a = per_account.c
    group = [*([a.team_id] if by_team else []), a.experiment, a.arm]
    hi, lo = a.rec // literal(SPLIT, BigInteger), a.rec % literal(SPLIT, BigInteger)

    def total(x: ColumnElement[int]) -> ColumnElement[int]:
        return cast(func.sum(x), BigInteger)

    return (select(*group, cast(func.count(), BigInteger), total(a.cured), total(a.rolled), total(a.rec),
                   total(hi * hi), total(hi * lo), total(lo * lo), total(a.contacts),
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
    (:func:`cohort_members`) summed per team and arm with each account's outcomes from its entry date to
    ``business_date`` — one ``INSERT … SELECT`` of :func:`sums_query` per experiment."""
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
