"""``arrears spark …``: the batch steps that run on Apache Spark (needs ``pip install arrears[spark]``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from arrears.kit.errors import ArrearsError

spark_app = typer.Typer(help="Batch steps on Apache Spark (file to file; see docs/operations.md).",
                        no_args_is_help=True)
console = Console()


@spark_app.command("delinquency")
def delinquency(
    ledger: Annotated[str, typer.Option("--ledger", help="Folder (or Spark path: hdfs://, s3a://) of the bank's "
                                        "statements*, payments* and holds* files, CSV or Parquet.")],
    business_date: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date, YYYY-MM-DD.")],
    out: Annotated[str, typer.Option("--out", help="Output folder (or Spark path); results go to OUT/as_of=DATE/.")],
    master: Annotated[str, typer.Option("--master", help="Spark master: local[N], spark://host:7077, yarn, k8s://…")]
    = "local[2]",
    fmt: Annotated[str | None, typer.Option("--format", help="csv or parquet; needed only for non-local paths "
                                            "(default parquet there).")] = None,
    rules_file: Annotated[Path | None, typer.Option("--rules", help="Delinquency rules file (default: "
                                                   "ARREARS_RULES_FILE, else the packaged buckets).")] = None,
    no_validate: Annotated[bool, typer.Option("--no-validate", help="Skip the per-column value checks of CSV "
                                              "files (one Spark job each).")] = False,
) -> None:
    """Assess every account of a ledger on a business date with Spark and write Parquet results."""
    from arrears.config import get_settings
    from arrears.delinquency.config import load_rules
    from arrears.delinquency.model import DelinquencyRules

    try:
        from arrears.batch.spark import run_spark_delinquency
    except ImportError as exc:  # pragma: no cover - depends on the install
        console.print(f"[red]error:[/red] {exc}; install the Spark extra: pip install 'arrears[spark]'")
        raise typer.Exit(2) from exc
    path = rules_file or get_settings().rules_file
    try:
        rules = load_rules(path) if path else DelinquencyRules()
        result = run_spark_delinquency(ledger_dir=ledger, out_dir=out, business_date=business_date.date(),
                                       rules=rules, master=master, fmt=fmt, validate=not no_validate)
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from exc
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(f"Assessed {result.accounts:,} accounts on {result.business_date.isoformat()} with Spark "
                  f"({master}): {result.delinquent_accounts:,} delinquent. Written to {result.output}.")
    console.print(f"Timings: {steps}.")
