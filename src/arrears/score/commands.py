"""``arrears score``: train a behaviour-score model from the bank's history, score a features file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from arrears.kit.errors import ArrearsError
from arrears.score.model import DEFAULT_THREADS

score_app = typer.Typer(help="Behaviour score: train, apply.", no_args_is_help=True)

_out = Console()
_err = Console(stderr=True)


def _fail(exc: ArrearsError) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
    return typer.Exit(1)


@score_app.command("train")
def train_command(
    file: Annotated[Path, typer.Argument(help="Training file (.csv or .parquet), one row per account and month.")],
    name: Annotated[str, typer.Option("--name", help="Model name, e.g. behaviour.")],
    version: Annotated[str, typer.Option("--version", help="Model version, e.g. 2026-12 (never overwritten).")],
    out: Annotated[Path, typer.Option("--out", help="Root folder of model artefacts.")] = Path("models"),
    holdout_months: Annotated[int, typer.Option(help="Latest months held out for the metrics.")] = 3,
    gap_months: Annotated[int, typer.Option(help="Months dropped between training and hold-out.")] = 1,
    rounds: Annotated[int, typer.Option(help="Boosting rounds.")] = 200,
    threads: Annotated[int, typer.Option(help="LightGBM threads (scores are reproducible per count).")] = DEFAULT_THREADS,
) -> None:
    """Train, print the hold-out AUC, Brier score and calibration table, save models/NAME/VERSION/."""
    from arrears.score.model import save_model
    from arrears.score.training import TrainingConfig, train_file

    config = TrainingConfig(holdout_months=holdout_months, gap_months=gap_months, num_boost_round=rounds,
                            num_threads=threads)
    try:
        if (out / name / version).exists():  # refuse before spending the training time
            from arrears.score.model import ModelError

            raise ModelError(f"model {name} version {version} already exists at {out / name / version}: "
                             "versions are immutable, train under a new version")
        model, report = train_file(file, name=name, version=version, config=config)
        path = save_model(model, out)
    except ArrearsError as exc:
        raise _fail(exc) from None
    _out.print(f"Trained on {report.train_rows:,} rows ({report.train_months[0]} .. {report.train_months[-1]}), "
               f"held out {report.holdout_rows:,} rows ({report.holdout_months[0]} .. {report.holdout_months[-1]}), "
               f"gap {', '.join(report.gap_months) or 'none'}")
    _out.print(f"Hold-out AUC {report.auc:.4f}   Brier {report.brier:.4f}   log loss {report.log_loss:.4f}   "
               f"base rate {report.holdout_positive / report.holdout_rows:.4f}")
    table = Table(title="Calibration on the hold-out (deciles of predicted probability)")
    for col in ("bin", "rows", "mean predicted", "observed", "predicted range"):
        table.add_column(col, justify="right")
    for row in report.calibration:
        table.add_row(str(row.bin), f"{row.rows:,}", f"{row.mean_predicted:.4f}", f"{row.observed:.4f}",
                      f"{row.low:.3f} .. {row.high:.3f}")
    _out.print(table)
    _out.print(f"Saved {path}")


@score_app.command("apply")
def apply_command(
    model: Annotated[Path, typer.Option("--model", help="Model directory, e.g. models/behaviour/2026-12.")],
    features: Annotated[Path, typer.Option("--features", help="Features file (.csv or .parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Scores file to write (.csv or .parquet).")],
    threads: Annotated[int, typer.Option(help="LightGBM threads.")] = DEFAULT_THREADS,
) -> None:
    """Score every account in the features file: account_ref, [month,] behaviour_score (0..10000 bp)."""
    from arrears.score.fileformat import read_features_file, write_table
    from arrears.score.model import load_model

    try:
        if out.suffix.lower() not in (".csv", ".parquet"):
            raise ArrearsError(f"--out {out}: the scores file must be .csv or .parquet")
        loaded = load_model(model, num_threads=threads)
        table = read_features_file(features, features=loaded.features)
        scores = loaded.score_table(table)
    except ArrearsError as exc:
        raise _fail(exc) from None
    write_table(scores, out)
    _out.print(f"Scored {scores.num_rows:,} accounts with {loaded.name} {loaded.version} → {out}")


@score_app.command("simulate")
def simulate_command(
    out: Annotated[Path, typer.Argument(help="Training file to write (.csv or .parquet).")],
    accounts: Annotated[int, typer.Option(help="Accounts.")] = 5_000,
    months: Annotated[int, typer.Option(help="Month-end snapshots per account.")] = 24,
    start: Annotated[str, typer.Option(help="First month, YYYY-MM.")] = "2024-01",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 20261201,
) -> None:
    """Write a synthetic training file (the format of docs/behaviour-score.md) for demos and tests."""
    from arrears.score.fileformat import write_table
    from arrears.sim.score_history import score_history

    if accounts < 1 or months < 1:
        raise _fail(ArrearsError("--accounts and --months must be >= 1"))
    try:
        table = score_history(accounts, months, seed=seed, start=start)
        write_table(table, out)
    except ArrearsError as exc:
        raise _fail(exc) from None
    except ValueError as exc:
        raise _fail(ArrearsError(str(exc))) from None
    _out.print(f"Wrote {table.num_rows:,} rows ({accounts:,} accounts, {months} months) → {out}")
