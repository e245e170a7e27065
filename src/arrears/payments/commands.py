"""``arrears payments reconcile``: confirm paid orders against the bank's payment file, and report
the paid orders no file has confirmed in time (docs/payments.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError

payments_app = typer.Typer(help="Online payments through a provider (docs/payments.md).", no_args_is_help=True)
console = Console(soft_wrap=True)


@payments_app.command("reconcile")
def reconcile_command(
    days: Annotated[int | None, typer.Option(min=0, max=60, help="Report paid orders no bank file has confirmed "
                                                                 "this many days after payment (default: "
                                                                 "ARREARS_PAYMENTS_CONFIRM_WITHIN_DAYS).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Confirm every paid order whose payment the bank's payment file now holds (same account, same
    amount, the provider's transaction id as the file's payment id); list mismatches and the paid
    orders still unconfirmed. Exits 2 when any order is mismatched or overdue for confirmation, so a
    scheduler can alert on it. Run it after each payment file is loaded."""
    from arrears.payments.service import reconcile, unconfirmed_paid_orders
    from arrears.payments.settings import PaymentSettings

    within = PaymentSettings().confirm_within_days if days is None else days
    try:
        with transaction(write_first(store_engine())) as session:
            result = reconcile(session, actor=cli_actor())
            overdue = unconfirmed_paid_orders(session, as_of=utc_now(), days=within)
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({
            "confirmed": [{"order": o, "bank_payment_ref": ref} for o, ref in result.confirmed],
            "mismatched": [{"order": o, "bank_payment_ref": ref, "why": why} for o, ref, why in result.mismatched],
            "unconfirmed": [{"order": u.merchant_order_id, "account": u.account_ref, "transaction_id": u.transaction_id,
                             "paid_fen": u.paid_fen, "paid_at": u.paid_at.isoformat()} for u in overdue],
            "confirm_within_days": within,
        }, ensure_ascii=False, indent=2))
    else:
        console.print(f"Confirmed by the bank's file: {len(result.confirmed)} order(s).")
        for order, ref in result.confirmed:
            console.print(f"  {order} ← {ref}")
        for order, ref, why in result.mismatched:
            console.print(f"[red]mismatch:[/red] {order} vs {ref}: {why}")
        if overdue:
            console.print(f"[red]Paid but not confirmed by any bank file after {within} day(s):[/red] {len(overdue)}")
            for u in overdue:
                console.print(f"  {u.merchant_order_id} account {u.account_ref} {u.paid_fen} fen paid "
                              f"{u.paid_at.isoformat()} (transaction {u.transaction_id})")
        else:
            console.print(f"No paid order is waiting more than {within} day(s) for the bank's file.")
    if result.mismatched or overdue:
        raise typer.Exit(2)
