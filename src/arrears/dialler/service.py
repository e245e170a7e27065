"""Dialling from a case: the compliance gate first, then the dialler (or a ``tel:`` link); the
dialler's events update the call record; the agent's outcome takes the call's recording.

**A dialled call is an attempt.** The gate counts attempts from the interaction log, and the call
record stands in for the interaction until the agent records the outcome: a call whose outcome is not
recorded counts as an unanswered attempt (:func:`arrears.dialler.repository.attempts_without_outcome`);
once recorded, the interaction counts and the call links to it (``interaction_id``), so the call is
never counted twice, and the daily limit holds even when no outcome is ever saved.

Services flush, never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arrears.accounts.tables import ContactPoint
from arrears.auth.service import record, reveal
from arrears.auth.tables import User
from arrears.cases.tables import Case
from arrears.contact.policy import Decision
from arrears.contact.service import GATE_PARTY, check_contact, script_facts_for_case
from arrears.dialler import repository as repo
from arrears.dialler.model import CallEvent, CallRequest
from arrears.dialler.provider import Dialler
from arrears.dialler.tables import DiallerCall, DiallerEvent
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError, NotFound

#: A call's outcome is offered for recording this long after it was dialled.
OPEN_FOR = timedelta(hours=12)


class CallConflict(ArrearsError):
    """An event that contradicts the call it names (another provider call id)."""

    status = 409


@dataclass(frozen=True)
class Dialled:
    """The gate's answer, and when it allowed: the call record (and, for a ``tel:`` call, the number
    handed to the agent's phone)."""

    decision: Decision
    call: DiallerCall | None = None
    number: str | None = None


def dial(session: Session, *, case: Case, user: User, point: ContactPoint, dialler: Dialler | None,
         events_url: str, now: datetime | None = None, reveal_limit: int | None = None,
         reveal_window_seconds: int | None = None) -> Dialled:
    """Ask the gate about a recorded call to ``point`` now (logged as the others); blocked → nothing is
    dialled. Allowed → the number is handed over for dialling (audited ``pii.reveal``, purpose
    ``dial``), the call recorded, and ``dialler`` asked to originate it (None: the agent's own phone
    dials it from a ``tel:`` link). Audited ``dialler.originate``. A dialler that refuses raises
    :class:`~arrears.dialler.model.DiallerError` and the caller's transaction keeps nothing.

    The call follows the case's script, so the gate is told the script's facts
    (:func:`arrears.contact.service.script_facts_for_case`): the greeting's debt-collector disclosure
    to the debtor, and the limited-content voicemail."""
    now = now or utc_now()
    party = GATE_PARTY.get(point.owner, "third_party")
    script = script_facts_for_case(session, case_id=case.id, at=now)
    decision = check_contact(
        session, case_id=case.id, channel="call", party=party,
        purpose="reestablish_contact" if party == "emergency_contact" else "collection", at=now,
        actor=user.username, source="api", contact_point_id=point.id, has_recording=True,
        discloses_debt=party == "debtor", requested_by=user.username,
        content=script.content() if party == "debtor" else None, voicemail_limited=script.voicemail_limited)
    if not decision.allowed:
        return Dialled(decision)
    number = reveal(session, user=user, kind="phone", value=point.value, subject=f"contact_point:{point.id}",
                    purpose="dial", limit=reveal_limit, window_seconds=reveal_window_seconds)
    call = DiallerCall(call_id=uuid.uuid4().hex, case_id=case.id, agent_id=user.id, contact_point_id=point.id,
                       provider=dialler.name if dialler is not None else "tel", status="requested",
                       requested_at=now)
    session.add(call)
    session.flush()
    if dialler is not None:
        call.provider_call_id = dialler.originate(CallRequest(
            call_id=call.call_id, agent=user.username, destination=number, case_ref=str(case.id),
            callback_url=events_url))
        session.flush()
    record(session, actor=user.username, action="dialler.originate", entity="dialler_call", entity_id=call.id,
           detail={"case_id": case.id, "call_id": call.call_id, "contact_point_id": point.id,
                   "provider": call.provider, "provider_call_id": call.provider_call_id, "source": "web"})
    return Dialled(decision, call, number if dialler is None else None)


def apply_event(session: Session, event: CallEvent, *, now: datetime | None = None) -> tuple[DiallerCall, bool]:
    """Apply a verified event to its call; answer the call and whether the event was new. An event id
    seen before changes nothing (the dialler retries until it gets a 2xx). A late ``ringing`` or
    ``answered`` never undoes an ``ended``."""
    call = repo.call_by_call_id(session, event.call_id)
    if call is None:
        raise NotFound(f"no call {event.call_id}")
    if repo.event_seen(session, event.event_id):
        return call, False
    if event.provider_call_id and call.provider_call_id and event.provider_call_id != call.provider_call_id:
        raise CallConflict(f"call {event.call_id} is provider call {call.provider_call_id}, "
                           f"not {event.provider_call_id}")
    try:
        with session.begin_nested():
            session.add(DiallerEvent(event_id=event.event_id, call_id=call.id, kind=event.type,
                                     occurred_at=event.occurred_at, received_at=now or utc_now()))
    except IntegrityError:  # the same event delivered twice at once: the other delivery applied it
        return call, False
    call.provider_call_id = call.provider_call_id or event.provider_call_id
    if event.type == "ringing" and call.status == "requested":
        call.status = "ringing"
    elif event.type == "answered" and call.status != "ended":
        call.status, call.answered_at = "answered", event.occurred_at
    elif event.type == "ended":
        call.status, call.ended_at = "ended", event.occurred_at
        call.disposition = event.disposition or ("answered" if call.answered_at else "no_answer")
        call.duration_seconds = event.duration_seconds
        call.recording_ref = event.recording_ref or call.recording_ref
    session.flush()
    return call, True


def open_call(session: Session, *, case_id: int, agent_id: int, now: datetime | None = None) -> DiallerCall | None:
    """The agent's latest call on the case whose outcome is still to be recorded (None: none)."""
    return repo.open_call(session, case_id=case_id, agent_id=agent_id, since=(now or utc_now()) - OPEN_FOR)


def call_reference(call: DiallerCall) -> str | None:
    """The recording reference an outcome of ``call`` carries: the dialler's recording; for a dialled
    call that ended with nobody to record (no answer, busy, failed), the dialler's call itself
    (``dialler:<provider call id>``); None while a dialled call has not ended, and for a ``tel:`` call
    (the agent's phone system records it: the agent types its reference)."""
    if call.provider == "tel" or call.status != "ended":
        return call.recording_ref
    return call.recording_ref or f"dialler:{call.provider_call_id or call.call_id}"


def link(session: Session, *, call: DiallerCall, interaction_id: int) -> None:
    """The interaction that records ``call``'s outcome: from now on it, not the call, is the attempt."""
    call.interaction_id = interaction_id
    session.flush()
