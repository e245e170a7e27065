"""Property tests of the whole API against its own OpenAPI document (SQLite store).

Every operation is called with generated input and a valid token: no answer may be a 5xx, and
every answer must match the response documented for its status.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from arrears.app import create_app
from arrears.config import Settings
from arrears.kit.db import make_engine
from tests.api.conftest import add_contact_points, add_users, assign
from tests.cases.support import new_case

#: The application whose OpenAPI document drives the tests; each test points it at a fresh store.
APP = create_app(Settings(database_url="sqlite://"))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture
def admin_token(sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite store with users, two cases and contact points; the app now uses it."""
    path = tmp_path / "store.sqlite"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    tokens, _ = add_users(engine)
    for ref, team in (("ACC-1", "east"), ("ACC-2", "west")):
        assign(engine, new_case(engine, ref), team)
    add_contact_points(engine, 1)
    previous, APP.state.engine = APP.state.engine, engine
    yield tokens["admin"]
    APP.state.engine = previous
    engine.dispose()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"},
                           checks=[not_a_server_error, response_schema_conformance])
