"""A running application over a clean migrated store (SQLite and PostgreSQL), with users of every
role, their tokens, and two cases: one worked by team ``east``, one by team ``west``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from arrears.accounts.tables import Account, ContactPoint
from arrears.app import create_app
from arrears.auth.service import get_or_create_team, hash_password, issue_token
from arrears.auth.tables import User
from arrears.cases.tables import Case
from arrears.config import Settings
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from tests.cases.support import new_case

#: One argon2 hash for every test user (hashing is slow on purpose; the tests log in by token).
_HASH = hash_password("correct horse battery")

ROLES = {
    "agent_east": ("agent", "east"),
    "agent_west": ("agent", "west"),
    "lead_east": ("team_lead", "east"),
    "supervisor": ("supervisor", None),
    "compliance": ("compliance", None),
    "admin": ("admin", None),
    "auditor": ("auditor", None),
}

PHONE = "13812345678"
EMAIL = "zhangsan@example.com"
ADDRESS = "广东省深圳市南山区科技园路1号"
NATIONAL_ID = "11010519491231002X"


@dataclass
class Api:
    client: TestClient
    engine: Engine
    tokens: dict[str, str]
    user_ids: dict[str, int]
    east_case: int
    west_case: int
    contact_points: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(url, headers=self.headers(who), **kw)

    def post(self, who: str, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.post(url, headers=self.headers(who), **kw)


def add_users(engine: Engine) -> tuple[dict[str, str], dict[str, int]]:
    tokens, ids = {}, {}
    with transaction(engine) as s:
        for name, (role, team) in ROLES.items():
            team_id = get_or_create_team(s, code=team, actor="test").id if team else None
            user = User(username=name, password_hash=_HASH, role=role, team_id=team_id, active=True)
            s.add(user)
            s.flush()
            ids[name] = user.id
            tokens[name] = issue_token(s, user=user, kind="api", actor="test").token
    return tokens, ids


def assign(engine: Engine, case_id: int, team: str) -> None:
    with transaction(engine) as s:
        team_id = get_or_create_team(s, code=team, actor="test").id
        s.execute(update(Case).where(Case.id == case_id).values(team_id=team_id))


def add_contact_points(engine: Engine, case_id: int) -> dict[str, int]:
    out = {}
    with transaction(engine) as s:
        customer_id = s.execute(select(Account.customer_id).join(Case, Case.account_id == Account.id)
                                .where(Case.id == case_id)).scalar_one()
        for kind, value in (("phone", PHONE), ("email", EMAIL), ("address", ADDRESS)):
            row = ContactPoint(contact_ref=f"CP-{case_id}-{kind}", customer_id=customer_id, kind=kind, value=value,
                               owner="debtor", relation=None, verified=True, opted_out=False, created_at=utc_now())
            s.add(row)
            s.flush()
            out[kind] = row.id
    return out


@pytest.fixture
def api(store_url: str, engine: Engine) -> Iterator[Api]:
    tokens, ids = add_users(engine)
    east = new_case(engine, "ACC-EAST")
    west = new_case(engine, "ACC-WEST")
    assign(engine, east, "east")
    assign(engine, west, "west")
    points = add_contact_points(engine, east)
    app = create_app(Settings(database_url=store_url))
    with TestClient(app) as client:
        yield Api(client=client, engine=engine, tokens=tokens, user_ids=ids, east_case=east, west_case=west,
                  contact_points=points)
    app.state.engine.dispose()
