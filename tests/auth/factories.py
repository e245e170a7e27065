"""Factories: users for the auth tests."""

from __future__ import annotations

from arrears.auth.service import create_user
from arrears.kit.db import transaction

PASSWORD = "correct horse battery"


def add_user(engine, username: str = "li.na", *, role: str = "agent", team: str | None = "T1",
             password: str = PASSWORD) -> int:
    with transaction(engine) as s:
        return create_user(s, username=username, password=password, role=role,
                           team=team if role in ("agent", "team_lead") or team != "T1" else None, actor="test",
                           new_team=True).id
