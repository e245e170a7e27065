"""The case page's outcome form records the contact as it happened: who answered agrees with the
outcome (no silent default to the cardholder), and the direction, channel and time are the agent's;
an inbound call is not held to the outbound attempts limit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from arrears.cases.tables import Interaction
from arrears.kit.clock import frozen_at, utc_now
from tests.api.conftest import Api
from tests.reports.test_contact_truth_kpis import old_rows  # noqa: F401 - the book with old unanswered calls
from tests.reports.test_reports import book  # noqa: F401 - the hand-built book of tests/reports
from tests.web.support import page_csrf, sign_in

#: Monday 2 February 2026, 15:00 in Shanghai.
AFTERNOON = datetime(2026, 2, 2, 7, 0, tzinfo=UTC)
HX = {"HX-Request": "true"}


def _post(api: Api, data: dict[str, str]):  # type: ignore[no-untyped-def]
    client = sign_in(api, "agent_east")
    token = page_csrf(client, f"/case/{api.east_case}")
    return client.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token},
                       data={"recording_ref": "REC-1", "next_step": "none", **data})


def _field_error(r) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The field the answer marks and the message shown next to it (HX-Trigger)."""
    return next(iter(json.loads(r.headers["HX-Trigger"]).values()))


def _rows(api: Api) -> list[tuple]:  # type: ignore[type-arg]
    with api.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(Interaction.channel, Interaction.direction, Interaction.party, Interaction.outcome,
                   Interaction.started_at).order_by(Interaction.id))]


def test_the_form_does_not_preselect_the_cardholder(api: Api) -> None:
    with frozen_at(AFTERNOON):
        page = sign_in(api, "agent_east").get(f"/case/{api.east_case}/script/next", headers=HX).text
    party = re.search(r'<select id="out-party" name="party"[^>]*>(.*?)</select>', page, re.S)
    assert party is not None
    first = re.search(r'<option value="([^"]*)"', party.group(1))
    assert first is not None and first.group(1) == ""  # nothing chosen: the outcome decides, or the agent
    assert "selected" not in party.group(1)
    for name in ("direction", "channel", "contact_date", "contact_time"):
        assert f'name="{name}"' in page, name


def test_an_unanswered_call_with_the_cardholder_is_refused_naming_the_party(api: Api) -> None:
    with frozen_at(AFTERNOON):
        r = _post(api, {"outcome": "no_answer", "party": "debtor"})
    assert r.status_code == 422 and 'role="alert"' in r.text and 'data-field="party"' in r.text
    error = _field_error(r)
    assert error["field"] == "party" and error["message"] == "“无人接听”与接听人（持卡人）不符：请选择无人接听"
    assert _rows(api) == []


def test_a_right_party_outcome_with_nobody_is_refused(api: Api) -> None:
    with frozen_at(AFTERNOON):
        r = _post(api, {"outcome": "promise_to_pay", "party": "nobody"})
    assert r.status_code == 422 and _rows(api) == []


def test_who_answered_follows_from_the_outcome_when_left_empty(api: Api) -> None:
    with frozen_at(AFTERNOON):
        assert _post(api, {"outcome": "no_answer"}).status_code == 200
        assert _post(api, {"outcome": "refused"}).status_code == 200
        r = _post(api, {"outcome": "left_message"})  # a message left for whom? the agent says
        assert r.status_code == 422 and _field_error(r) == {"field": "party",
                                                            "message": "请选择接听人：该联系结果无法确定接听人"}
    assert [(p, o) for _, _, p, o, _ in _rows(api)] == [("nobody", "no_answer"), ("debtor", "refused")]


def test_direction_channel_and_time_are_recorded_as_they_happened(api: Api) -> None:
    with frozen_at(AFTERNOON):
        r = _post(api, {"outcome": "right_party_contact", "direction": "inbound", "channel": "sms",
                        "contact_date": "2026-02-02", "contact_time": "09:30", "recording_ref": ""})
        assert r.status_code == 200, r.text
        assert _post(api, {"outcome": "no_answer", "contact_date": "2026-02-02", "contact_time": "15:30"}
                     ).status_code == 422  # half an hour ahead of the clock
        assert _post(api, {"outcome": "no_answer", "recording_ref": ""}).status_code == 422  # an outbound call
        no_time = _post(api, {"outcome": "no_answer", "contact_date": "2026-02-01"})
        assert no_time.status_code == 422 and _field_error(no_time)["field"] == "contact_time"
    assert _rows(api) == [("sms", "inbound", "debtor", "right_party_contact", datetime(2026, 2, 2, 1, 30, tzinfo=UTC))]


def test_an_inbound_call_after_six_outbound_attempts_is_recorded(api: Api) -> None:
    with api.engine.begin() as conn:
        for n in range(6):  # six outbound attempts this morning (Shanghai)
            conn.execute(insert(Interaction).values(
                case_id=api.east_case, channel="call", direction="outbound", party="nobody",
                started_at=AFTERNOON - timedelta(hours=6) + timedelta(minutes=10 * n), outcome="no_answer",
                recording_ref=f"R{n}", agent_id=None, created_at=utc_now()))
    with frozen_at(AFTERNOON):
        blocked = _post(api, {"outcome": "no_answer"})
        assert blocked.status_code == 409  # a seventh outbound call: the attempts limit
        r = _post(api, {"outcome": "promise_to_pay", "direction": "inbound", "next_step": "none"})
        assert r.status_code == 200, r.text
    assert _rows(api)[-1][:4] == ("call", "inbound", "debtor", "promise_to_pay")


def test_the_team_dashboards_contact_rate_ignores_unanswered_calls(
        api: Api, old_rows: dict[str, int]) -> None:  # noqa: F811
    from tests.web.test_dashboards import WINDOW, table

    page = sign_in(api, "lead_east", lang="en").get("/team", params=WINDOW).text
    # agent_e: the book's three calls (two conversations) and three that reached nobody, stored with
    # the cardholder as the party as the old form did
    assert ["agent_e", "6", "2", "33.33 %", "0", "0"] in table(page, "t-agent_activity")
