# ruff: noqa: F811 - the api fixture is imported by name
"""The self-service funnel against a hand-built store (SQLite and PostgreSQL): the figures, the
scope of each role through the API, the dashboards and the command line; and a property: sent ≥
opened ≥ verified ≥ acted in every slice, and the slices add up to the total."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert, select, update
from typer.testing import CliRunner

from arrears.accounts.tables import Account
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.portal.service import issue_link, portal_key, record_self_service
from arrears.portal.tables import PortalLink
from arrears.reports.portal_funnel import ACTED_KINDS, LinkFacts, funnel_of, funnel_rows
from arrears.strategy.tables import StrategyDecision
from tests.api.conftest import Api, api  # noqa: F401
from tests.strategy.support import _run, _snapshot
from tests.web.support import sign_in

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = date(2026, 3, 10)
KINDS = [k for k, _ in ACTED_KINDS]


def _at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def _issue(api: Api, ref: str, actor: str, moment: datetime) -> int:
    settings = api.client.app.state.settings
    with frozen_at(moment), transaction(api.engine) as s:
        return issue_link(s, account_ref=ref, key=portal_key(settings), settings=settings, actor=actor).link.id


@pytest.fixture
def book(api: Api, tmp_path: Path) -> dict[str, int]:
    """Links of the window D-2 … D: L1 east (agent, early-gentle that day, opened), L2 east (sent by
    early-prompt, verified, paid and changed preferences), L3 west (agent, no strategy, not opened);
    L4 west before the window and L5 east after it. East is in M2, west has no snapshot (M0)."""
    api.client.app.state.settings.data_dir = tmp_path
    with api.engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        run = _run(conn, D - timedelta(days=5))
        _snapshot(conn, ids["ACC-EAST"], D - timedelta(days=5), dpd=40, bucket="M2", cycles=2, past_due=90_000,
                  run_id=run)
        conn.execute(insert(StrategyDecision).values(
            business_date=D - timedelta(days=3), account_id=ids["ACC-EAST"], case_id=api.east_case,
            strategy="early-gentle", strategy_version=1, segment="early_m2", segment_since=D - timedelta(days=3),
            days_in_segment=0, actions=[], created_by="cycle", created_at=_at(D, 1)))
    links = {
        "L4": _issue(api, "ACC-WEST", "agent_west", _at(D - timedelta(days=5), 10)),
        "L1": _issue(api, "ACC-EAST", "agent_east", _at(D - timedelta(days=2), 10)),
        "L3": _issue(api, "ACC-WEST", "agent_west", _at(D - timedelta(days=1), 23)),
        "L2": _issue(api, "ACC-EAST", "strategy:early-prompt/early_m2/5", _at(D, 0)),
        "L5": _issue(api, "ACC-EAST", "agent_east", _at(D + timedelta(days=1), 0)),
    }
    with transaction(api.engine) as s:
        s.execute(update(PortalLink).where(PortalLink.id == links["L1"]).values(first_opened_at=_at(D, 9)))
        s.execute(update(PortalLink).where(PortalLink.id.in_([links["L2"], links["L4"]]))
                  .values(first_opened_at=_at(D, 9), verified_at=_at(D, 9)))
    for link_key, outcome, action in (("L2", "payment_made", "payment"), ("L2", "preferences_changed", "preferences"),
                                      ("L4", "payment_made", "payment")):
        with frozen_at(_at(D, 10)), transaction(api.engine) as s:
            link = s.get_one(PortalLink, links[link_key])
            record_self_service(s, link=link, outcome=outcome, action=action, detail={})
    return links


def _row(rows: list[dict], dimension: str, value: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in rows if r["dimension"] == dimension and r["slice"] == value)


def test_the_funnel_counts_the_links_of_the_window(api: Api, book: dict[str, int]) -> None:
    with transaction(api.engine) as s:
        rows = funnel_rows(s, from_date=D - timedelta(days=2), to_date=D)
    total = _row(rows, "all", "all")
    assert (total["sent"], total["opened"], total["verified"], total["acted"]) == (3, 2, 1, 1)
    assert (total["opened_bp"], total["verified_bp"], total["acted_bp"], total["acted_of_sent_bp"]) == (
        6667, 5000, 10000, 3333)
    assert {k: total[k] for k in KINDS} == {"paid": 1, "plan": 0, "promise": 0, "callback": 0, "told_us": 0,
                                            "preferences": 1}
    assert [(r["dimension"], r["slice"], r["sent"], r["opened"], r["verified"], r["acted"]) for r in rows[1:]] == [
        ("bucket", "M0", 1, 0, 0, 0), ("bucket", "M2", 2, 2, 1, 1),
        ("strategy", "early-gentle", 1, 1, 0, 0), ("strategy", "early-prompt", 1, 1, 1, 1),
        ("strategy", "none", 1, 0, 0, 0)]
    assert _row(rows, "strategy", "early-prompt")["paid"] == 1
    assert _row(rows, "bucket", "M0")["opened_bp"] == 0 and _row(rows, "bucket", "M0")["verified_bp"] is None
    # one day: L2 only; a window without links: nothing
    with transaction(api.engine) as s:
        assert [r["sent"] for r in funnel_rows(s, from_date=D, to_date=D)] == [1, 1, 1]
        assert funnel_rows(s, from_date=D - timedelta(days=30), to_date=D - timedelta(days=20)) == [
            {**_row(rows, "all", "all"), "sent": 0, "opened": 0, "verified": 0, "acted": 0, "opened_bp": None,
             "verified_bp": None, "acted_bp": None, "acted_of_sent_bp": None, **dict.fromkeys(KINDS, 0)}]


def test_the_api_is_scoped_by_role(api: Api, book: dict[str, int]) -> None:
    window = f"from={(D - timedelta(days=2)).isoformat()}&to={D.isoformat()}"
    whole = api.get("supervisor", f"/reports/portal-funnel?{window}")
    assert whole.status_code == 200
    body = whole.json()
    assert body["total"]["sent"] == 3 and body["team"] is None
    assert body["total"]["rates_bp"] == {"opened_of_sent": 6667, "verified_of_opened": 5000,
                                         "acted_of_verified": 10000, "acted_of_sent": 3333}
    assert body["total"]["acted_by_kind"]["paid"] == 1
    assert [(b["bucket"], b["sent"]) for b in body["by_bucket"]] == [("M0", 1), ("M2", 2)]
    assert [(b["strategy"], b["acted"]) for b in body["by_strategy"]] == [
        ("early-gentle", 0), ("early-prompt", 1), ("none", 0)]
    lead = api.get("lead_east", f"/reports/portal-funnel?{window}&team=west").json()  # a lead sees their own team
    assert (lead["team"], lead["total"]["sent"], lead["total"]["acted"]) == ("east", 2, 1)
    west = api.get("supervisor", f"/reports/portal-funnel?{window}&team=west").json()
    assert (west["team"], west["total"]["sent"], west["total"]["opened"]) == ("west", 1, 0)
    for who in ("agent_east", "compliance", "auditor"):
        assert api.get(who, f"/reports/portal-funnel?{window}").status_code == 403
    assert api.client.get(f"/reports/portal-funnel?{window}").status_code == 401
    assert api.get("supervisor", "/reports/portal-funnel?from=2026-03-10&to=2026-03-01").status_code == 422
    assert api.get("supervisor", "/reports/portal-funnel?from=10.3.2026").status_code == 422
    assert api.get("supervisor", f"/reports/portal-funnel?{window}&team=nowhere").status_code == 422


def test_the_dashboards_show_the_funnel_and_export_it(api: Api, book: dict[str, int]) -> None:
    window = f"from={(D - timedelta(days=2)).isoformat()}&to={D.isoformat()}&date={D.isoformat()}"
    lead = sign_in(api, "lead_east", lang="en")
    page = lead.get(f"/team?{window}")
    assert page.status_code == 200
    assert 'id="portal-funnel"' in page.text
    assert "Personal links sent: 2. Opened: 2 (100.00 %). Identity proved: 1 (50.00 %" in page.text
    assert "Strategy early-prompt" in page.text and "Bucket M2" in page.text
    csv = lead.get(f"/team/export/portal_funnel.csv?{window}")
    assert csv.status_code == 200
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("dimension,slice,sent,opened,verified,acted")
    assert lines[1].startswith("all,all,2,2,1,1,")
    boss = sign_in(api, "supervisor", lang="zh_CN").get(f"/supervisor?{window}")
    assert boss.status_code == 200 and 'id="t-portal_funnel"' in boss.text


def test_the_command_line_prints_and_writes_the_funnel(api: Api, book: dict[str, int], monkeypatch,  # noqa: ANN001
                                                        tmp_path: Path) -> None:
    from arrears.cli import app
    from arrears.config import get_settings
    from arrears.reports import commands

    monkeypatch.setattr(commands.console, "width", 220)  # a wide terminal: the table is not cut
    monkeypatch.setenv("ARREARS_DATABASE_URL", api.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    out = tmp_path / "funnel.csv"
    try:
        r = CliRunner().invoke(app, ["report", "portal-funnel", "--from", (D - timedelta(days=2)).isoformat(),
                                     "--to", D.isoformat(), "--team", "east", "--csv", str(out)])
    finally:
        get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    assert "portal funnel (east" in r.output and "early-prompt" in r.output
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("all,all,2,2,1,1,")
    bad = CliRunner().invoke(app, ["report", "portal-funnel", "--from", "2026-03-10", "--to", "2026-03-01"])
    assert bad.exit_code != 0


# -- the property --------------------------------------------------------------------------------------

_links = st.lists(st.builds(
    LinkFacts, bucket=st.sampled_from(["M0", "M1", "M2", "M3"]), strategy=st.sampled_from(["a", "b", "none"]),
    opened=st.booleans(), verified=st.booleans(), acted=st.booleans(),
    kinds=st.frozensets(st.sampled_from(KINDS), max_size=3)), max_size=60)


@given(_links)
def test_every_slice_narrows_stage_by_stage_and_the_slices_add_up(links: list[LinkFacts]) -> None:
    rows = funnel_of(links).rows(["M0", "M1", "M2", "M3"])
    total = rows[0]
    assert total["sent"] == len(links)
    for r in rows:
        assert r["sent"] >= r["opened"] >= r["verified"] >= r["acted"] >= 0
        assert all(0 <= r[k] <= r["acted"] for k in KINDS)
        assert all(r[c] is None or 0 <= r[c] <= 10_000 for c in ("opened_bp", "verified_bp", "acted_bp",
                                                                     "acted_of_sent_bp"))
    for dimension in ("bucket", "strategy"):
        slices = [r for r in rows if r["dimension"] == dimension]
        for column in ("sent", "opened", "verified", "acted", *KINDS):
            assert sum(r[column] for r in slices) == total[column]


_WINDOWS = itertools.count()
_spec = st.tuples(st.integers(0, 1), st.integers(0, 2), st.booleans(), st.booleans(), st.booleans(),
                  st.frozensets(st.sampled_from(ACTED_KINDS), max_size=3))


@pytest.fixture
def two_accounts(engine: Engine) -> tuple[Engine, list[int]]:
    from tests.cases.support import new_case

    new_case(engine, "ACC-P1")
    new_case(engine, "ACC-P2")
    with engine.connect() as conn:
        ids = list(conn.execute(select(Account.id).order_by(Account.id)).scalars())
    return engine, ids


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_spec, max_size=12))
def test_the_stored_funnel_narrows_stage_by_stage_and_its_slices_add_up(
        two_accounts: tuple[Engine, list[int]], specs: list) -> None:  # type: ignore[type-arg]
    """Links written straight into the store (each example in a window of its own), read back."""
    from arrears.auth.service import record

    engine, ids = two_accounts
    base = date(2024, 1, 1) + timedelta(days=10 * next(_WINDOWS))  # before now: the actions are recorded now
    with transaction(engine) as s:
        for n, (who, offset, opened, verified, acted, kinds) in enumerate(specs):
            at = _at(base + timedelta(days=offset), 12)
            link = PortalLink(account_id=ids[who], nonce=f"{n:032x}", channel="sms", created_at=at,
                              created_by="strategy:s1/seg/1" if n % 2 else "agent_east", expires_at=at + timedelta(days=14),
                              failures=0, first_opened_at=at if opened else None, verified_at=at if verified else None,
                              acted_at=at if acted else None)
            s.add(link)
            s.flush()
            for _, action in sorted(kinds):
                record(s, actor="cardholder", action=action, entity="account", entity_id=str(ids[who]),
                       detail={"link_id": link.id})
    with transaction(engine) as s:
        rows = funnel_rows(s, from_date=base, to_date=base + timedelta(days=2))
    total = rows[0]
    assert total["sent"] == len(specs)
    assert total["opened"] == sum(1 for _, _, o, v, a, k in specs if o or v or a or k)
    for kind, action in ACTED_KINDS:
        assert total[kind] == sum(1 for *_, k in specs if (kind, action) in k)
    for r in rows:
        assert r["sent"] >= r["opened"] >= r["verified"] >= r["acted"] >= max(r[k] for k in KINDS)
    for dimension in ("bucket", "strategy"):
        slices = [r for r in rows if r["dimension"] == dimension]
        for column in ("sent", "opened", "verified", "acted", *KINDS):
            assert sum(r[column] for r in slices) == total[column]
    assert {r["slice"] for r in rows if r["dimension"] == "strategy"} <= {"s1", "none"}
