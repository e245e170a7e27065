"""``arrears users add|token`` and ``arrears audit verify``."""

from __future__ import annotations

import pytest
import typer
from sqlalchemy import select, text
from typer.testing import CliRunner

from arrears.auth.commands import audit_app, users_app
from arrears.auth.service import login, verify_token
from arrears.auth.tables import AuditRecord, User
from arrears.config import get_settings
from arrears.kit.db import transaction


@pytest.fixture
def run(store_url, monkeypatch):
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    get_settings.cache_clear()
    app = typer.Typer()
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    runner = CliRunner()
    yield lambda *args, input=None: runner.invoke(app, list(args), input=input)
    get_settings.cache_clear()


def test_users_add_with_password_on_stdin_then_token(run, engine):
    result = run("users", "add", "li.na", "--role", "agent", "--team", "east", "--password-stdin",
                 input="a long password here\n")
    assert result.exit_code == 1 and "no team 'east'" in result.output  # a team is never created by a typo
    result = run("users", "team", "east", "--name", "East")
    assert result.exit_code == 0 and "Team east created" in result.output
    assert run("users", "team", "east").exit_code == 1
    result = run("users", "add", "li.na", "--role", "agent", "--team", "east", "--password-stdin",
                 input="a long password here\n")
    assert result.exit_code == 0, result.output
    assert "User li.na created" in result.output
    assert login(engine, username="li.na", password="a long password here").role == "agent"
    result = run("users", "token", "li.na", "--days", "30")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with transaction(engine) as s:
        assert verify_token(s, token=token, kind="api").username == "li.na"


def test_users_add_prompts_twice_for_the_password(run, engine):
    result = run("users", "add", "boss", "--role", "supervisor", input="a long password here\na long password here\n")
    assert result.exit_code == 0, result.output
    with transaction(engine) as s:
        assert s.scalars(select(User.role)).all() == ["supervisor"]


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "root"], "unknown role"),
    (["--role", "agent"], "must belong to a team"),
])
def test_users_add_refuses_bad_input_with_exit_1(run, engine, args, message):
    result = run("users", "add", "x", *args, "--password-stdin", input="a long password here\n")
    assert result.exit_code == 1 and message in result.output


def test_token_for_an_unknown_user_exits_1(run):
    result = run("users", "token", "nobody")
    assert result.exit_code == 1 and "no user 'nobody'" in result.output


def test_audit_verify_exits_0_on_an_intact_chain_and_1_naming_the_broken_record(run, engine, drop_triggers):
    run("users", "add", "a", "--role", "admin", "--password-stdin", input="a long password here\n")
    run("users", "add", "b", "--role", "auditor", "--password-stdin", input="a long password here\n")
    result = run("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact: 2 records" in result.output
    with engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 1"))
    result = run("audit", "verify")
    assert result.exit_code == 1
    assert "seq 1: changed" in result.output
    with transaction(engine) as s:
        assert s.scalars(select(AuditRecord.actor).where(AuditRecord.seq == 1)).one() == "mallory"
