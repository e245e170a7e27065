"""``arrears queue``: teams, assignment rules, agents' skills and capacity; assigning cases to teams."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from arrears.auth.commands import _fail
from arrears.auth.tables import Team, User
from arrears.cases.model import OPEN_STATES
from arrears.cases.queue import assign_cases, team_skills
from arrears.cases.queue_rules import apply_queue_rules, describe, load_queue_rules
from arrears.cases.tables import Case
from arrears.kit.cli import cli_actor, store_engine
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError

queue_app = typer.Typer(help="Teams, assignment rules, skills and capacity; assigning cases to teams.",
                        no_args_is_help=True)


@queue_app.command("rules")
def load_rules(
    file: Annotated[Path, typer.Argument(help="The queue rules file (YAML; see docs/process.md).")],
    assign: Annotated[bool, typer.Option(help="Assign unassigned open cases to teams afterwards.")] = True,
) -> None:
    """Load teams, their assignment rules and agents' skills and capacity, all or nothing."""
    console = Console()
    try:
        rules = load_queue_rules(file)
        with transaction(store_engine()) as session:
            summary = apply_queue_rules(session, rules, actor=cli_actor())
            assigned = assign_cases(session) if assign else {}
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"{summary['teams']} team(s) with {summary['team_skills']} rule(s), {summary['agents']} agent(s) "
                  f"loaded from {file}.")
    if assign:
        console.print(f"{sum(assigned.values()):,} case(s) assigned to teams.")


@queue_app.command("assign")
def assign() -> None:
    """Give every open case without a team to the first team whose rule matches it."""
    console = Console()
    try:
        with transaction(store_engine()) as session:
            assigned = assign_cases(session)
    except ArrearsError as exc:
        raise _fail(console, exc) from None
    console.print(f"{sum(assigned.values()):,} case(s) assigned to teams.")


@queue_app.command("show")
def show() -> None:
    """Teams with their rules, agents and open cases; open cases no team's rule matches."""
    console = Console()
    with transaction(store_engine()) as session:
        rules = team_skills(session)
        teams = session.execute(select(Team.id, Team.code, Team.name).order_by(Team.code)).all()
        agents = dict(session.execute(select(User.team_id, func.count()).where(User.active.is_(True))
                                      .group_by(User.team_id)).all())
        cases = dict(session.execute(select(Case.team_id, func.count()).where(Case.status.in_(OPEN_STATES))
                                     .group_by(Case.team_id)).all())
    table = Table("team", "name", "rules (priority order)", "active users", "open cases")
    for team_id, code, name in teams:
        mine = [describe(skill) for t, skill in rules if t == team_id]
        table.add_row(code, name, "\n".join(mine) or "-", f"{agents.get(team_id, 0):,}", f"{cases.get(team_id, 0):,}")
    console.print(table)
    console.print(f"open cases without a team: {cases.get(None, 0):,}")
