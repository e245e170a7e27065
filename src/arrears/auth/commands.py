"""``arrears users ...`` and ``arrears audit ...``: manage users and tokens, check the audit chain."""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console

from arrears.auth.model import ROLES
from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError

users_app = typer.Typer(help="Users, roles, teams and API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


def _console() -> Console:
    return Console()


def _fail(console: Console, exc: ArrearsError) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
    return typer.Exit(1)


@users_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    team: Annotated[str | None, typer.Option(help="Team code (created if new); required for agents and team leads.")] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the product.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Create a user. The password is prompted for (twice) unless --password-stdin is given."""
    from arrears.auth.service import create_user

    console = _console()
    if role not in ROLES:
        console.print(f"[red]error:[/red] unknown role {role!r}; roles are {', '.join(ROLES)}")
        raise typer.Exit(1)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with transaction(store_engine()) as session:
            user = create_user(session, username=username, password=password, role=role, team=team,
                               display_name=display_name, actor=cli_actor())
            user_id = user.id
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"User {username} created (id {user_id}, role {role}{f', team {team}' if team else ''}).")


@users_app.command("token")
def new_token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    days: Annotated[int, typer.Option(min=1, max=3650, help="Lifetime in days.")] = 90,
    label: Annotated[str | None, typer.Option(help="What the token is for.")] = None,
) -> None:
    """Issue an API bearer token. It is printed once and only its hash is stored."""
    from arrears.auth.service import get_user, issue_token

    console = _console()
    try:
        with transaction(store_engine()) as session:
            issued = issue_token(session, user=get_user(session, username), kind="api", ttl=timedelta(days=days),
                                 label=label, actor=cli_actor())
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"Token for {username} (id {issued.token_id}, expires {issued.expires_at.isoformat()}):",
                  soft_wrap=True)
    # The bare token on its own line, so scripts can take the last line.
    typer.echo(issued.token)


@audit_app.command("verify")
def verify_audit() -> None:
    """Walk the audit chain. Exit 1 and list the problems when a record was changed, inserted or deleted."""
    from sqlalchemy import func, select

    from arrears.auth.service import verify
    from arrears.auth.tables import AuditRecord

    console = _console()
    with transaction(store_engine()) as session:
        problems = verify(session)
        count = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
    if problems:
        console.print(f"[bold red]Audit chain broken[/]: {len(problems)} problem(s) in {count:,} records", soft_wrap=True)
        for p in problems:
            console.print(f"  {p}", soft_wrap=True, markup=False)
        raise typer.Exit(1)
    console.print(f"Audit chain intact: {count:,} records.")
