"""``arrears portal``: send or print a customer's personal link, revoke one."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from arrears.config import get_settings
from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError

portal_app = typer.Typer(help="The cardholder's own pages: personal links (docs/self-service.md).",
                         no_args_is_help=True)
console = Console(soft_wrap=True)


@portal_app.command("link")
def link(
    account: Annotated[str, typer.Option(help="The bank's account reference.")],
    send: Annotated[str | None, typer.Option(help="sms or email: send it through the outbox (the compliance gate "
                                                  "judges it when the worker delivers it); without: print it.")] = None,
    days: Annotated[int, typer.Option(min=1, max=60, help="How long the link works.")] = 14,
) -> None:
    """A new personal link for ACCOUNT (earlier links of the account stop working)."""
    from arrears.portal.service import issue_link, portal_key

    settings = get_settings()
    try:
        with transaction(write_first(store_engine())) as session:
            issued = issue_link(session, account_ref=account, key=portal_key(settings), settings=settings,
                                actor=cli_actor(), send=send, ttl=timedelta(days=days))
            link_id, expires, outbox = issued.link.id, issued.link.expires_at, issued.outbox_id
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    if send is None:
        console.print(issued.url)
    else:
        console.print(f"Link {link_id} queued as {send} (outbox message {outbox}).")
    console.print(f"Link {link_id} works until {expires.isoformat()}.", style="dim")


@portal_app.command("revoke")
def revoke(
    link_id: Annotated[int, typer.Option("--link", min=1, max=2**63 - 1, help="The link's number.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit log).")],
) -> None:
    """Stop a personal link now; its open visits end."""
    from arrears.kit.inputs import require_reason
    from arrears.portal.service import revoke_link

    try:
        require_reason(reason, field="reason")
        with transaction(write_first(store_engine())) as session:
            revoke_link(session, link_id=link_id, actor=cli_actor(), reason=reason)
    except ArrearsError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"Link {link_id} revoked.")
