"""``arrears ingest PATH...``: load the bank's files into the store, with progress and a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from arrears.accounts.ingest import FileReport, ProgressUpdate, ingest_paths, plan_paths
from arrears.config import get_settings
from arrears.kit.db import make_engine
from arrears.kit.errors import FileRejected
from arrears.kit.migrate import upgrade


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Bank files (.csv / .parquet) or folders holding them.")],
    quarantine_dir: Annotated[
        Path | None,
        typer.Option("--quarantine-dir", help="Where quarantine reports go (default: <data_dir>/quarantine)."),
    ] = None,
) -> None:
    """Load customers, contact points, accounts, statements, payments and holds files.

    Folders are loaded in dependency order. Each file is one transaction: a file rejected whole
    (wrong header, wrong column type, not UTF-8) changes nothing and stops the run with exit
    code 1; bad rows are quarantined and reported.
    """
    console = Console()
    settings = get_settings()
    folder = quarantine_dir if quarantine_dir is not None else settings.data_dir / "quarantine"
    try:
        planned = plan_paths(paths)
    except FileRejected as exc:
        console.print(f"[bold red]Rejected:[/] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    if not planned:
        console.print("[yellow]No bank files found[/] (names must start with customers, contact_points, "
                      "accounts, statements, payments or holds and end in .csv or .parquet).")
        raise typer.Exit(1)

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        reports: list[FileReport] = []
        with Progress(
            TextColumn("[bold]{task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:>12,} rows"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            tasks: dict[Path, TaskID] = {}

            def on_progress(update: ProgressUpdate) -> None:
                task = tasks.get(update.path)
                if task is None:
                    task = tasks[update.path] = bar.add_task("", total=update.total, name=update.path.name, rows=0)
                bar.update(task, completed=update.done, total=update.total, rows=update.rows_read)

            try:
                reports = ingest_paths(engine, [p for p, _ in planned], quarantine_dir=folder, progress=on_progress)
            except FileRejected as exc:
                bar.stop()
                console.print(f"[bold red]Rejected whole, nothing from it was written:[/] {exc}", soft_wrap=True)
                raise typer.Exit(1) from None
            for r in reports:
                if r.path in tasks:
                    bar.update(tasks[r.path], completed=bar.tasks[tasks[r.path]].total)
        for r in reports:
            console.print(_summary(r))
            if r.quarantine_path:
                console.print(f"  quarantine report: {r.quarantine_path}")
            if r.conflicts_path:
                console.print(f"  conflicts report:  {r.conflicts_path}")
    finally:
        engine.dispose()


def _summary(r: FileReport) -> Table:
    table = Table(title=f"{r.path.name} ({r.kind}, run {r.run_id})", title_justify="left")
    for name in ("rows read", "loaded", "unchanged", "updated", "conflicts", "quarantined", "rows/s"):
        table.add_column(name, justify="right")
    rate = f"{r.rows_read / r.seconds:,.0f}" if r.seconds > 0 else "-"
    table.add_row(
        f"{r.rows_read:,}", f"{r.loaded:,}", f"{r.unchanged:,}", f"{r.updated:,}",
        _warn(r.conflicting), _warn(r.quarantined), rate,
    )
    return table


def _warn(n: int) -> str:
    return f"[yellow]{n:,}[/]" if n else "0"
