"""``arrears retention``: check the retention schedule and run the job that applies it (docs/retention.md)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from arrears.kit.errors import ArrearsError

retention_app = typer.Typer(help="Personal data kept no longer than needed: the retention schedule and its job.",
                            no_args_is_help=True)

_out = Console()
_err = Console(stderr=True)

FileOpt = Annotated[Path | None, typer.Option(
    "--file", help="Schedule file (default: ARREARS_RETENTION_FILE, else the shipped schedule).")]


def _fail(exc: ArrearsError | str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(1)


def _today() -> date:
    from arrears.cases.service import business_date_of
    from arrears.kit.clock import utc_now

    return business_date_of(utc_now())


@retention_app.command("check")
def check(file: FileOpt = None) -> None:
    """Check a schedule against the store's tables and list it: each table, its action, period and event."""
    from arrears.kit.models import metadata
    from arrears.retention.service import active_schedule

    try:
        schedule = active_schedule(metadata, file)
    except ArrearsError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"Retention schedule {schedule.version} ({schedule.file})")
    for col in ("table", "action", "period", "from", "purpose"):
        table.add_column(col)
    for name, rule in schedule.tables.items():
        event = "" if rule.event is None else rule.event + (f" ({rule.column})" if rule.column else "")
        table.add_row(name, rule.action, rule.period.describe() if rule.period else "", event, rule.purpose)
    _out.print(table)
    _out.print(f"Schedule {schedule.version}: {len(schedule.tables)} tables, every table with personal data listed.")


@retention_app.command("run")
def run(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"], help="The date the periods are counted to, YYYY-MM-DD (default: today).")]
    = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be erased or anonymised; change "
                                                            "nothing.")] = False,
    file: FileOpt = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, max=100_000, help="Rows per transaction (default: ARREARS_RETENTION_BATCH_SIZE, "
        "1000).")] = None,
) -> None:
    """Erase or anonymise what has passed its period in the schedule, in batches (each a transaction with
    its audit record), keeping every customer under a legal hold; print the counts per table."""
    from arrears.kit.cli import cli_actor, store_engine

    try:
        report = run_on(store_engine(), as_of=as_of.date() if as_of else _today(), dry_run=dry_run, file=file,
                        batch_size=batch_size, actor=cli_actor())
    except ArrearsError as exc:
        raise _fail(exc) from exc
    print_report(report, _out)


def run_on(engine, *, as_of: date, dry_run: bool, actor: str, file: Path | None = None,  # type: ignore[no-untyped-def]
           batch_size: int | None = None):
    from arrears.kit.models import metadata
    from arrears.retention.service import active_schedule, run_retention

    return run_retention(engine, as_of=as_of, actor=actor, metadata=metadata, schedule=active_schedule(metadata, file),
                         dry_run=dry_run, batch_size=batch_size)


def print_report(report, console: Console) -> None:  # type: ignore[no-untyped-def]
    verb = "would be removed" if report.dry_run else "removed"
    table = Table(title=f"Retention on {report.as_of.isoformat()} (schedule {report.schedule_version})"
                  + (" — dry run, nothing changed" if report.dry_run else ""))
    for col, justify in (("table", "left"), ("action", "left"), ("period", "left"), ("event on or before", "left"),
                         (f"rows {verb}", "right"), ("kept: legal hold", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for t in report.tables:
        if t.action == "keep":
            continue
        table.add_row(t.table, t.action, t.period, t.cutoff.isoformat() if t.cutoff else "", f"{t.rows:,}",
                      f"{t.held:,}")
    console.print(table)
    console.print(f"Retention: {report.rows:,} rows {verb} on {report.as_of.isoformat()}"
                  f"{'' if report.dry_run else ', each batch audited'}.")
