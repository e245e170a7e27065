"""Property tests of the whole API against its own OpenAPI document, on SQLite and PostgreSQL.

Every operation is called with generated input and a valid token: no answer may be a 5xx, and
every answer must match the response documented for its status.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy import Engine

from arrears.app import create_app
from arrears.config import Settings
from arrears.dialler.settings import DiallerSettings, Dialling
from arrears.payments.sandbox import ensure_keys
from arrears.payments.wechatpay import WeChatPayConfig, WeChatPayNative
from tests.api.conftest import add_contact_points, add_users, assign
from tests.cases.support import new_case

#: The application whose OpenAPI document drives the tests; each test points it at a fresh store.
#: (The document itself is served to signed-in callers only; the schema is taken from the app.)
APP = create_app(Settings(database_url="sqlite://"))
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP  # calls go to the application in-process, as ``from_asgi`` arranges


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> WeChatPayNative:
    """A configured payment adapter (keys made like the sandbox's; no provider is called): the notify
    URL then judges every generated notification by its signature, as in production."""
    keys = ensure_keys(tmp_path_factory.mktemp("paykeys"))
    return WeChatPayNative(WeChatPayConfig.from_dir(keys, notify_url="http://127.0.0.1:9/payments/notify",
                                                    base_url="http://127.0.0.1:9"))


@pytest.fixture
def admin_token(engine: Engine, provider: WeChatPayNative) -> Iterator[str]:
    """A migrated store (SQLite or PostgreSQL) with users, two cases and contact points, payments and the
    dialler's event secret configured (events are then judged by their signature); the app now uses it."""
    tokens, _ = add_users(engine)
    cases = [new_case(engine, ref) for ref in ("ACC-1", "ACC-2")]
    for case_id, team in zip(cases, ("east", "west")):
        assign(engine, case_id, team)
    add_contact_points(engine, cases[0])
    previous, APP.state.engine = APP.state.engine, engine
    APP.state.payment_provider = provider
    APP.state.dialling = Dialling(None, DiallerSettings(url=None, events_secret="schema-test-secret"))
    if hasattr(APP.state, "payments"):
        del APP.state.payments
    yield tokens["admin"]
    APP.state.engine = previous


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"},
                           checks=[not_a_server_error, response_schema_conformance])
