"""Every form of the web UI, fuzzed: no input a browser can send makes a page answer 5xx.

The routes are read from the application itself (every POST route, and every GET route with path or
query parameters: the filter forms), so a new form is fuzzed as soon as it exists; a field whose
name has no strategy here fails the test until one is added. Each route gets a deterministic sweep
(every field in turn set to each hostile value: NUL and control characters, numbers beyond 64 bits,
unknown codes, dates before year 1…) and then random combinations drawn by hypothesis, each request
sent by a signed-in user of a role that may open the page, with the session's CSRF token.

Runs on SQLite and PostgreSQL (``api`` fixture). ``ARREARS_FUZZ_EXAMPLES`` sets hypothesis's random
examples per route (default 8).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.auth.model import ROLES
from arrears.auth.service import issue_token
from arrears.auth.tables import User
from arrears.cases.model import CAUSES, PARTIES, STATES
from arrears.kit.db import transaction
from arrears.portal.pages import CSRF_COOKIE as PORTAL_CSRF_COOKIE
from arrears.web import PagesMount
from arrears.web.labels import NEXT_STEPS, SCRIPT_STEPS
from arrears.web.security import CSRF_HEADER, LOGIN_CSRF_COOKIE, csrf_token
from tests.api.conftest import Api

EXAMPLES = int(os.environ.get("ARREARS_FUZZ_EXAMPLES", "8"))
BIG = (str(2**63), str(2**64 + 1), str(-(2**63) - 1), "9" * 40)
#: Values no field should fail on with a 5xx: control characters, NUL, 64-bit overflow, odd dates.
HOSTILE = (
    "", "\x00", "a\x00b", "\x01\x1f\x7f", "\u200b", "\u202e", "'; DROP TABLE cases; --", "0", "-1", "1e309", "NaN",
    "0001-01-01", "9999-12-31", "x" * 300, *BIG,
)
#: The login form hashes every password it checks (slow on purpose): a few of the values there.
SLOW_FORMS = {"POST /login": ("\x00", "x" * 300, BIG[1])}
#: A plausible value of each field, so that the sweep's one hostile value reaches past "field required".
BASE = {
    "cause": "job_loss", "monthly_income": "8000", "essential_spending": "3000", "option_code": "full",
    "method": "sms_code", "outcome": "no_answer", "party": "nobody", "next_step": "none", "kind": "phone",
    "username": "fuzzed", "role": "agent", "team": "east", "password": "correct horse battery", "note": "checked",
    "reason": "the customer asked", "file": "early-gentle.yaml", "strategy": "early-gentle",
}

ints = st.one_of(st.integers(min_value=-3, max_value=60), st.integers(min_value=-(2**70), max_value=2**70),
                 st.sampled_from([2**63 - 1, 2**63, 2**64]))
int_text = ints.map(str)
junk = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40), int_text)
dates = st.one_of(st.dates().map(str), st.sampled_from(["", "0", "2026-02-10", "2026-13-01", "1970-01-01"]))
clock = st.one_of(st.times().map(lambda t: t.strftime("%H:%M")), st.sampled_from(["", "25:00", "9", "09:30"]))
amounts = st.one_of(st.decimals(allow_nan=True, allow_infinity=True).map(str), int_text,
                    st.sampled_from(["", "1,000.50", "1e12", "0.001"]))


def one_of(*values: object) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from([str(v) for v in values]), junk)


@dataclass
class World:
    """Ids that exist in the store, so the fuzz reaches past 'not found'."""

    cases: tuple[int, ...]
    users: tuple[int, ...]
    points: tuple[int, ...]


def field_strategies(world: World) -> dict[str, st.SearchStrategy[str]]:
    """A strategy for each form, query or path field of the web UI, by name."""
    some_id = st.one_of(st.sampled_from([str(i) for i in world.cases + world.users + world.points]), int_text,
                        st.sampled_from(HOSTILE))
    text = st.one_of(st.text(max_size=60), junk)
    return {
        # path parameters
        "case_id": st.one_of(st.sampled_from([str(c) for c in world.cases]), some_id),
        "user_id": st.one_of(st.sampled_from([str(u) for u in world.users]), some_id),
        "agreement_id": some_id, "appointment_id": some_id, "review_id": some_id, "contact_point_id": some_id,
        "step": one_of(*(code for code, _ in SCRIPT_STEPS)),
        "code": one_of("by_bucket", "roll_rates", "agents", "promises", "experiments"),
        # the admin's forms
        "username": text, "display_name": text, "password": one_of("correct horse battery", "short"),
        "role": one_of(*ROLES), "team": one_of("east", "west", "north"),
        "team_code": one_of("north", "east", "no th", "A"), "team_name": text, "active": one_of("1", "", "on"),
        "file": one_of("early-gentle.yaml", "late-stage.yaml", "../pyproject.toml", "nope.yaml"),
        "strategy": one_of("early-gentle", "late-stage", "nope"), "validate": one_of("early-gentle.yaml", "x"),
        # the call script
        "kind": one_of("phone", "email", "address", "national_id", "name"),
        "cause": one_of(*CAUSES), "monthly_income": amounts, "essential_spending": amounts,
        "other_debt_payments": amounts, "dependants": int_text, "willingness": int_text, "notes": text,
        "option_code": one_of("full", "minimum", "instalments_12", "settlement"), "reason": text, "note": text,
        "method": one_of("sms_code", "recorded_call", "signed_letter"), "reference": text,
        "outcome": one_of("promise_to_pay", "no_answer", "refused", "wrong_number", "dispute", "blocked", "overridden"),
        "party": one_of(*PARTIES, ""), "recording_ref": text, "next_step": one_of(*NEXT_STEPS),
        "direction": one_of("outbound", "inbound", "sideways"), "contact_date": dates, "contact_time": clock,
        "promise_amount": amounts, "promise_date": dates, "appointment_date": dates, "appointment_from": clock,
        "appointment_to": clock, "to_state": one_of(*STATES), "move_reason": text, "lift_hold_on": dates,
        # the outcome of a call dialled from the case (its id, as the outcome form carries it)
        "call_id": st.one_of(text, one_of("0" * 32, "f" * 32)),
        # filters (GET forms)
        "date": dates, "from": dates, "to": dates, "rule": text, "page": int_text, "actor": text, "action": text,
        "next": one_of("/", "/queue", "//evil.example", "http://evil.example"), "notice": text,
        # the search, POSTed (its "kind" shares the reveal form's strategy: an unknown kind is refused on the field)
        "q": st.one_of(text, one_of("13812345678", "+86 138-1234-5678", "11010519491231002X", "ACC-EAST", "测试客户")),
        # the cardholder's pages
        "token": st.one_of(text, one_of("1.AAAAAAAAAAAAAAAAAAAA", "zzzzzzzzzzzzz.AAAAAAAAAAAAAAAAAAAA", "0.A", "%2e%2e")),
        "id_last4": st.one_of(text, one_of("002X", "002x", "1234")), "birth_date": dates,
        # one-time codes and choosing a plan ("code", "option_code" and the figures are the agents' own)
        "agreement": st.one_of(some_id, text),
        # pay now
        "choice": one_of("past_due", "minimum", "other", "all"), "amount": st.one_of(amounts, text),
        "attempt": text, "order_id": st.one_of(text, one_of("P1x0123456789abcdef", "P999x", "%2e%2e")),
        # promise, call-back, tell us, contact preferences
        "saved": st.one_of(text, one_of("1", "")), "sent": st.one_of(text, one_of("dispute", "hardship", "x")),
        "promised_date": dates, "day": dates, "slot": st.one_of(text, one_of("20261209T1100Z", "20261309T9900Z")), "text": text,
        "window_from": st.one_of(clock, text), "window_to": st.one_of(clock, text),
        "days": st.one_of(text, one_of("0", "6", "7", "-1")),
        "preferred_channel": one_of("call", "sms", "email", "letter", ""), "stop": one_of("call", "sms", "letter", "x"),
        # the case page's personal link: send (by channel), revoke (a link of the account)
        "channel": one_of("sms", "email", "wechat", "", "call", "visit", "letter"), "link_id": some_id,
        # complaints on the clock: the register form, the handler's moves, the list's filters and the report
        "complaint_id": some_id, "account_ref": st.one_of(text, one_of("ACC-EAST", "ACC-WEST", "ACC-NONE")),
        "category": one_of("contact_frequency", "collection_conduct", "other", "nope"), "summary": text,
        "received_on": dates, "received_time": clock, "regulator_ref": text, "handler": some_id,
        "move": one_of("acknowledge", "investigate", "answer", "close", "reopen"),
        "root_cause": one_of("agent_conduct", "no_fault_found", "nope"), "root_cause_text": text, "answer": text,
        "status": one_of("open", "received", "answered", "closed", "nope"), "overdue": one_of("1", "0", ""),
        "escalated": one_of("1", "0", ""), "group": one_of("team", "agency", "strategy", "region"),
        # the register of outside agencies ("code" and "status" are shared with other forms)
        "name": text, "licence": text, "contract_start": st.one_of(dates, text), "contract_end": dates,
        "last_review": st.one_of(dates, one_of("")), "next_review": dates,
        # a field visit's collectors and consent, and an agreed call-back, on the outcome form
        "visit_collectors": st.one_of(int_text, one_of("0", "1", "2", "21", "")), "visit_entered": one_of("1", ""),
        "visit_consent": one_of("1", ""), "appointment_agreed": one_of("1", ""),
        # the agent's confirmation of the debt-collector disclosure on the outcome form (us-reg-f)
        "disclosure_given": st.one_of(text, one_of("1", "")),
    }


#: Fields the fuzz leaves alone: the CSRF token is sent right (its refusal is tested in test_sessions).
UNFUZZED = {"csrf_token"}
LOGIN_CSRF = "fuzz-login-form-token"
#: Who sends a route's requests: roles that may open it (others are refused before any input is read).
SENDERS = ("admin", "agent_east", "lead_east", "supervisor", "compliance")


@dataclass(frozen=True)
class Form:
    method: str
    path: str
    path_fields: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def web_forms(app) -> list[Form]:  # type: ignore[no-untyped-def]
    """The web UI's forms, read from the application's routes."""
    mount = next(r for r in app.router.routes if isinstance(r, PagesMount))
    out = []
    for route in _api_routes(mount.routes):
        dep = route.dependant
        fields = tuple(sorted({(f.alias or f.name) for f in _all(dep, "query_params") + _all(dep, "body_params")}
                              - UNFUZZED))
        path_fields = tuple(f.name for f in _all(dep, "path_params"))
        for method in sorted(route.methods & {"GET", "POST"}):
            if method == "POST" or fields or path_fields:
                out.append(Form(method, route.path, path_fields, fields))
    return out


def _api_routes(routes: list) -> list[APIRoute]:  # type: ignore[type-arg]
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # a router included in the application
            found.extend(_api_routes(route.original_router.routes))
    return found


def _all(dep, attr: str) -> list:  # type: ignore[no-untyped-def]
    found = list(getattr(dep, attr))
    for sub in dep.dependencies:
        found.extend(_all(sub, attr))
    return found


def _clients(api: Api) -> Iterator[tuple[str, TestClient]]:
    with transaction(api.engine) as s:
        tokens = {who: issue_token(s, user=s.get(User, api.user_ids[who]), kind="session", actor="test").token
                  for who in SENDERS}
    for who in SENDERS:
        client = TestClient(api.client.app, follow_redirects=False, raise_server_exceptions=False)
        client.cookies.set("arrears_session", tokens[who])
        client.headers[CSRF_HEADER] = csrf_token(tokens[who])
        client.cookies.set(LOGIN_CSRF_COOKIE, LOGIN_CSRF)  # the login form's double-submit cookie
        client.cookies.set(PORTAL_CSRF_COOKIE, LOGIN_CSRF)  # and the cardholder's pages' one
        yield who, client


def _send(client: TestClient, form: Form, path: dict[str, str], values: dict[str, str]) -> int:
    url = form.path
    for name in form.path_fields:
        url = url.replace("{" + name + "}", quote(path[name], safe="") or "%20")
    if form.method == "GET":
        return client.get(url, params=values).status_code
    return client.post(url, data={"csrf_token": LOGIN_CSRF, **values}).status_code


def _spare_users(api: Api) -> tuple[int, ...]:
    """Users the fuzz may deactivate or unlock without signing out its own senders."""
    with transaction(api.engine) as s:
        users = [User(username=f"spare{i}", password_hash="x", role="agent", active=True) for i in range(2)]
        s.add_all(users)
        s.flush()
        return tuple(u.id for u in users)


def _random_inputs(check, form: Form, senders: list[str], strategies: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(who=st.sampled_from(senders), path=st.fixed_dictionaries({n: strategies[n] for n in form.path_fields}),
           values=st.fixed_dictionaries({}, optional={n: strategies[n] for n in form.fields}))
    def run(who: str, path: dict[str, str], values: dict[str, str]) -> None:
        check(who, form, path, values)

    run()


def test_every_form_answers_below_500_whatever_is_sent(api: Api) -> None:
    # signing out ends the sender's session: that form goes last
    forms = sorted(web_forms(api.client.app), key=lambda f: f.name == "POST /logout")
    assert any(f.name == "POST /admin/users" for f in forms) and any(f.name == "GET /team" for f in forms)
    assert any(f.name == "POST /search" and "q" in f.fields for f in forms)
    world = World(cases=(api.east_case, api.west_case), users=_spare_users(api),
                  points=tuple(api.contact_points.values()))
    strategies = field_strategies(world)
    missing = sorted({(f.name, n) for f in forms for n in f.path_fields + f.fields if n not in strategies})
    assert not missing, f"no fuzz strategy for these fields (add one to field_strategies): {missing}"
    clients = dict(_clients(api))
    failures: list[tuple[str, str, dict[str, str], dict[str, str], int]] = []

    def check(who: str, form: Form, path: dict[str, str], values: dict[str, str]) -> None:
        status = _send(clients[who], form, path, values)
        if status >= 500:
            failures.append((who, form.name, path, values, status))

    for form in forms:
        base_path = {n: str(world.cases[0]) if n == "case_id" else "1" for n in form.path_fields}
        senders = [w for w in SENDERS if _send(clients[w], form, base_path, {}) not in (401, 403)] or ["admin"]
        base = {n: BASE[n] for n in form.fields if n in BASE}
        # the sweep: each field in turn, every hostile value, the rest left out
        for name in form.path_fields + form.fields:
            for value in SLOW_FORMS.get(form.name, HOSTILE):
                who = senders[len(failures) % len(senders)]
                if name in form.path_fields:
                    check(who, form, {**base_path, name: value}, base)
                else:
                    check(who, form, base_path, {**base, name: value})

        _random_inputs(check, form, senders, strategies)
    assert not failures, f"{len(failures)} requests answered 5xx, the first ones: {failures[:15]}"
