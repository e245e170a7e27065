"""Dial from the case: the compliance gate is asked before dialling; allowed, the dialler (the local
simulator, over real HTTP) originates the call and posts its signed events back; the outcome form takes
the call's recording reference; a dialled call counts once as an attempt; no dialler: a ``tel:`` link,
behind the same gate."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Interaction
from arrears.contact.tables import ContactDecision
from arrears.dialler.simulate import DiallerSimulator
from arrears.dialler.tables import DiallerCall
from arrears.kit.clock import frozen_at
from tests.api.conftest import PHONE, Api
from tests.dialler.support import live_fixture, no_dialler, simulator_fixture  # noqa: F401 - `live`, `simulator`
from tests.web.support import page_csrf, sign_in

#: Monday 2 February 2026, 15:00 in Shanghai (the customer's zone): calls are allowed.
AFTERNOON = datetime(2026, 2, 2, 7, 0, tzinfo=UTC)
#: The same day at 22:30 in Shanghai: quiet hours.
LATE = datetime(2026, 2, 2, 14, 30, tzinfo=UTC)
HX = {"HX-Request": "true"}


def _dial(api: Api, client, point: int | None = None):  # type: ignore[no-untyped-def]
    token = page_csrf(client, f"/case/{api.east_case}")
    return client.post(f"/case/{api.east_case}/dial", headers={**HX, "X-CSRF-Token": token},
                       data={"contact_point_id": str(point or api.contact_points["phone"])})


def _outcome(api: Api, client, data: dict[str, str]):  # type: ignore[no-untyped-def]
    token = page_csrf(client, f"/case/{api.east_case}")
    return client.post(f"/case/{api.east_case}/script/outcome", headers={**HX, "X-CSRF-Token": token},
                       data={"next_step": "none", **data})


def _calls(api: Api) -> list[DiallerCall]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(DiallerCall).order_by(DiallerCall.id)).all())


def _call_id(page: str) -> str:
    found = re.search(r'<input type="checkbox" id="out-call" name="call_id" value="([0-9a-f]+)" checked>', page)
    assert found, "no call linked to the outcome form"
    return found.group(1)


def test_a_call_blocked_at_half_past_ten_dials_nothing(api: Api, simulator: DiallerSimulator) -> None:
    client = sign_in(api, "agent_east")
    with frozen_at(LATE):
        r = _dial(api, client)
    assert r.status_code == 409
    assert "合规规则不允许现在拨打此电话，未拨出。" in r.text and "quiet_hours" in r.text
    assert "下次允许" in r.text or "Next allowed" in r.text
    assert simulator.requests == [] and _calls(api) == []
    with api.engine.connect() as conn:  # the block is logged, as every gate block
        logged = conn.execute(select(ContactDecision.allowed, ContactDecision.channel)).all()
    assert logged == [(False, "call")]


def test_an_allowed_call_is_originated_at_the_dialler_and_its_recording_fills_the_outcome(
        api: Api, simulator: DiallerSimulator) -> None:
    client = sign_in(api, "agent_east")
    with frozen_at(AFTERNOON):
        r = _dial(api, client)
        assert r.status_code == 200, r.text
        assert PHONE not in r.text  # the agent sees the number masked; the dialler gets it
        simulator.wait()
        [request] = simulator.requests
        assert request["destination"] == PHONE and request["agent"] == "agent_east"
        assert request["case_ref"] == str(api.east_case) and request["callback_url"].endswith("/dialler/events")
        taken = {event["event_id"]: status for event, status in simulator.delivered}  # the last delivery of each
        assert list(taken.values()) == [204, 204, 204]
        [call] = _calls(api)
        assert (call.status, call.disposition, call.duration_seconds) == ("ended", "answered", 42)
        assert call.recording_ref == f"REC-{call.provider_call_id}" and call.requested_at == AFTERNOON
        page = client.get(f"/case/{api.east_case}/script/next", headers=HX).text
        assert _call_id(page) == call.call_id
        assert f'readonly value="{call.recording_ref}"' in page
        r = _outcome(api, client, {"outcome": "right_party_contact", "call_id": call.call_id,
                                   "recording_ref": "TYPED-OVER"})
        assert r.status_code == 200, r.text
    with api.engine.connect() as conn:
        [row] = conn.execute(select(Interaction.id, Interaction.recording_ref, Interaction.started_at,
                                    Interaction.contact_point_id, Interaction.channel, Interaction.direction)).all()
        linked = conn.execute(select(DiallerCall.interaction_id)).scalar_one()
        actions = conn.execute(select(AuditRecord.action)).scalars().all()
    assert row[1:] == (call.recording_ref, AFTERNOON, api.contact_points["phone"], "call", "outbound")
    assert linked == row[0]
    assert "dialler.originate" in actions and "pii.reveal" in actions


def test_no_answer_preselects_the_outcome_and_the_call_is_its_reference(api: Api, simulator: DiallerSimulator) -> None:
    simulator.disposition = "no_answer"
    client = sign_in(api, "agent_east")
    with frozen_at(AFTERNOON):
        assert _dial(api, client).status_code == 200
        simulator.wait()
        page = client.get(f"/case/{api.east_case}/script/next", headers=HX).text
    [call] = _calls(api)
    assert call.disposition == "no_answer" and call.recording_ref is None
    assert re.search(r'<option value="no_answer"[^>]*selected', page)
    assert f'readonly value="dialler:{call.provider_call_id}"' in page
    with frozen_at(AFTERNOON):  # nobody answered, says the dialler: no conversation can be recorded on it
        r = _outcome(api, client, {"outcome": "promise_to_pay", "call_id": call.call_id})
    assert r.status_code == 422 and 'data-field="outcome"' in r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.id)).all() == []


def test_a_dialled_call_is_one_attempt_with_or_without_its_outcome(api: Api, simulator: DiallerSimulator) -> None:
    """The day's limit is 6 calls: five dialled and recorded, a sixth dialled and never recorded, make six —
    the seventh is blocked; counted twice, the sixth would have been blocked already."""
    simulator.disposition = "no_answer"
    client = sign_in(api, "agent_east")
    for i in range(5):
        with frozen_at(AFTERNOON + timedelta(minutes=20 * i)):
            assert _dial(api, client).status_code == 200
            simulator.wait()
            page = client.get(f"/case/{api.east_case}/script/next", headers=HX).text
            assert _outcome(api, client, {"outcome": "no_answer", "call_id": _call_id(page)}).status_code == 200
    with frozen_at(AFTERNOON + timedelta(minutes=100)):
        assert _dial(api, client).status_code == 200  # the sixth: allowed
        simulator.wait()
    with frozen_at(AFTERNOON + timedelta(minutes=120)):
        r = _dial(api, client)  # the agent never saved the sixth's outcome: it still counts
    assert r.status_code == 409 and "daily_call_limit" in r.text
    assert len(simulator.requests) == 6
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.id)).all().__len__() == 5


def test_an_outcome_not_of_the_dialled_call_leaves_the_call_open(api: Api) -> None:
    """The customer called in while the dialled call waits for its outcome: unticked, the outcome is the
    inbound call's, and the dialled call stays open (and counted) until its own outcome is saved."""
    no_dialler(api)
    client = sign_in(api, "agent_east")
    with frozen_at(AFTERNOON):
        assert _dial(api, client).status_code == 200
    with frozen_at(AFTERNOON + timedelta(minutes=5)):
        r = _outcome(api, client, {"outcome": "right_party_contact", "direction": "inbound"})
        assert r.status_code == 200, r.text
        [call] = _calls(api)
        assert call.interaction_id is None and _call_id(r.text) == call.call_id  # still offered
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.direction, Interaction.started_at)).one() == (
            "inbound", AFTERNOON + timedelta(minutes=5))


def test_without_a_dialler_a_tel_link_behind_the_gate(api: Api) -> None:
    no_dialler(api)
    client = sign_in(api, "agent_east")
    with frozen_at(LATE):
        r = _dial(api, client)
    assert r.status_code == 409 and "tel:" not in r.text and _calls(api) == []
    with frozen_at(AFTERNOON):
        r = _dial(api, client)
        assert r.status_code == 200 and f'href="tel:{PHONE}"' in r.text
        [call] = _calls(api)
        assert call.provider == "tel"
        page = client.get(f"/case/{api.east_case}/script/next", headers=HX).text
        assert _call_id(page) == call.call_id and 'name="recording_ref" maxlength="200" readonly' not in page
        # the agent's own phone system recorded it: the reference is typed, as before
        r = _outcome(api, client, {"outcome": "no_answer", "call_id": call.call_id, "recording_ref": ""})
        assert r.status_code == 422
        r = _outcome(api, client, {"outcome": "no_answer", "call_id": call.call_id, "recording_ref": "PBX-7"})
        assert r.status_code == 200, r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(Interaction.recording_ref, Interaction.started_at)).one() == ("PBX-7", AFTERNOON)


def test_the_dial_needs_the_csrf_token_a_worker_and_a_number_of_the_case(api: Api) -> None:
    no_dialler(api)
    client = sign_in(api, "agent_east")
    page_csrf(client, f"/case/{api.east_case}")
    with frozen_at(AFTERNOON):
        forged = client.post(f"/case/{api.east_case}/dial", headers={**HX, "X-CSRF-Token": "forged"},
                             data={"contact_point_id": str(api.contact_points["phone"])})
        assert forged.status_code == 403
        assert _dial(api, client, api.contact_points["email"]).status_code == 422  # not a phone number
        auditor = sign_in(api, "auditor")
        token = page_csrf(auditor, f"/case/{api.east_case}")
        assert auditor.post(f"/case/{api.east_case}/dial", headers={**HX, "X-CSRF-Token": token},
                            data={"contact_point_id": str(api.contact_points["phone"])}).status_code == 403
        west = sign_in(api, "agent_west")
        token = page_csrf(west)
        assert west.post(f"/case/{api.east_case}/dial", headers={**HX, "X-CSRF-Token": token},
                         data={"contact_point_id": str(api.contact_points["phone"])}).status_code == 404
    assert _calls(api) == []
