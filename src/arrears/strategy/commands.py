"""``arrears strategy``: check strategy files; explain which segment an account is in and what comes next."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from arrears.accounts.tables import Account
from arrears.config import get_settings
from arrears.kit.clock import utc_now
from arrears.kit.db import make_engine
from arrears.kit.errors import ArrearsError, NotFound
from arrears.strategy.config import load_strategy
from arrears.strategy.engine import explain
from arrears.strategy.features import build_features

strategy_app = typer.Typer(help="Strategy files: validate them; explain an account's segment and next actions.",
                           no_args_is_help=True)


def _fail(exc: ArrearsError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@strategy_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Strategy files (YAML; see docs/strategy.md).")],
) -> None:
    """Load and check each file: keys, segments, actions, and every condition against the feature view."""
    failed = False
    for file in files:
        try:
            strategy = load_strategy(file)
        except ArrearsError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed = True
            continue
        actions = sum(len(s.path) for s in strategy.segments)
        typer.echo(f"OK {file}: {strategy.label}, {len(strategy.segments)} segment(s), {actions} action(s)")
    if failed:
        raise typer.Exit(1)


def _account_id(engine, ref_or_id: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        found = conn.execute(select(Account.id).where(Account.account_ref == ref_or_id)).scalar_one_or_none()
        if found is None and ref_or_id.isdigit() and int(ref_or_id) < 2**63:
            found = conn.execute(select(Account.id).where(Account.id == int(ref_or_id))).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no account {ref_or_id!r} (give the bank's account id or the store's id)")
    return int(found)


@strategy_app.command("explain")
def explain_command(
    account: Annotated[str, typer.Option("--account", help="The bank's account id, or the store's id.")],
    file: Annotated[Path, typer.Option("--file", help="The strategy file.")],
    business_date: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                           help="Business date (default: today).")] = None,
    since: Annotated[datetime | None, typer.Option("--since", formats=["%Y-%m-%d"],
                                                   help="Day the account entered its segment (default: the "
                                                        "business date, i.e. entering today).")] = None,
) -> None:
    """Which segment the account is in on the date, why earlier segments did not match, what is due
    today and what comes next."""
    settings = get_settings()
    try:
        strategy = load_strategy(file)
        engine = make_engine(settings.database_url)
        try:
            day: date = business_date.date() if business_date else _today(settings.timezone)
            account_id = _account_id(engine, account)
            features = build_features(engine, day, account_ids=[account_id], time_zone=settings.timezone)
        finally:
            engine.dispose()
    except ArrearsError as exc:
        raise _fail(exc) from None
    row = features.to_pylist()[0]
    typer.echo(explain(row, strategy, business_date=day, segment_since=since.date() if since else None).text())


def _today(zone: str) -> date:
    from zoneinfo import ZoneInfo

    return utc_now().astimezone(ZoneInfo(zone)).date()
