"""``arrears users ...`` and ``arrears audit ...``: manage users and tokens, check the audit chain."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
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
    team: Annotated[str | None, typer.Option(help="Team code (an existing team); required for agents and team "
                                                  "leads.")] = None,
    new_team: Annotated[bool, typer.Option("--new-team", help="Create the team named by --team if it does not "
                                                              "exist (otherwise an unknown team is refused).")] = False,
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
                               display_name=display_name, actor=cli_actor(), new_team=new_team)
            user_id = user.id
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"User {username} created (id {user_id}, role {role}{f', team {team}' if team else ''}).")


@users_app.command("team")
def add_team(
    code: Annotated[str, typer.Argument(help="Team code: lower-case letters, digits, '.', '_', '-'.")],
    name: Annotated[str | None, typer.Option(help="Name shown in the product.")] = None,
) -> None:
    """Create a team (refused if the code exists)."""
    from arrears.auth.service import create_team

    console = _console()
    try:
        with transaction(store_engine()) as session:
            team_id = create_team(session, code=code, name=name, actor=cli_actor()).id
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"Team {code} created (id {team_id}).")


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
    """Walk the audit chain against the audit key and the signed checkpoints.

    Exit 0 when intact, 1 listing each problem by kind (changed, deleted, inserted, truncated, rewound,
    rewritten, reordered, …; docs/security.md). Notes say what could not be checked (e.g. no key).
    """
    from arrears.auth.audit import verify_report

    console = _console()
    try:
        with transaction(store_engine()) as session:
            report = verify_report(session)
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    signed = f"{report.signed:,} signed with the audit key, {report.unsigned:,} without a key"
    cp = report.latest_checkpoint
    anchor = (f"last checkpoint seq {cp.seq} of {cp.at.isoformat()}" if cp else "no checkpoint")
    if report.problems:
        console.print(f"[bold red]Audit chain broken[/]: {len(report.problems)} problem(s) in {report.records:,} "
                      f"records ({signed}; {anchor})", soft_wrap=True)
        for p in report.problems:
            console.print(f"  {p}", soft_wrap=True, markup=False)
    else:
        console.print(f"Audit chain intact: {report.records:,} records ({signed}; {anchor}).", soft_wrap=True)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}", soft_wrap=True)
    if report.problems:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint_audit() -> None:
    """Sign the chain's current end (record count and head hash) and append it to the checkpoint file.

    Run it from cron (e.g. every 15 minutes) with the checkpoint file on append-only storage; the daily
    cycle also writes one when a key is configured. Refuses, exit 1, when the chain since the last
    checkpoint is not intact.
    """
    from arrears.auth.audit import AuditChainBroken, checkpoint_file, write_checkpoint

    console = _console()
    try:
        cp = write_checkpoint(store_engine(), actor=cli_actor())
    except AuditChainBroken as exc:
        console.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        for p in exc.problems:
            console.print(f"  {p}", soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"Checkpoint seq {cp.seq} (hash {cp.hash[:16]}…, key {cp.key_id}) appended to {checkpoint_file()}.",
                  soft_wrap=True)


@audit_app.command("keygen")
def keygen_audit(
    path: Annotated[Path, typer.Argument(help="Key file to create (mode 0600); point ARREARS_AUDIT_KEY_FILE at it.")],
    rotate: Annotated[bool, typer.Option("--rotate", help="Put a new key in front of the file's keys; the old "
                                                          "ones keep verifying what they signed.")] = False,
) -> None:
    """Create an audit key file with a new random key (256 bits), or rotate the key of an existing one."""
    from arrears.auth.audit import write_key_file

    console = _console()
    try:
        kid = write_key_file(path, rotate=rotate)
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"Audit key {kid} {'added in front of' if rotate else 'written to'} {path}. Keep a copy off the "
                  "database server; set ARREARS_AUDIT_KEY_FILE to this file.", soft_wrap=True)
