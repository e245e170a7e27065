"""``arrears simulate``: run strategies on synthetic customers and print recovery, cure and roll rates."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from arrears.kit.errors import ArrearsError


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def simulate(
    strategy: Annotated[list[Path], typer.Option(
        "--strategy", help="Strategy file; repeat for several (tried in order, as in the daily cycle).")],
    days: Annotated[int, typer.Option(help="Business days to simulate (at least 1).")],
    accounts: Annotated[int, typer.Option(help="Synthetic accounts in arrears.")] = 5_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same customers and same report.")] = 1,
    start: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"],
                                                   help="First business date, YYYY-MM-DD (default 2026-03-02).")] = None,
    experiments: Annotated[Path | None, typer.Option(help="Champion/challenger experiments file: "
                                                          "the report is also given per arm.")] = None,
    pack: Annotated[str, typer.Option(help="Compliance pack: a shipped name (cn, us-reg-f) or a YAML file.")] = "cn",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")] = None,
) -> None:
    """Simulate customers in arrears answering calls, reading messages, promising, agreeing plans, paying,
    curing or rolling, under the given strategies and the real compliance gate; print the report."""
    from arrears.contact.config import PACK_NAMES, load_default_pack, load_pack
    from arrears.sim.behaviour import synthetic_customers
    from arrears.sim.simulate import DEFAULT_START
    from arrears.sim.simulate import simulate as run
    from arrears.strategy.config import load_strategy
    from arrears.strategy.experiments import load_experiments

    if days < 1:
        raise _fail(f"--days must be at least 1, got {days}", 2)
    if accounts < 1:
        raise _fail(f"--accounts must be at least 1, got {accounts}", 2)
    for path in [*strategy, *([experiments] if experiments else [])]:
        if not path.is_file():
            raise _fail(f"{path}: no such file")
    try:
        strategies = [load_strategy(p) for p in strategy]
        names = [s.name for s in strategies]
        if len(set(names)) != len(names):
            raise _fail(f"two strategy files have the same strategy name ({', '.join(names)})")
        arms = load_experiments(experiments) if experiments else ()
        if pack in PACK_NAMES:
            policy = load_default_pack(pack)
        elif Path(pack).is_file():
            policy = load_pack(pack)
        else:
            raise _fail(f"unknown pack {pack!r}: give one of {', '.join(PACK_NAMES)} or a pack file")
        began = time.perf_counter()
        customers = synthetic_customers(accounts, seed=seed)
        result = run(customers, strategies, days=days, start=start.date() if start else DEFAULT_START, seed=seed,
                     pack=policy, experiments=arms, keep_events=False)
        elapsed = time.perf_counter() - began
    except ArrearsError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(result.report.text())
    typer.echo(f"({elapsed:.1f} s)")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.report.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"report written to {json_out}")
