"""The team lead's and supervisor's dashboards: roles, scope, both languages, CSV = table."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from html.parser import HTMLParser

import pytest

from arrears.web.i18n import LOCALES
from tests.api.conftest import Api
from tests.reports.test_reports import book  # noqa: F401 - the hand-built book of tests/reports
from tests.web.support import sign_in

WINDOW = {"date": "2026-03-02", "from": "2026-03-01", "to": "2026-03-31"}


class _Table(HTMLParser):
    """The body cells (text) of the table with the given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.in_body, self.rows, self.cell = table_id, False, False, [], None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag: str) -> None:
        if self.in_body and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None
        elif tag == "table" and self.inside:
            self.inside = self.in_body = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def table(html: str, table_id: str) -> list[list[str]]:
    parser = _Table(table_id)
    parser.feed(html)
    return parser.rows


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("locale", LOCALES)
def test_the_dashboards_render_for_their_roles_and_are_refused_to_others(api: Api, locale: str) -> None:
    words = {"zh_CN": ("队列状况", 'lang="zh-CN"'), "en": ("Queue health", 'lang="en"')}[locale]
    for who, url in (("lead_east", "/team"), ("supervisor", "/team"), ("supervisor", "/supervisor"),
                     ("admin", "/supervisor")):
        r = sign_in(api, who, lang=locale).get(url, params=WINDOW)
        assert r.status_code == 200, (who, url, r.text[:300])
        assert all(w in r.text for w in words), (who, url)
        assert 'id="dashboard-data"' in r.text and "/static/vendor/echarts.min.js" in r.text
        assert "onclick" not in r.text and "<script>" not in r.text
    for who, url in (("agent_east", "/team"), ("lead_east", "/supervisor"), ("compliance", "/supervisor"),
                     ("auditor", "/team"), ("agent_east", "/team/export/by_bucket.csv")):
        assert sign_in(api, who, lang=locale).get(url).status_code == 403, (who, url)


def test_a_team_lead_sees_only_their_team(api: Api, book: dict[str, int]) -> None:  # noqa: F811
    lead = sign_in(api, "lead_east", lang="en")
    page = lead.get("/team", params=WINDOW).text
    assert "Team east" in page
    # on D2: east has B (M1) and C (M3); the book has B, F in M1, E in M2, C and D in M3
    assert [r[:2] for r in table(page, "t-by_bucket")] == [["M1", "1"], ["M3", "1"]]
    assert [r[0] for r in table(page, "t-queue_health")] == ["east"]
    assert "agent_w" not in page
    everyone = sign_in(api, "supervisor", lang="en").get("/supervisor", params=WINDOW).text
    assert [r[:2] for r in table(everyone, "t-by_bucket")] == [["M1", "2"], ["M2", "1"], ["M3", "2"]]
    assert {"east", "west"} <= {r[0] for r in table(everyone, "t-queue_health")}
    # the promise kept rate: east 1 of 2 judged, the whole book 2 of 3
    assert "50.00 %" in table(page, "t-promise_kept")[0][-1]
    assert table(everyone, "t-promise_kept")[0][-1] == "66.67 %"
    # the lead's CSV is scoped the same way, whatever the query says
    rows = csv_rows(lead.get("/team/export/by_bucket.csv", params={**WINDOW, "team": "west"}).text)
    assert [(r["bucket"], r["accounts"]) for r in rows] == [("M1", "1"), ("M3", "1")]


def test_csv_export_returns_the_rows_of_the_table(api: Api, book: dict[str, int]) -> None:  # noqa: F811
    sup = sign_in(api, "supervisor", lang="en")
    page = sup.get("/supervisor", params=WINDOW).text
    for code in ("by_bucket", "queue_health", "agent_activity", "cure_trend", "rpc_by_hour", "roll_rates",
                 "promise_kept", "experiments"):
        assert f'href="/supervisor/export/{code}.csv?date=2026-03-02&amp;from=2026-03-01&amp;to=2026-03-31"' in page
        r = sup.get(f"/supervisor/export/{code}.csv", params=WINDOW)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), code
        assert "attachment" in r.headers["content-disposition"]
        rows = csv_rows(r.text)
        shown = [row for row in table(page, f"t-{code}") if len(row) > 1]
        assert len(rows) == len(shown), code
    buckets = csv_rows(sup.get("/supervisor/export/by_bucket.csv", params=WINDOW).text)
    shown = table(page, "t-by_bucket")
    assert [(r["bucket"], r["accounts"]) for r in buckets] == [(s[0], s[1]) for s in shown]
    assert [int(r["past_due_fen"]) for r in buckets] == [900, 600, 750]
    assert shown[0][2].endswith("9.00")
    activity = csv_rows(sup.get("/supervisor/export/agent_activity.csv", params=WINDOW).text)
    by_agent = {r["agent"]: r for r in activity}
    assert (by_agent["agent_e"]["calls"], by_agent["agent_e"]["rpc_bp"]) == ("3", "6667")
    assert ["agent_e", "3", "2", "66.67 %", "0", "0"] in table(page, "t-agent_activity")
    roll = csv_rows(sup.get("/supervisor/export/roll_rates.csv", params=WINDOW).text)
    assert [(r["from_bucket"], r["accounts"], r["to_M0"]) for r in roll] == [("M1", "3", "1"), ("M2", "1", "0"),
                                                                               ("M3", "1", "0")]
    hours = csv_rows(sup.get("/supervisor/export/rpc_by_hour.csv", params={**WINDOW, "to": "2026-03-02"}).text)
    assert [(r["weekday"], r["hour"], r["rpc_bp"]) for r in hours] == [("Mon", "9", "10000"), ("Mon", "10", "10000"),
                                                                       ("Mon", "12", "0"), ("Mon", "19", "10000")]
    assert sup.get("/supervisor/export/nothing.csv").status_code == 404


def test_the_chart_data_and_filters(api: Api, book: dict[str, int]) -> None:  # noqa: F811
    sup = sign_in(api, "supervisor")
    page = sup.get("/supervisor", params=WINDOW).text
    data = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S)
    assert data is not None
    chart = json.loads(data.group(1))
    assert chart["bucket"]["buckets"] == ["M1", "M2", "M3"] and chart["bucket"]["past_due"] == ["9.00", "6.00", "7.50"]
    assert chart["promise"] == {"kept": 2, "partly_kept": 0, "broken": 1, "open": 1}
    assert chart["roll"]["cells"][0] == [0, 0, 33.33]
    assert len(chart["rpc"]["weekdays"]) == 7
    for field in ("f-date", "f-from", "f-to"):
        assert f'<label for="{field}">' in page
    assert sup.get("/supervisor", params={"from": "2026-03-05", "to": "2026-03-01"}).status_code == 422
    assert sup.get("/supervisor", params={"date": "not a date"}).status_code == 422


def test_a_supervisor_may_look_at_one_team(api: Api, book: dict[str, int]) -> None:  # noqa: F811
    sup = sign_in(api, "supervisor", lang="en")
    west = sup.get("/supervisor", params={**WINDOW, "team": "west"}).text
    assert "Team west" in west and [r[0] for r in table(west, "t-queue_health")] == ["west"]
    assert 'href="/supervisor/export/by_bucket.csv?date=2026-03-02&amp;from=2026-03-01&amp;to=2026-03-31&amp;team=west"' \
        in west
    rows = csv_rows(sup.get("/supervisor/export/by_bucket.csv", params={**WINDOW, "team": "west"}).text)
    assert [(r["bucket"], r["accounts"]) for r in rows] == [("M2", "1"), ("M3", "1")]
    assert sup.get("/supervisor", params={"team": "nowhere"}).status_code == 422


def test_experiment_arms_are_counted_within_the_scope(api: Api, book: dict[str, int]) -> None:  # noqa: F811
    from datetime import date

    from sqlalchemy import insert, select

    from arrears.accounts.tables import Account
    from arrears.strategy.tables import StrategyAssignment

    with api.engine.begin() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
        for ref, arm in (("B", "champion"), ("C", "challenger"), ("D", "champion"), ("E", "champion")):
            conn.execute(insert(StrategyAssignment).values(
                account_id=ids[ref], strategy="early-gentle", strategy_version=1, segment="m1", since=date(2026, 3, 1),
                experiment="sms-first", arm=arm, updated_on=date(2026, 3, 2), updated_by="cycle"))
    everyone = table(sign_in(api, "supervisor", lang="en").get("/supervisor", params=WINDOW).text, "t-experiments")
    assert everyone == [["early-gentle v1", "sms-first", "challenger", "1"], ["early-gentle v1", "sms-first", "champion", "3"]]
    lead = sign_in(api, "lead_east", lang="en")
    east = table(lead.get("/team", params=WINDOW).text, "t-experiments")
    assert east == [["early-gentle v1", "sms-first", "challenger", "1"], ["early-gentle v1", "sms-first", "champion", "1"]]
    rows = csv_rows(lead.get("/team/export/experiments.csv", params=WINDOW).text)
    assert [(r["arm"], r["accounts"]) for r in rows] == [("challenger", "1"), ("champion", "1")]


def test_the_experiment_readout_on_the_page_and_in_its_csv(api: Api) -> None:
    from tests.reports.test_experiment_readout import build, precompute, small_experiment

    # the hand-worked book without C (treated before the window): the experiment begins on 2-28 (B2),
    # nothing happens on 2-28, so the cycle of 3-31 precomputes the window's figures
    accounts = [a for a in small_experiment() if a.ref != "C"]
    build(api.engine, accounts)
    sup = sign_in(api, "supervisor", lang="en")
    assert "No experiment read-out was computed by a daily cycle on or before" in sup.get("/supervisor",
                                                                                          params=WINDOW).text
    precompute(api.engine, accounts, also=(date(2026, 3, 31),))
    page = sup.get("/supervisor", params=WINDOW).text
    assert "comes from the experiment read-out" not in page
    assert "Experiment read-out as of Mar 31, 2026" in page and "Experiment sms-first, since Feb 28, 2026" in page
    assert "Champion current: the arm with the most accounts" in page
    rows = table(page, "t-experiment_readout-sms-first")
    assert [r[:2] for r in rows] == [["current Champion", "3"], ["sms", "2"]]
    # current: 1 cured of 3 (Wilson 6.1-79.2 %), 1 rolled; 2,510,000 fen / 3; 4 contacts / 3; 1 complaint / 3 per 1,000
    assert rows[0][2] == "33.3 % (6.1 % – 79.2 %)" and rows[0][3].startswith("33.3 %")
    assert rows[0][4].startswith("8,366.67") and rows[0][5].startswith("1.33") and rows[0][6].startswith("333.3")
    assert rows[0][7] == "–"
    assert rows[1][2].startswith("50.0 %") and rows[1][4].startswith("6,207.84")
    assert "Cure rate: +16.7 pp" in rows[1][7] and "no clear difference" in rows[1][7]
    assert 'href="/supervisor/export/experiment_readout.csv?date=2026-03-02&amp;from=2026-03-01&amp;to=2026-03-31"' \
        in page
    r = sup.get("/supervisor/export/experiment_readout.csv", params=WINDOW)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    exported = csv_rows(r.text)
    assert [(e["arm"], e["champion"], e["accounts"], e["cured"], e["rolled"], e["recovered_fen"], e["contacts"],
             e["complaints"]) for e in exported] == [("current", "True", "3", "1", "1", "2510000", "4", "1"),
                                                    ("sms", "False", "2", "1", "1", "1241567", "3", "1")]
    assert (exported[0]["cure_rate"], exported[0]["recovered_per_account_fen"], exported[0]["contacts_per_account"],
            exported[1]["vs_champion_cure_rate"]) == ("0.3333", "836667", "1.33", "0.1667")
    assert {(e["since"], e["as_of"]) for e in exported} == {("2026-02-28", "2026-03-31")}
    assert exported[0]["verdicts"] == "" and "challenger sms: no clear difference in cure rate" in exported[1]["verdicts"]
    assert exported[1]["vs_champion_recovered_per_account_fen"] == "-215883"  # 620,783.5 - 836,666.67 fen, half up
    # the team lead sees their team's accounts only: A1 A2 in current, B1 in sms
    lead = sign_in(api, "lead_east", lang="zh_CN")
    east = lead.get("/team", params=WINDOW).text
    assert [r[:2] for r in table(east, "t-experiment_readout-sms-first")] == [["current 冠军组", "2"], ["sms", "1"]]
    assert "实验结果" in east
    assert [e["accounts"] for e in csv_rows(lead.get("/team/export/experiment_readout.csv", params=WINDOW).text)] == [
        "2", "1"]
    # a window ending before any cycle wrote a read-out; one ending later reads the cycle of 3-31
    empty = sup.get("/supervisor", params={"date": "2026-02-02", "from": "2026-02-01", "to": "2026-02-27"}).text
    assert "No experiment read-out was computed by a daily cycle on or before Feb 27, 2026." in empty
    later = sup.get("/supervisor", params={"date": "2026-05-02", "from": "2026-05-01", "to": "2026-05-31"}).text
    assert "Experiment read-out as of Mar 31, 2026" in later


def _kpis_csv(store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path, *args: str) -> dict[str, list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from arrears.cli import app
    from arrears.config import get_settings

    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["report", "kpis", *args, "--csv-dir", str(tmp_path)], env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return {p.name.rsplit("-", 3)[0]: csv_rows(p.read_text(encoding="utf-8")) for p in tmp_path.glob("*.csv")}


def test_the_default_window_is_the_same_on_the_dashboard_and_on_the_command_line(
        api: Api, book: dict[str, int], store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Without from/to the dashboard shows the 30 days ending on its date, like ``arrears report kpis``
    without --days; without a date both use today's business date."""
    from datetime import UTC, datetime

    from arrears.kit.clock import frozen_at

    sup = sign_in(api, "supervisor", lang="en")
    page = sup.get("/supervisor", params={"date": "2026-03-31"}).text
    assert 'href="/supervisor/export/promise_kept.csv?date=2026-03-31&amp;from=2026-03-02&amp;to=2026-03-31"' in page
    cli = _kpis_csv(store_url, monkeypatch, tmp_path / "a", "--date", "2026-03-31")
    for code in ("cure_trend", "promise_kept", "roll_rates", "rpc_by_hour", "by_bucket"):
        web = csv_rows(sup.get(f"/supervisor/export/{code}.csv", params={"date": "2026-03-31"}).text)
        assert web == cli[code], code
    with frozen_at(datetime(2026, 3, 31, 4, 0, tzinfo=UTC)):  # noon in Shanghai
        today = sup.get("/supervisor").text
        cli_today = _kpis_csv(store_url, monkeypatch, tmp_path / "b")
    assert "date=2026-03-31&amp;from=2026-03-02&amp;to=2026-03-31" in today
    assert cli_today["promise_kept"] == cli["promise_kept"]


def test_an_agents_figures_day_by_day_over_the_window(api: Api, book: dict[str, int]) -> None:  # noqa: F811
    window = {"date": "2026-03-03", "from": "2026-03-01", "to": "2026-03-03"}
    sup = sign_in(api, "supervisor", lang="en")
    page = sup.get("/supervisor", params=window).text
    assert 'href="/supervisor/agents/agent_e?date=2026-03-03&amp;from=2026-03-01&amp;to=2026-03-03"' in page
    agent = sup.get("/supervisor/agents/agent_e", params=window)
    assert agent.status_code == 200
    rows = table(agent.text, "t-agent-days")
    assert [r[:4] for r in rows] == [["Mar 1, 2026", "0", "0", "–"], ["Mar 2, 2026", "3", "2", "66.67 %"],
                                     ["Mar 3, 2026", "0", "0", "–"], ["Total", "3", "2", "66.67 %"]]
    lead = sign_in(api, "lead_east", lang="zh_CN")
    assert lead.get("/team/agents/agent_e", params=window).status_code == 200
    assert lead.get("/team/agents/agent_w", params=window).status_code == 404  # not their team
    assert sup.get("/supervisor/agents/nobody", params=window).status_code == 404
    assert sign_in(api, "agent_east").get("/team/agents/agent_e").status_code == 403
