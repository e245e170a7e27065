"""``arrears report …``: the collections reports on the command line, as tables or CSV files."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from arrears.kit.cli import store_engine
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError
from arrears.kit.money import format_yuan
from arrears.reports import service
from arrears.reports.model import percent

report_app = typer.Typer(help="Collections reports: buckets, roll rates, cures, promises, contact by hour, "
                              "queue health, agent activity (docs/reports.md).", no_args_is_help=True)
console = Console()

DateOpt = Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                  help="Business date, YYYY-MM-DD (default: today's, as on the "
                                                       "dashboards).")]


def _team_id(session: Any, code: str | None) -> int | None:
    from arrears.auth.tables import Team

    if code is None:
        return None
    team = session.execute(select(Team.id).where(Team.code == code)).scalar_one_or_none()
    if team is None:
        raise ArrearsError(f"no team {code!r}")
    return int(team)


def _show(title: str, rows: list[dict[str, Any]], columns: list[str]) -> None:
    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="left" if c in ("bucket", "from_bucket", "team", "agent", "weekday", "slice")
                         else "right")
    for r in rows:
        table.add_row(*[_cell(c, r.get(c)) for c in columns])
    console.print(table)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return "–"
    if column.endswith("_bp"):
        return percent(value)
    if column.endswith("_fen"):
        return format_yuan(int(value))
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    return f"{value:,}" if isinstance(value, int) else str(value)


@report_app.command("kpis")
def kpis(
    business_date: DateOpt = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="Window for roll rates, cures, promises and contact "
                                                           "(ending on the date).")] = service.WINDOW_DAYS,
    team: Annotated[str | None, typer.Option(help="Only this team's cases (team code).")] = None,
    csv_dir: Annotated[Path | None, typer.Option("--csv-dir", help="Also write each table as CSV here.")] = None,
) -> None:
    """Every dashboard table for a business date (and the window before it), printed; CSV on request."""
    from arrears.cases.service import business_date_of
    from arrears.config import get_settings
    from arrears.kit.clock import utc_now

    zone = get_settings().timezone
    day: date = business_date.date() if business_date else business_date_of(utc_now(), zone)
    start, _ = service.window(day, days)
    try:
        with transaction(store_engine()) as s:
            team_id = _team_id(s, team)
            tables: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}
            buckets = service.by_bucket(s, business_date=day, team_id=team_id)
            tables["by_bucket"] = (buckets, ["bucket", "accounts", "past_due_fen", "balance_fen"])
            rolls = service.roll_rates(s, from_date=start, to_date=day, team_id=team_id)
            roll_rows = rolls.table() if start < day else []  # as on the dashboards
            tables["roll_rates"] = (roll_rows, ["from_bucket", "accounts"]
                                    + [c for b in rolls.buckets for c in (f"to_{b}", f"to_{b}_bp")])
            cures = service.cure_trend(s, from_date=start, to_date=day, team_id=team_id)
            tables["cure_trend"] = (cures, ["business_date", "cured", "in_arrears_before", "cure_bp"])
            promises = service.promise_kept(s, from_date=start, to_date=day, team_id=team_id)
            tables["promise_kept"] = ([promises], ["from", "to", "open", "kept", "partly_kept", "broken", "kept_bp"])
            grid = service.rpc_by_hour(s, from_date=start, to_date=day, team_id=team_id, bank_zone=zone)
            tables["rpc_by_hour"] = (grid.cells(), ["weekday", "hour", "attempts", "rpc", "rpc_bp"])
            tables["queue_health"] = (service.queue_health(s, today=day, team_id=team_id),
                                      ["team", "open", "held", "unclaimed", "tasks_due", "tasks_overdue",
                                       "oldest_opened", "states"])
            tables["agent_activity"] = (service.agent_activity(s, business_date=day, team_id=team_id, bank_zone=zone),
                                        ["agent", "calls", "rpc", "rpc_bp", "promises", "agreements"])
    except (ArrearsError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    for name, (rows, cols) in tables.items():
        shown = [c for c in cols if name != "roll_rates" or not c.startswith("to_") or c.endswith("_bp")]
        _show(f"{name} ({team or 'all teams'}; {start} – {day})", rows, shown)
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        for name, (rows, cols) in tables.items():
            (csv_dir / f"{name}-{day.isoformat()}.csv").write_text(service.to_csv(rows, cols), encoding="utf-8")
        console.print(f"{len(tables)} CSV files written to {csv_dir}")


@report_app.command("portal-funnel")
def portal_funnel(
    date_from: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"],
                                                help="First date links were sent, YYYY-MM-DD.")],
    date_to: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last date, YYYY-MM-DD.")],
    team: Annotated[str | None, typer.Option(help="Only this team's cases (team code).")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV to this file.")] = None,
) -> None:
    """The self-service funnel: personal links sent in the window → opened → verified → acted, and
    what the cardholders did, overall, by bucket and by strategy (docs/self-service.md)."""
    from arrears.config import get_settings
    from arrears.reports.portal_funnel import COLUMNS, funnel_rows

    try:
        with transaction(store_engine()) as s:
            rows = funnel_rows(s, from_date=date_from.date(), to_date=date_to.date(), team_id=_team_id(s, team),
                               bank_zone=get_settings().timezone)
    except (ArrearsError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    _show(f"portal funnel ({team or 'all teams'}; links sent {date_from.date()} – {date_to.date()})", rows,
          [c for c in COLUMNS if c != "dimension"])
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        csv.write_text(service.to_csv(rows, COLUMNS), encoding="utf-8")
        console.print(f"CSV written to {csv}")
