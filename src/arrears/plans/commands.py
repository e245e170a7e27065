"""``arrears plans``: the options for an account as JSON, the daily monitoring, one agreement."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.console import Console

from arrears.auth.model import ROLES
from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError
from arrears.kit.money import to_fen

plans_app = typer.Typer(help="Repayment plans: options, monitoring, agreements.", no_args_is_help=True)

_err = Console(stderr=True)


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(1)


def _fen(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _fail(f"--affordable: {text!r} is not an amount in yuan (e.g. 1500 or 1500.00)") from None
    if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")) or value >= 10**13:
        raise _fail(f"--affordable: {text!r} must be a yuan amount >= 0 with at most 2 decimals")
    return to_fen(value)


class _CliUser:
    """Who the options are made for (the settlement authority): a role, no stored user."""

    def __init__(self, role: str) -> None:
        self.role = role


@plans_app.command("options")
def options(
    account: Annotated[str, typer.Option("--account", help="The bank's account id, or the store's id.")],
    affordable: Annotated[str | None, typer.Option(help="Affordable monthly amount in yuan (instead of the "
                                                        "investigation's).")] = None,
    role: Annotated[str, typer.Option(help=f"Settlement authority of this role: {', '.join(ROLES)}.")] = "agent",
    business_date: Annotated[datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                           help="Business date (default: today).")] = None,
) -> None:
    """Print the options side by side as JSON: fen integers with yuan strings, rates as strings."""
    from arrears.plans import repository as repo
    from arrears.plans import service
    from arrears.plans.endpoints import options_out

    if role not in ROLES:
        raise _fail(f"--role: unknown role {role!r}; roles are {', '.join(ROLES)}")
    fen = _fen(affordable) if affordable is not None else None
    try:
        with transaction(store_engine()) as session:
            found = service.options_for_account(
                session, account=repo.account_by_ref_or_id(session, account), role=role, affordable=fen,
                business_date=business_date.date() if business_date else None)
            out = options_out(found).model_dump(mode="json")
    except ArrearsError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))


@plans_app.command("monitor")
def monitor(
    business_date: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Business date.")],
) -> None:
    """Judge every active agreement on the date: payments, misses, reminders, broken, completed."""
    result = run_monitor(business_date.date())
    typer.echo(json.dumps(result, ensure_ascii=False))


def run_monitor(day, *, actor: str | None = None) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """One transaction of plan monitoring for ``day``; the summary as plain data."""
    from arrears.plans import service

    try:
        with transaction(store_engine()) as session:
            r = service.monitor_plans(session, business_date=day, actor=actor or cli_actor())
    except ArrearsError as exc:
        raise _fail(str(exc)) from exc
    return {"business_date": r.business_date.isoformat(), "agreements": r.agreements, "kept": r.kept,
            "late": r.late, "missed": r.missed, "tasks": r.tasks, "reminders": r.reminders, "broken": r.broken,
            "completed": r.completed, "reaged_accounts": r.reaged}


@plans_app.command("show")
def show(agreement: Annotated[int, typer.Option("--agreement", min=1, help="Agreement id.")]) -> None:
    """One agreement with its schedule and payments, as JSON (terms text included)."""
    from arrears.plans import repository as repo
    from arrears.plans import service

    try:
        with transaction(store_engine()) as session:
            a = repo.get_agreement(session, agreement)
            rows = repo.instalments(session, a.id)
            out = {
                "id": a.id, "reference": service.reference(a), "case_id": a.case_id, "version": a.version,
                "supersedes_id": a.supersedes_id, "product_code": a.product_code, "status": a.status,
                "start_date": a.start_date.isoformat(), "total": a.total, "annual_rate": a.annual_rate,
                "confirmed_at": a.confirmed_at.isoformat() if a.confirmed_at else None,
                "confirmation_method": a.confirmation_method, "terms_sha256": a.terms_sha256,
                "pdf_sha256": a.pdf_sha256, "end_reason": a.end_reason,
                "instalments": [{"number": r.number, "due_date": r.due_date.isoformat(), "amount": r.amount,
                                 "paid": r.paid, "status": r.status} for r in rows],
                "terms_text": a.terms_text,
            }
    except ArrearsError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
