"""``arrears regf``: the Regulation F records (docs/compliance.md, "Regulation F records") — a written
cease request, workplace flags on a contact point, an account's limitation date, the validation
notice's delivery, the late notices and whether an account's data may go to a credit bureau. Every
write is audited (actor ``cli:<login>``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.errors import ArrearsError

regf_app = typer.Typer(help="Regulation F records: cease requests, workplace flags, limitation dates, "
                            "validation notices, credit reporting.", no_args_is_help=True)

_err = Console(stderr=True)


def _fail(exc: ArrearsError | str) -> typer.Exit:
    field = getattr(exc, "field", None)
    _err.print(f"[red]error:[/red] {exc}" + (f" (field: {field})" if field else ""), soft_wrap=True)
    return typer.Exit(1)


@regf_app.command("cease")
def cease(
    customer: Annotated[int, typer.Option("--customer", min=1, help="Customer id.")],
    received: Annotated[datetime, typer.Option("--received", formats=["%Y-%m-%d"],
                                               help="The date the written notice was received.")],
    kind: Annotated[str, typer.Option("--kind", help="cease or refusal_to_pay.")] = "cease",
    channel: Annotated[str, typer.Option("--channel", help="How it came in writing: letter, email or fax.")] = "letter",
    note: Annotated[str | None, typer.Option("--note", help="A note (e.g. the letter's date).")] = None,
) -> None:
    """Record the consumer's written request to cease communication, or refusal to pay (12 CFR 1006.6(c))."""
    from arrears.contact import regf

    try:
        with transaction(write_first(store_engine())) as session:
            row = regf.record_cease(session, customer_id=customer, kind=kind, channel=channel,
                                    received_on=received.date(), actor=cli_actor(), note=note)
            rid = row.id
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Customer {customer}: {kind} request {rid} received {received.date().isoformat()} recorded; "
                    "only the permitted notices may be sent from that day.")


@regf_app.command("workplace")
def workplace(
    point: Annotated[int, typer.Option("--contact-point", min=1, help="Contact point id.")],
    employer_forbids: Annotated[bool, typer.Option("--employer-forbids/--employer-allows",
                                                   help="The employer prohibits such communications there.")] = False,
    employer_provided: Annotated[bool, typer.Option("--employer-provided/--not-employer-provided",
                                                    help="The e-mail address was provided by the employer.")] = False,
) -> None:
    """What is known of a contact point at the consumer's place of employment (1006.6(b)(3), 1006.22(f)(3))."""
    from arrears.contact import regf

    try:
        with transaction(write_first(store_engine())) as session:
            regf.set_workplace_flags(session, contact_point_id=point, employer_forbids=employer_forbids,
                                     employer_provided=employer_provided, actor=cli_actor())
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Contact point {point}: employer forbids {employer_forbids}, employer-provided e-mail "
                    f"{employer_provided}.")


@regf_app.command("limitation")
def limitation(
    account: Annotated[int, typer.Option("--account", min=1, help="Account id.")],
    on: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"],
                                         help="The first date on which the debt is time-barred.")],
    basis: Annotated[str, typer.Option("--basis", help="The statute and the date it runs from.")],
) -> None:
    """Set the account's limitation date (1006.26(b): no suit or threat of suit from that date on)."""
    from arrears.contact import regf

    try:
        with transaction(write_first(store_engine())) as session:
            regf.set_limitation_date(session, account_id=account, limitation_date=on.date(), basis=basis,
                                     actor=cli_actor())
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Account {account}: time-barred from {on.date().isoformat()} ({basis}).")


@regf_app.command("notice-delivery")
def notice_delivery(
    account: Annotated[int, typer.Option("--account", min=1, help="Account id.")],
    returned: Annotated[bool, typer.Option("--returned/--delivered",
                                           help="The notice came back undelivered, or was delivered.")] = False,
) -> None:
    """Record that the account's validation notice was delivered or came back undelivered (1006.42)."""
    from arrears.contact import regf

    try:
        with transaction(write_first(store_engine())) as session:
            row = regf.record_notice_delivery(session, account_id=account, delivered=not returned, at=utc_now(),
                                              actor=cli_actor())
            state = row.delivery
    except ArrearsError as exc:
        raise _fail(exc) from exc
    Console().print(f"Account {account}: validation notice {state}.")


@regf_app.command("late-notices")
def late_notices() -> None:
    """Validation notices not sent within five days of the initial communication (or sent late)."""
    from arrears.contact import regf

    with Session(store_engine()) as session:
        rows = regf.late_notices(session, now=utc_now())
    table = Table("account", "first communication (UTC)", "due by", "state")
    for n in rows:
        table.add_row(n.account_ref, n.first_communication_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
                      n.due_on.isoformat(), n.state)
    Console().print(table)
    Console().print(f"{len(rows)} late validation notice(s).")


@regf_app.command("may-report")
def may_report(account: Annotated[int, typer.Option("--account", min=1, help="Account id.")]) -> None:
    """May the account's debt be reported to a credit bureau now (1006.30(a))? Exit 2 when not."""
    from arrears.contact import regf

    try:
        with Session(store_engine()) as session:
            f = regf.may_furnish_account(session, account_id=account, now=utc_now())
    except ArrearsError as exc:
        raise _fail(exc) from exc
    when = f" (allowed from {f.next_allowed_at.isoformat()})" if not f.allowed and f.next_allowed_at else ""
    Console().print(f"Account {account}: {'may' if f.allowed else 'may not'} be reported — {f.reason}{when}; "
                    f"{f.rule_id}, {f.source}.")
    if not f.allowed:
        raise typer.Exit(2)


__all__ = ["regf_app"]
