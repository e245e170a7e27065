"""Teams, assignment rules, skills and capacity from a YAML file (`arrears queue rules`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update
from typer.testing import CliRunner

from arrears.auth.service import get_or_create_team, hash_password
from arrears.auth.tables import AuditRecord, Team, User
from arrears.cases.queue import Skill, user_skills
from arrears.cases.queue_rules import load_queue_rules
from arrears.cases.tables import Case, WorkSkill
from arrears.cli import app
from arrears.config import get_settings
from arrears.kit.db import transaction
from arrears.kit.errors import ConfigError
from tests.cases.support import new_case
from tests.factories import LedgerLoad, load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "queue.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "queue.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_file_loads() -> None:
    rules = load_queue_rules(EXAMPLE)
    assert [t.code for t in rules.teams] == ["early", "late", "english"]
    assert rules.teams[1].skills == (Skill("M3", "M7+", None, None, 20),)
    assert rules.teams[2].skills[0].languages == ("en",)
    assert [(a.username, a.capacity) for a in rules.agents] == [("li.na", 2), ("wang.wei", 1)]
    assert rules.agents[0].skills is None and rules.agents[1].skills == (Skill("M2", "M2"),)


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("teams:\n  - code: early\n    skills:\n      - {buckets: M9}\n", 4, "teams[0].skills[0].buckets", "unknown bucket"),
    ("teams:\n  - code: early\n    skills:\n      - {buckets: M3-M1}\n", 4, "teams[0].skills[0].buckets", "inverted"),
    ("teams:\n  - code: a\n  - code: a\n", 3, "teams[1].code", "already defined on line 2"),
    ("teams:\n  - code: Early Team\n", 2, "teams[0].code", "lower-case"),
    ("teams:\n  - code: a\n    colour: red\n", 3, "teams[0].colour", "unknown key"),
    ("agents:\n  - username: x\n    capacity: 0\n", 3, "agents[0].capacity", ">= 1"),
    ("agents:\n  - username: x\n    capacity: '2'\n", 3, "agents[0].capacity", "whole number"),
    ("agents:\n  - capacity: 2\n", 2, "agents[0].username", "needs a username"),
    ("teams:\n  - code: a\n    skills:\n      - {languages: [en]}\n", 4, "teams[0].skills[0].buckets", "needs buckets"),
    ("teams:\n  - code: a\n    skills:\n      - {buckets: M1, products: []}\n", 4, "teams[0].skills[0].products",
     "non-empty list"),
])
def test_a_wrong_file_is_refused_naming_the_line_and_field(tmp_path: Path, text: str, line: int, field: str,
                                                           words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_queue_rules(path)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), line, field)
    assert words in str(err.value)


@pytest.fixture
def cli_store(store_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _agents(engine: Engine) -> None:
    with transaction(engine) as s:
        early = get_or_create_team(s, code="early", actor="test")
        for name in ("li.na", "wang.wei"):
            s.add(User(username=name, password_hash=hash_password("x" * 12), role="agent", team_id=early.id,
                       active=True))


def test_rules_are_applied_and_cases_assigned_by_the_command(engine: Engine, cli_store: None) -> None:
    _agents(engine)
    cases = {bucket: new_case(engine, f"ACC-{bucket}") for bucket in ("M1", "M2", "M4")}
    with engine.begin() as conn:
        for bucket, case_id in cases.items():
            conn.execute(update(Case).where(Case.id == case_id).values(bucket=bucket))

    result = CliRunner().invoke(app, ["queue", "rules", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    assert "3 team(s) with 3 rule(s), 2 agent(s)" in result.output
    assert "3 case(s) assigned to teams." in result.output

    with transaction(engine) as s:
        teams = dict(s.execute(select(Team.id, Team.code)).all())
        assigned = {b: teams[s.get(Case, cid).team_id] for b, cid in cases.items()}
        assert assigned == {"M1": "early", "M2": "early", "M4": "late"}
        li, wang = (s.scalars(select(User).where(User.username == n)).one() for n in ("li.na", "wang.wei"))
        assert (li.capacity, wang.capacity) == (2, 1)
        assert user_skills(s, user=wang) == [Skill("M2", "M2")]
        assert user_skills(s, user=li) == []
        assert s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "queue.rules")) == 1

    shown = CliRunner().invoke(app, ["queue", "show"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Early arrears (M1-M2)" in shown.output and "open cases without a team: 0" in shown.output


def test_an_unknown_user_refuses_the_whole_file(engine: Engine, cli_store: None, tmp_path: Path) -> None:
    path = write(tmp_path, "teams:\n  - code: new\n    skills:\n      - {buckets: M1}\n"
                           "agents:\n  - username: nobody\n    capacity: 3\n")
    result = CliRunner().invoke(app, ["queue", "rules", str(path)])
    assert result.exit_code == 1
    assert "no active user 'nobody'" in result.output and "line 6" in result.output
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Team)) == 0
        assert s.scalar(select(func.count()).select_from(WorkSkill)) == 0


def test_the_daily_cycle_command_gives_new_cases_to_teams(engine: Engine, cli_store: None) -> None:
    _agents(engine)
    assert CliRunner().invoke(app, ["queue", "rules", str(EXAMPLE)]).exit_code == 0
    load(engine, LedgerLoad(accounts=["A1"], statements=[("A1", date(2026, 1, 5), date(2026, 1, 25), 50_000, 0)]))
    result = CliRunner().invoke(app, ["cycle", "--date", "2026-02-10"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Cases given to teams: 1" in result.output
    with transaction(engine) as s:
        case = s.scalars(select(Case)).one()
        assert (case.bucket, s.get(Team, case.team_id).code) == ("M1", "early")
