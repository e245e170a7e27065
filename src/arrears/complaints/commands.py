"""``arrears complaints``: escalate the complaints whose clock ran out, and the complaints-per-1,000
report. docs/complaints.md."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from arrears.cases.service import business_date_of
from arrears.complaints import service
from arrears.config import get_settings
from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError

complaints_app = typer.Typer(help="Complaints on the clock: escalation and the per-1,000 report.",
                             no_args_is_help=True)
OptionalDate = Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                       help="Business date, YYYY-MM-DD (default: today).")]
_err = Console(stderr=True)


def escalate_due(engine, *, business_date, actor: str) -> list[int]:  # type: ignore[no-untyped-def]
    """Escalate, in one transaction, every unanswered complaint past its deadline on ``business_date``
    (ids of those escalated now; none twice)."""
    with transaction(engine) as session:
        return [c.id for c in service.escalate_overdue(session, today=business_date, actor=actor)]


@complaints_app.command("escalate")
def escalate(on: OptionalDate = None) -> None:
    """Mark every unanswered complaint past its deadline escalated (once), with an audit record and a
    ``complaint_overdue`` task on the account's case. The daily cycle runs it too."""
    day = on.date() if on else business_date_of(utc_now(), get_settings().timezone)
    try:
        done = escalate_due(store_engine(), business_date=day, actor=cli_actor())
    except ArrearsError as exc:
        _err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    Console().print(f"Complaints escalated on {day}: {len(done):,}" + (f" ({', '.join(map(str, done))})" if done else ""))


@complaints_app.command("rates")
def rates(
    by: Annotated[str, typer.Option("--by", help="team, agency or strategy")] = "team",
    date_from: Annotated[datetime | None, typer.Option("--from", formats=["%Y-%m-%d"],
                                                       help="First day received (default: 90 days back).")] = None,
    date_to: Annotated[datetime | None, typer.Option("--to", formats=["%Y-%m-%d"],
                                                     help="Last day received (default: today).")] = None,
) -> None:
    """Complaints per 1,000 accounts by team, agency or strategy over a window of receipt dates."""
    to = date_to.date() if date_to else business_date_of(utc_now(), get_settings().timezone)
    start = date_from.date() if date_from else to - timedelta(days=89)
    try:
        with transaction(store_engine()) as session:
            rows = service.rates(session, group=by, since=start, until=to)
    except ArrearsError as exc:
        _err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    table = Table(by, "complaints", "accounts", "per 1,000", title=f"Complaints received {start} to {to}")
    for r in rows:
        table.add_row(r.label if r.key is not None else "(none)", f"{r.complaints:,}", f"{r.accounts:,}",
                      "-" if r.per_thousand is None else str(r.per_thousand))
    Console().print(table)
