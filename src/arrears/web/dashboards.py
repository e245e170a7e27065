"""The team lead's and the supervisor's dashboards: queue health, agent activity and the charts
(accounts and balances by bucket, roll-rate matrix, cure-rate trend, promise kept rate, right-party
contact rate by hour of week, experiment arms and the champion/challenger read-out precomputed by the
daily cycle as of the latest cycle date on or before the window's last date), every table exportable as
CSV.

The figures are :mod:`arrears.reports.service`'s, with the same scope and filters on the page and in
its CSV: a team lead sees their own team only (``team_id``), a supervisor (and an administrator,
read-only) the whole book. Rates are basis points, shown with :func:`arrears.reports.model.percent`.
Chart data goes to the page as JSON (``<script type="application/json">``) read by ``static/app.js``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from arrears.auth.deps import DbSession
from arrears.auth.model import Role
from arrears.auth.tables import Team, User
from arrears.cases.service import business_date_of
from arrears.cases.tables import Case
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, NotFound
from arrears.kit.inputs import IsoDate
from arrears.kit.money import format_yuan, round_fen, to_yuan
from arrears.reports import service as reports
from arrears.reports.model import WEEKDAYS, percent, rate_bp
from arrears.strategy.tables import StrategyAssignment
from arrears.web import labels
from arrears.web.i18n import N_
from arrears.web.render import gettext, render, settings_of
from arrears.web.security import page_role

router = APIRouter(include_in_schema=False)

TeamViewer = Annotated[User, Depends(page_role(Role.TEAM_LEAD, Role.SUPERVISOR, Role.ADMIN))]
SupervisorViewer = Annotated[User, Depends(page_role(Role.SUPERVISOR, Role.ADMIN))]


class BadFilter(ArrearsError):
    status = 422


@dataclass(frozen=True)
class Filters:
    """What every figure of a dashboard is computed for: the scope and the dates."""

    team_id: int | None
    team_code: str | None
    business_date: date
    date_from: date
    date_to: date

    def query(self, team: bool = False) -> str:
        text = f"date={self.business_date.isoformat()}&from={self.date_from.isoformat()}&to={self.date_to.isoformat()}"
        return f"{text}&team={self.team_code}" if team and self.team_code else text


def _filters(request: Request, session: Session, user: User, day: date | None, date_from: date | None,
             date_to: date | None, *, own_team: bool, team: str = "") -> Filters:
    today = business_date_of(utc_now(), settings_of(request).timezone)
    business_date = day or today
    to = date_to or business_date
    start = date_from or reports.window(to)[0]
    if start > to:
        raise BadFilter("the window's first date must not come after its last")
    team_id: int | None = None
    code: str | None = None
    if own_team and user.role == Role.TEAM_LEAD:
        team_id = user.team_id if user.team_id is not None else -1  # a lead without a team sees nothing
        code = session.execute(select(Team.code).where(Team.id == team_id)).scalar_one_or_none()
    elif team:  # a supervisor looking at one team
        team_id = session.execute(select(Team.id).where(Team.code == team)).scalar_one_or_none()
        if team_id is None:
            raise BadFilter(f"no team {team!r}")
        code = team
    return Filters(team_id, code, business_date, start, to)


Day = Annotated[IsoDate | None, Query(alias="date")]
From = Annotated[IsoDate | None, Query(alias="from")]
To = Annotated[IsoDate | None, Query(alias="to")]
TeamCode = Annotated[str, Query(max_length=32)]


# -- the tables: rows and columns, the same for the page and the CSV ---------------------------------------

def by_bucket_rows(session: Session, f: Filters) -> list[dict[str, Any]]:
    return reports.by_bucket(session, business_date=f.business_date, team_id=f.team_id)


def roll_rows(session: Session, f: Filters) -> list[dict[str, Any]]:
    if f.date_from >= f.business_date:
        return []
    return reports.roll_rates(session, from_date=f.date_from, to_date=f.business_date, team_id=f.team_id).table()


def cure_rows(session: Session, f: Filters) -> list[dict[str, Any]]:
    return reports.cure_trend(session, from_date=f.date_from, to_date=f.date_to, team_id=f.team_id)


def promise_rows(session: Session, f: Filters) -> list[dict[str, Any]]:
    return [reports.promise_kept(session, from_date=f.date_from, to_date=f.date_to, team_id=f.team_id)]


def rpc_rows(session: Session, f: Filters, zone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    grid = reports.rpc_by_hour(session, from_date=f.date_from, to_date=f.date_to, team_id=f.team_id, bank_zone=zone)
    return grid.cells()


def queue_rows(session: Session, f: Filters) -> list[dict[str, Any]]:
    return reports.queue_health(session, today=f.business_date, team_id=f.team_id)


def activity_rows(session: Session, f: Filters, zone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    return reports.agent_activity(session, business_date=f.business_date, team_id=f.team_id, bank_zone=zone)


def experiment_rows(session: Session, f: Filters) -> list[dict[str, Any]]:
    """Accounts per strategy, experiment and arm now (``strategy_assignments``), within the scope."""
    scope = true() if f.team_id is None else StrategyAssignment.account_id.in_(
        select(Case.account_id).where(Case.team_id == f.team_id))
    rows = session.execute(
        select(StrategyAssignment.strategy, StrategyAssignment.strategy_version, StrategyAssignment.experiment,
               StrategyAssignment.arm, func.count())
        .where(StrategyAssignment.experiment.is_not(None), scope)
        .group_by(StrategyAssignment.strategy, StrategyAssignment.strategy_version, StrategyAssignment.experiment,
                  StrategyAssignment.arm)
        .order_by(StrategyAssignment.strategy, StrategyAssignment.strategy_version, StrategyAssignment.experiment,
                  StrategyAssignment.arm)).all()
    return [{"strategy": s, "version": int(v), "experiment": e, "arm": a, "accounts": int(n)} for s, v, e, a, n in rows]


#: The read-out's measures: (``Readout`` field, CSV column, label).
_MEASURES = (("cure_rate", "cure_rate", N_("Cure rate")), ("roll_rate", "roll_rate", N_("Roll rate")),
             ("recovered_fen", "recovered_per_account_fen", N_("Recovered per account")),
             ("contacts", "contacts_per_account", N_("Contacts per account")),
             ("complaints_per_1000", "complaints_per_1000", N_("Complaints per 1,000")))
_COLUMN = {m: c for m, c, _ in _MEASURES}
_LABEL = {m: label for m, _, label in _MEASURES}
#: CSV columns of the read-out: per arm, the sums, each measure with its interval, and the difference
#: from the champion with its interval (empty for the champion).
READOUT_COLUMNS = [
    "experiment", "since", "as_of", "arm", "champion", "champion_rule", "accounts", "cured", "rolled", "recovered_fen", "contacts",
    "complaints",
    *(f"{c}{part}" for _, c, _ in _MEASURES for part in ("", "_low", "_high")),
    *(f"vs_champion_{c}{part}" for _, c, _ in _MEASURES for part in ("", "_low", "_high")),
    "verdicts",
]


def _fixed(value: object, places: int) -> str:
    """A rate, mean or difference as plain decimal text (money is never a float here: Decimal fen)."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    return f"{value:.{places}f}"


def _shown(measure: str, value: object) -> str:
    """The page's text of one figure: rates in percent, money in yuan, the rest as numbers."""
    if value is None:
        return "–"
    if measure in ("cure_rate", "roll_rate"):
        return f"{value * 100:.1f} %"  # type: ignore[operator]
    if measure == "recovered_fen":
        return format_yuan(round_fen(Decimal(value)))  # type: ignore[arg-type]
    return _fixed(value, 2 if measure == "contacts" else 1)


def _signed(measure: str, value: object) -> str:
    text = _shown(measure, value).replace(" %", " pp")
    return text if text.startswith("-") else f"+{text}"


def _places(measure: str) -> int:
    return {"cure_rate": 4, "roll_rate": 4, "recovered_fen": 0, "contacts": 2, "complaints_per_1000": 1}[measure]


def readout_rows(session: Session, f: Filters, zone: str = "Asia/Shanghai",
                 experiments_file: str | None = None) -> list[dict[str, Any]]:
    """The experiment read-out within the scope, as precomputed by the daily cycle
    (:func:`arrears.reports.experiments.stored_readouts`: the latest cycle date on or before the window's
    last date, each experiment since its first day): one row per experiment and arm, the champion first.
    ``zone`` is unused: the cycle counted the outcomes in the bank's zone when it wrote the sums."""
    from arrears.reports.experiments import load_known_experiments, stored_readouts

    try:
        known = load_known_experiments(experiments_file)
    except (ArrearsError, OSError):
        known = ()  # an unreadable file: the champion by the rule, and the page says which rule
    rows = []
    _, readouts = stored_readouts(session, to_date=f.date_to, team_id=f.team_id, known=known)
    for e in readouts:
        champion = e.readout.champion
        for arm in e.readout.arms:
            s = e.stats[arm.arm]
            row: dict[str, Any] = {
                "experiment": e.experiment.code, "since": e.since, "as_of": e.as_of, "arm": arm.arm, "champion": arm.arm == champion,
                "champion_rule": e.champion_rule, "accounts": s.n, "cured": s.cured, "rolled": s.rolled,
                "recovered_fen": s.recovered_fen, "contacts": s.contacts, "complaints": s.complaints}
            shown: dict[str, dict[str, str]] = {}
            for m, c, _ in _MEASURES:
                est = getattr(arm, m)
                for part, value in (("", est.value), ("_low", est.low), ("_high", est.high)):
                    row[f"{c}{part}"] = _fixed(value, _places(m))
                shown[m] = {"value": _shown(m, est.value),
                            "interval": "" if est.low is None else f"{_shown(m, est.low)} – {_shown(m, est.high)}"}
            diffs = [d for d in e.readout.differences if d.challenger == arm.arm]
            differences = []
            for d in diffs:
                for part, value in (("", d.value), ("_low", d.low), ("_high", d.high)):
                    row[f"vs_champion_{_COLUMN[d.measure]}{part}"] = _fixed(value, _places(d.measure))
                differences.append({
                    "measure": _LABEL[d.measure], "value": _signed(d.measure, d.value),
                    "interval": f"{_signed(d.measure, d.low)} – {_signed(d.measure, d.high)}",
                    "verdict": N_("higher") if d.low > 0 else N_("lower") if d.high < 0 else N_("no clear difference")})
            row["verdicts"] = "; ".join(d.verdict for d in diffs)
            row["shown"], row["differences"] = shown, differences
            rows.append(row)
    return rows


def portal_funnel_rows(session: Session, f: Filters, zone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """The self-service funnel of the links sent in the window (:mod:`arrears.reports.portal_funnel`)."""
    from arrears.reports.portal_funnel import funnel_rows

    return funnel_rows(session, from_date=f.date_from, to_date=f.date_to, team_id=f.team_id, bank_zone=zone)


def _funnel_columns(session: Session, f: Filters) -> list[str]:
    from arrears.reports.portal_funnel import COLUMNS

    return COLUMNS


def _roll_columns(session: Session, f: Filters) -> list[str]:
    from arrears.reports.service import _buckets

    return ["from_bucket", "accounts", *(c for b in _buckets() for c in (f"to_{b}", f"to_{b}_bp"))]


#: Table code -> (rows, CSV columns or None for the rows' own keys). Zone-dependent rows get the bank zone.
TABLES: dict[str, tuple[Callable[..., list[dict[str, Any]]], Callable[[Session, Filters], list[str]] | None]] = {
    "by_bucket": (by_bucket_rows, lambda s, f: ["bucket", "accounts", "past_due_fen", "balance_fen"]),
    "roll_rates": (roll_rows, _roll_columns),
    "cure_trend": (cure_rows, lambda s, f: ["business_date", "cured", "in_arrears_before", "cure_bp"]),
    "promise_kept": (promise_rows, lambda s, f: ["from", "to", "open", "kept", "partly_kept", "broken", "kept_bp"]),
    "rpc_by_hour": (rpc_rows, lambda s, f: ["weekday", "hour", "attempts", "rpc", "rpc_bp"]),
    "queue_health": (queue_rows, lambda s, f: ["team", "open", "held", "unclaimed", "tasks_due", "tasks_overdue",
                                               "oldest_opened", "states"]),
    "agent_activity": (activity_rows, lambda s, f: ["agent", "calls", "rpc", "rpc_bp", "promises", "agreements"]),
    "experiments": (experiment_rows, lambda s, f: ["strategy", "version", "experiment", "arm", "accounts"]),
    "experiment_readout": (readout_rows, lambda s, f: READOUT_COLUMNS),
    "portal_funnel": (portal_funnel_rows, _funnel_columns),
}
_ZONED = {"rpc_by_hour", "agent_activity", "portal_funnel"}


def table_rows(request: Request, session: Session, code: str, f: Filters) -> list[dict[str, Any]]:
    rows_of, _ = TABLES[code]
    if code == "experiment_readout":
        settings = settings_of(request)
        return rows_of(session, f, settings.timezone, settings.experiments_file)
    if code in _ZONED:
        return rows_of(session, f, settings_of(request).timezone)
    return rows_of(session, f)


def _csv(request: Request, session: Session, code: str, f: Filters, prefix: str) -> Response:
    if code not in TABLES:
        raise NotFound(f"no table {code!r}")
    columns = TABLES[code][1]
    text = reports.to_csv(table_rows(request, session, code, f), columns(session, f) if columns else None)
    name = f"{prefix}-{code}-{f.business_date.isoformat()}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- chart data ---------------------------------------------------------------------------------------------

def _pct(bp: int | None) -> float | None:
    return None if bp is None else bp / 100


def chart_data(tables: dict[str, list[dict[str, Any]]], buckets: list[str]) -> str:
    """The charts' data as JSON for ``static/app.js`` (amounts in yuan as text: exact)."""
    grid = [[r["hour"], WEEKDAYS.index(str(r["weekday"])), _pct(r["rpc_bp"]), r["attempts"]]
            for r in tables["rpc_by_hour"]]
    roll = tables["roll_rates"]
    promise = tables["promise_kept"][0]
    data = {
        "bucket": {"buckets": [r["bucket"] for r in tables["by_bucket"]],
                   "accounts": [r["accounts"] for r in tables["by_bucket"]],
                   "balance": [str(to_yuan(r["balance_fen"])) for r in tables["by_bucket"]],
                   "past_due": [str(to_yuan(r["past_due_fen"])) for r in tables["by_bucket"]]},
        "roll": {"rows": [r["from_bucket"] for r in roll], "columns": buckets,
                 "cells": [[j, i, _pct(r[f"to_{b}_bp"])] for i, r in enumerate(roll) for j, b in enumerate(buckets)]},
        "cure": {"dates": [r["business_date"].isoformat() for r in tables["cure_trend"]],
                 "rates": [_pct(r["cure_bp"]) for r in tables["cure_trend"]]},
        "promise": {k: promise[k] for k in ("kept", "partly_kept", "broken", "open")},
        "rpc": {"cells": grid, "weekdays": list(WEEKDAYS)},
    }
    return json.dumps(data).replace("</", "<\\/")


def _dashboard(request: Request, session: Session, user: User, f: Filters, *, base: str, title: str) -> Response:
    from arrears.reports.service import _buckets

    tables = {code: table_rows(request, session, code, f) for code in TABLES}
    buckets = _buckets()
    teams = list(session.execute(select(Team.code).order_by(Team.code)).scalars()) if base == "/supervisor" else []
    return render(request, "dashboard.html", title=title, base=base, filters=f, tables=tables, buckets=buckets,
                  teams=teams, query=f.query(team=base == "/supervisor"),
                  chart=chart_data(tables, buckets), percent=percent,
                  weekday_names=[gettext(request, labels.WEEKDAYS[d]) for d in WEEKDAYS],
                  roll_possible=f.date_from < f.business_date)


#: Most days an agent's page lists (the window's last ones).
AGENT_DAYS = 92


def agent_days(session: Session, f: Filters, username: str, zone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """One agent's figures (:func:`arrears.reports.service.agent_activity`) on each date of the window
    (its last :data:`AGENT_DAYS`), then the total; :class:`NotFound` when the agent is not in the scope."""
    days = (f.date_to - f.date_from).days + 1
    first = f.date_from if days <= AGENT_DAYS else f.date_to - timedelta(days=AGENT_DAYS - 1)
    rows: list[dict[str, Any]] = []
    for n in range((f.date_to - first).days + 1):
        day = first + timedelta(days=n)
        mine = [r for r in reports.agent_activity(session, business_date=day, team_id=f.team_id, bank_zone=zone)
                if r["agent"] == username]
        if not mine:
            raise NotFound(f"no agent {username!r} here")
        rows.append({"business_date": day, **{k: mine[0][k] for k in ("calls", "rpc", "rpc_bp", "promises",
                                                                       "agreements")}})
    total = {k: sum(r[k] for r in rows) for k in ("calls", "rpc", "promises", "agreements")}
    total["rpc_bp"] = rate_bp(total["rpc"], total["calls"])
    return [*rows, {"business_date": None, **total}]


def _agent_page(request: Request, session: Session, f: Filters, username: str, *, base: str) -> Response:
    rows = agent_days(session, f, username, settings_of(request).timezone)
    return render(request, "dashboard_agent.html", base=base, filters=f, agent=username, rows=rows,
                  query=f.query(team=base == "/supervisor"), percent=percent)


@router.get("/team/agents/{username}")
def team_agent_page(request: Request, username: Annotated[str, Path(max_length=64)], session: DbSession,
                    user: TeamViewer, day: Day = None, date_from: From = None, date_to: To = None) -> Response:
    """One agent of the lead's team: their figures day by day over the window."""
    f = _filters(request, session, user, day, date_from, date_to, own_team=True)
    return _agent_page(request, session, f, username, base="/team")


@router.get("/supervisor/agents/{username}")
def supervisor_agent_page(request: Request, username: Annotated[str, Path(max_length=64)], session: DbSession,
                          user: SupervisorViewer, day: Day = None, date_from: From = None, date_to: To = None,
                          team: TeamCode = "") -> Response:
    f = _filters(request, session, user, day, date_from, date_to, own_team=False, team=team)
    return _agent_page(request, session, f, username, base="/supervisor")


@router.get("/team")
def team_page(request: Request, session: DbSession, user: TeamViewer, day: Day = None, date_from: From = None,
              date_to: To = None) -> Response:
    f = _filters(request, session, user, day, date_from, date_to, own_team=True)
    return _dashboard(request, session, user, f, base="/team", title=N_("Team"))


@router.get("/team/export/{code}.csv")
def team_export(request: Request, code: str, session: DbSession, user: TeamViewer, day: Day = None,
                date_from: From = None, date_to: To = None) -> Response:
    f = _filters(request, session, user, day, date_from, date_to, own_team=True)
    return _csv(request, session, code, f, f"team-{f.team_code or 'all'}")


@router.get("/supervisor")
def supervisor_page(request: Request, session: DbSession, user: SupervisorViewer, day: Day = None,
                    date_from: From = None, date_to: To = None, team: TeamCode = "") -> Response:
    f = _filters(request, session, user, day, date_from, date_to, own_team=False, team=team)
    return _dashboard(request, session, user, f, base="/supervisor", title=N_("Supervision"))


@router.get("/supervisor/export/{code}.csv")
def supervisor_export(request: Request, code: str, session: DbSession, user: SupervisorViewer, day: Day = None,
                      date_from: From = None, date_to: To = None, team: TeamCode = "") -> Response:
    f = _filters(request, session, user, day, date_from, date_to, own_team=False, team=team)
    return _csv(request, session, code, f, f.team_code or "all")


__all__ = ["TABLES", "router"]
