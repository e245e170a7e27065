"""The compliance gate over the store: build a candidate contact from a case, ask the gate, and log
every block and every override (``contact_decisions``), with an audit record for each override.

Services flush, never commit: the caller's entry point owns the transaction. A caller that refuses a
contact because of a logged block must still commit the log (the API answers the refusal instead of
raising through the request's transaction, see :class:`ContactBlocked`).

What is logged: every decision that blocks, and every decision where an override was offered
(applied or refused). Allowed decisions without an override are not logged (``log_allowed=True``
logs them too); they are by far the most frequent and add nothing to the compliance record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.auth.service import record
from arrears.auth.tables import User
from arrears.config import get_settings
from arrears.contact import regf
from arrears.contact import repository as repo
from arrears.contact.cn_records import debtor_numbers, refused
from arrears.contact.packchoice import pack_for
from arrears.contact.policy import (
    Appointment,
    Attempt,
    ContactCandidate,
    Decision,
    Hold,
    Override,
    PolicyPack,
    Wishes,
    gate,
    local_instant,
    zone,
)
from arrears.contact.tables import DECISION_SOURCES, ContactDecision
from arrears.dialler.repository import attempts_without_outcome
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError

#: Contact-point owner → the gate's party.
GATE_PARTY = {"debtor": "debtor", "emergency": "emergency_contact", "other": "third_party"}
#: Interaction-log party → the gate's party, for the history of attempts (and for an interaction
#: recorded without a contact point: ``nobody`` answered an attempt to reach the debtor).
HISTORY_PARTY = {"debtor": "debtor", "emergency_contact": "emergency_contact", "other": "third_party",
                 "nobody": "debtor"}
#: Interaction outcomes that are not a conversation with the debtor (the rest of a debtor call are).
NOT_A_CONVERSATION = frozenset({"no_answer", "busy", "wrong_number", "left_message", "third_party"})
#: How far back the case's interactions are read as the gate's history of attempts.
HISTORY_DAYS = 31
#: Outbound interaction channels an agent's record must pass the gate for.
GATED_INTERACTION_CHANNELS = frozenset({"call", "visit", "sms", "email"})


def override_valid_for() -> timedelta:
    """How long an approved override may be used (once) to record the contact it approved
    (``ARREARS_OVERRIDE_VALID_MINUTES``, 60 by default)."""
    return timedelta(minutes=get_settings().override_valid_minutes)


class ContactFieldError(ArrearsError):
    """A field of a gate request is wrong (unknown contact point, time out of range...)."""

    status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class OverrideUsed(ArrearsError):
    """An approved override was already used: it lifts its rules for one contact only."""

    status = 409
    code = "override_used"
    field = "override_decision_id"


class ContactBlocked(ArrearsError):
    """The compliance gate blocks the contact: the message names each rule and the next allowed time.

    The decision is already logged (``decision_id``); an entry point that wants the log kept answers
    with :meth:`body` instead of letting the exception roll its transaction back."""

    status = 409
    code = "contact_blocked"

    def __init__(self, decision: Decision, decision_id: int | None, *, field: str = "started_at") -> None:
        rules = "; ".join(f"{b.rule_id}: {b.message}" for b in decision.blocks)
        nxt = decision.next_allowed_at.isoformat() if decision.next_allowed_at else "unknown (not by waiting)"
        super().__init__(f"blocked by the compliance gate ({rules}); next allowed at {nxt}")
        self.decision = decision
        self.decision_id = decision_id
        self.field = field

    def body(self) -> dict[str, Any]:
        nxt = self.decision.next_allowed_at
        return {"error": {"code": self.code, "message": self.message, "field": self.field,
                          "rule_ids": [b.rule_id for b in self.decision.blocks],
                          "next_allowed_at": nxt.isoformat() if nxt else None, "decision_id": self.decision_id}}


# -- building the candidate -------------------------------------------------------------------------


def build_candidate(
    *, at: datetime, channel: str, party: str, purpose: str, tz: str, account_id: str, bank_tz: str,
    holds: Iterable[tuple[str, date, date | None]] = (),
    interactions: Iterable[tuple[datetime, str, str, str, int | None, str | None]] = (),
    party_ref: str | None = None, opted_out: bool = False, recorded: bool = False, voicemail_limited: bool = False,
    opt_out_notice: bool = False, discloses_debt: bool = True,
    appointment: tuple[datetime, datetime] | tuple[datetime, datetime, bool] | None = None,
    wishes: Wishes | None = None, regf: Mapping[str, Any] | None = None,
) -> ContactCandidate:
    """The candidate contact from plain store facts (shared by the worker and :func:`candidate_for_case`).

    ``holds``: (kind, first day, last day inclusive or None) in the bank's calendar, so a hold runs from
    the bank's midnight of its first day to the bank's midnight after its last. ``interactions``:
    (started_at, channel, interaction party, outcome, contact point id, account ref) — the history of
    the person, on all their accounts (the ref says which debt; None: this one); those at or after
    ``at`` are ignored, and a debtor call whose outcome is not in :data:`NOT_A_CONVERSATION` is a
    conversation.
    ``wishes``: the customer's contact preferences (:func:`arrears.contact.repository.wishes`), which
    the gate holds every contact with the debtor to.
    ``regf``: the Regulation F facts (:func:`arrears.contact.regf.candidate_facts` and the content
    facts of :data:`arrears.contact.regf.CONTENT_FACTS`).
    """
    btz = zone(bank_tz)
    gate_holds = tuple(
        Hold(kind, local_instant(btz, start), None if end is None else local_instant(btz, end + timedelta(days=1)))
        for kind, start, end in holds)
    attempts = tuple(
        Attempt(at=started, channel=ch, party=HISTORY_PARTY.get(p, "third_party"),
                conversation=ch == "call" and p == "debtor" and outcome not in NOT_A_CONVERSATION,
                party_ref=None if cp is None else str(cp), account_id=ref)
        for started, ch, p, outcome, cp, ref in interactions if started < at)
    appt = Appointment(*appointment) if appointment is not None else None
    return ContactCandidate(
        at=at, channel=channel, party=party, purpose=purpose, tz=tz, account_id=account_id, party_ref=party_ref,
        opted_out=opted_out, recorded=recorded, voicemail_limited=voicemail_limited, opt_out_notice=opt_out_notice,
        discloses_debt=discloses_debt, attempts=attempts, holds=gate_holds, appointment=appt, wishes=wishes,
        **(regf or {}))


def _facts_point(session: Session, facts: repo.CaseFacts, contact_point_id: int | None) -> repo.PointFacts | None:
    if contact_point_id is None:
        return None
    point = repo.contact_point(session, contact_point_id)
    if point is None or point.customer_id != facts.customer_id:
        raise ContactFieldError(f"contact point {contact_point_id} is not one of the case's customer",
                                field="contact_point_id")
    return point


def _attempts(session: Session, customer_id: int, *, since: datetime, before: datetime
              ) -> tuple[tuple[datetime, str, str, str, int | None, str], ...]:
    """The person's history of attempts: their outbound interactions, and the calls dialled to them whose
    outcome is not recorded yet (a dialled call is an attempt; once recorded, its interaction counts
    instead: :mod:`arrears.dialler.service`), oldest first."""
    found = (repo.customer_interactions(session, customer_id, since=since, before=before)
             + attempts_without_outcome(session, customer_id, since=since, before=before))
    return tuple(sorted(found, key=lambda row: row[0]))


def _cn_facts(session: Session, facts: repo.CaseFacts, point: repo.PointFacts | None, party: str,
              at: datetime) -> dict[str, Any]:
    """The facts of the ``cn`` rules of GB/T 45251—2025 (:mod:`arrears.contact.cn_records`): for anyone
    but the debtor, the debtor's numbers still thought valid and whether this contact point refused."""
    if party == "debtor":
        return {}
    return {"debtor_numbers": debtor_numbers(session, facts.customer_id, before=at),
            "refused": point is not None and refused(session, point.id)}


def _candidate(session: Session, facts: repo.CaseFacts, *, channel: str, party: str, purpose: str, at: datetime,
               point: repo.PointFacts | None, has_recording: bool, discloses_debt: bool,
               voicemail_limited: bool, opt_out_notice: bool,
               content: Mapping[str, Any] | None = None) -> ContactCandidate:
    bank_tz = get_settings().timezone
    regf_facts = regf.candidate_facts(session, customer_id=facts.customer_id, account_id=facts.account_id,
                                      contact_point_id=None if point is None else point.id, channel=channel,
                                      bank_tz=bank_tz) | regf.content_facts(content)
    try:
        candidate = build_candidate(
            at=at, channel=channel, party=party, purpose=purpose, tz=facts.time_zone or bank_tz,
            account_id=facts.account_ref, bank_tz=bank_tz,
            holds=repo.customer_holds(session, account_id=facts.account_id, customer_id=facts.customer_id),
            interactions=_attempts(session, facts.customer_id, since=at - timedelta(days=HISTORY_DAYS), before=at),
            party_ref=None if point is None else str(point.id), opted_out=bool(point and point.opted_out),
            recorded=has_recording, voicemail_limited=voicemail_limited, opt_out_notice=opt_out_notice,
            discloses_debt=discloses_debt, appointment=repo.appointment_window(session, facts.case_id, at),
            wishes=repo.wishes(session, facts.customer_id), regf=regf_facts)
    except OverflowError:
        raise ContactFieldError("time out of range", field="at") from None
    except ValueError as exc:
        raise ContactFieldError(str(exc), field="at") from None
    return replace(candidate, **_cn_facts(session, facts, point, party, at))


def candidate_for_case(
    session: Session, *, case_id: int, channel: str, party: str, purpose: str, at: datetime,
    contact_point_id: int | None = None, has_recording: bool = False, discloses_debt: bool = True,
    voicemail_limited: bool = False, opt_out_notice: bool = False, content: Mapping[str, Any] | None = None,
) -> ContactCandidate:
    """The contact ``channel``/``party``/``purpose`` on case ``case_id`` at ``at``, from the store: the
    customer's zone, every hold on the account and the person's holds (bankruptcy, deceased) on their
    other accounts, the outbound interactions of the last :data:`HISTORY_DAYS` days on every case of
    every account of the customer (one contact budget per person; the pack's rules count per person or
    per debt), the case's scheduled appointment, the contact point's opt-out and the customer's
    contact preferences; with ``content``, the Regulation F content facts of the contact
    (:data:`arrears.contact.regf.CONTENT_FACTS`) beside the store's (:mod:`arrears.contact.regf`)."""
    facts = repo.case_facts(session, case_id)
    point = _facts_point(session, facts, contact_point_id)
    return _candidate(session, facts, channel=channel, party=party, purpose=purpose, at=at, point=point,
                      has_recording=has_recording, discloses_debt=discloses_debt,
                      voicemail_limited=voicemail_limited, opt_out_notice=opt_out_notice, content=content)


# -- checking and logging ------------------------------------------------------------------------------


def pack_for_case(facts: repo.CaseFacts) -> PolicyPack:
    """The pack that judges a contact on this case: the account's product and the customer's
    jurisdiction choose it (:func:`arrears.contact.packchoice.pack_for`)."""
    try:
        return pack_for(facts.product, facts.jurisdiction)
    except ValueError as exc:
        raise ArrearsError(f"no compliance pack for case {facts.case_id}: {exc}") from None


@dataclass(frozen=True)
class Checked:
    decision: Decision
    #: the logged row (None when an allowed decision without override was not logged)
    row: ContactDecision | None


def _override_log(decision: Decision, self_refused: Sequence[tuple[Override, str]],
                  ids: dict[str, int | None]) -> list[dict[str, Any]]:
    def one(o: Override, applied: bool, why: str | None) -> dict[str, Any]:
        return {"rule_id": o.rule_id, "reason": o.reason, "approver": o.approver, "approver_id": ids.get(o.approver),
                "approver_role": o.approver_role, "applied": applied, "refused_because": why}
    return ([one(o, True, None) for o in decision.overrides]
            + [one(o, False, why) for o, why in (*self_refused, *decision.refused_overrides)])


def log_decision(session: Session, decision: Decision, *, case_id: int | None, account_id: int | None, actor: str,
                 source: str, self_refused: Sequence[tuple[Override, str]] = (),
                 approver_ids: dict[str, int | None] | None = None) -> ContactDecision:
    """Write ``decision`` to the compliance log, and an audit record for each override offered."""
    if source not in DECISION_SOURCES:
        raise ArrearsError(f"unknown decision source {source!r}")
    blocks = ([b.to_dict() | {"overridden": False} for b in decision.blocks]
              + [b.to_dict() | {"overridden": True} for b in decision.overridden])
    overrides = _override_log(decision, self_refused, approver_ids or {})
    row = repo.add_decision(
        session, at=decision.at, case_id=case_id, account_id=account_id, channel=decision.channel,
        party=decision.party, purpose=decision.purpose, pack=decision.pack, pack_version=decision.version,
        layers=[{"pack": n, "version": v} for n, v in decision.layers], allowed=decision.allowed, blocks=blocks, next_allowed_at=decision.next_allowed_at, overrides=overrides,
        actor=actor[:64], source=source, created_at=utc_now())
    for o in overrides:
        record(session, actor=o["approver"] or actor, action="contact.override" if o["applied"]
               else "contact.override_refused", entity="contact_decision", entity_id=row.id,
               detail={"case_id": case_id, "rule_id": o["rule_id"], "reason": o["reason"],
                       "approver_role": o["approver_role"], "requested_by": actor, "source": source,
                       "refused_because": o["refused_because"], "channel": decision.channel,
                       "at": decision.at.isoformat()})
    return row


def check_contact_logged(
    session: Session, *, case_id: int, channel: str, party: str, purpose: str, at: datetime, actor: str,
    source: str, overrides: Iterable[Override] = (), pack: PolicyPack | None = None,
    contact_point_id: int | None = None, has_recording: bool = False, discloses_debt: bool = True,
    requested_by: str | None = None, candidate: ContactCandidate | None = None, log_allowed: bool = False,
    approver_ids: dict[str, int | None] | None = None, content: Mapping[str, Any] | None = None,
    voicemail_limited: bool = False, opt_out_notice: bool = False,
) -> Checked:
    """:func:`check_contact`, also answering the logged row."""
    facts = repo.case_facts(session, case_id)
    if candidate is None:
        point = _facts_point(session, facts, contact_point_id)
        candidate = _candidate(session, facts, channel=channel, party=party, purpose=purpose, at=at, point=point,
                               has_recording=has_recording, discloses_debt=discloses_debt,
                               voicemail_limited=voicemail_limited, opt_out_notice=opt_out_notice,
                               content=content)
    offered = list(overrides)
    self_refused = [(o, "the approver must differ from the requester") for o in offered
                    if requested_by is not None and o.approver == requested_by]
    usable = [o for o in offered if not (requested_by is not None and o.approver == requested_by)]
    try:
        decision = gate(candidate, pack or pack_for_case(facts), usable)
    except (OverflowError, ValueError) as exc:
        raise ContactFieldError(f"the gate cannot judge this time: {exc}", field="at") from None
    row = None
    if not decision.allowed or offered or log_allowed:
        row = log_decision(session, decision, case_id=case_id, account_id=facts.account_id, actor=actor,
                           source=source, self_refused=self_refused, approver_ids=approver_ids)
    return Checked(decision, row)


def check_contact(
    session: Session, *, case_id: int, channel: str, party: str, purpose: str, at: datetime, actor: str,
    source: str, overrides: Iterable[Override] = (), pack: PolicyPack | None = None,
    contact_point_id: int | None = None, has_recording: bool = False, discloses_debt: bool = True,
    requested_by: str | None = None, candidate: ContactCandidate | None = None, log_allowed: bool = False,
    content: Mapping[str, Any] | None = None, voicemail_limited: bool = False,
) -> Decision:
    """Ask the gate about one contact on case ``case_id`` and log it (every block, every override).

    ``overrides``: approvals offered; the pack says which roles may override which rule, and an approver
    equal to ``requested_by`` (the person who wants to make the contact) is refused. Refused overrides
    are logged too. ``candidate``: a contact already built (e.g. by the worker) instead of one read from
    the store."""
    return check_contact_logged(
        session, case_id=case_id, channel=channel, party=party, purpose=purpose, at=at, actor=actor, source=source,
        overrides=overrides, pack=pack, contact_point_id=contact_point_id, has_recording=has_recording,
        discloses_debt=discloses_debt, requested_by=requested_by, candidate=candidate,
        log_allowed=log_allowed, content=content, voicemail_limited=voicemail_limited).decision


# -- outbound interactions -------------------------------------------------------------------------


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.execute(select(User.username).where(User.id == user_id)).scalar_one_or_none()


def _override_of(session: Session, *, decision_id: int, case_id: int, channel: str, agent: str | None
                 ) -> list[Override]:
    row = repo.get_decision(session, decision_id)
    field = "override_decision_id"
    if row is None or row.case_id != case_id:
        raise ContactFieldError(f"no override decision {decision_id} on case {case_id}", field=field)
    if row.channel != channel:
        raise ContactFieldError(f"override decision {decision_id} is for {row.channel}, not {channel}", field=field)
    valid_for = override_valid_for()
    if row.created_at < utc_now() - valid_for:
        raise ContactFieldError(f"override decision {decision_id} has expired: an override may be used within "
                                f"{int(valid_for.total_seconds() // 60)} minutes of its approval", field=field)
    used = repo.override_used(session, decision_id)
    if used is not None:
        raise OverrideUsed(f"override decision {decision_id} was already used at {used.used_at.isoformat()}: "
                           "an override lifts its rules for one contact; ask for a new one")
    applied = [o for o in (row.overrides or []) if o.get("applied")]
    if not applied:
        raise ContactFieldError(f"decision {decision_id} has no approved override", field=field)
    if agent is not None and any(o.get("approver") == agent for o in applied):
        raise ContactFieldError("an override cannot be approved by the person making the contact", field=field)
    return [Override(o["rule_id"], o["reason"], o["approver"], o["approver_role"]) for o in applied]


def gate_interaction(
    session: Session, *, case_id: int, channel: str, party: str, started_at: datetime,
    contact_point_id: int | None, recording_ref: str | None, agent_id: int | None,
    override_decision_id: int | None = None, pack: PolicyPack | None = None,
    visit: tuple[int, bool, bool] | None = None, content: Mapping[str, Any] | None = None,
    voicemail_limited: bool = False,
) -> Checked | None:
    """The gate for an outbound interaction an agent records (None: not gated — another channel).

    Who was contacted: the contact point's owner, else the interaction's party (``nobody`` = the debtor
    was sought). Purpose: ``reestablish_contact`` for an emergency contact, otherwise ``collection``; a
    contact with anyone but the debtor is taken to follow the certified script that does not disclose the
    debt. A call needs its recording reference. Blocked → :class:`ContactBlocked` (the decision logged),
    unless ``override_decision_id`` names an override approved on this case and channel by someone else,
    within :func:`override_valid_for` and not used before, which lifts the rules it names — once: the
    contact it lets through consumes it (:class:`OverrideUsed` for any later use).

    ``visit``: a field visit's (collectors, entered, entry consent), which the ``cn`` pack checks.
    ``content``/``voicemail_limited``: what the call said (the script's facts, :func:`script_facts`, as
    the agent confirmed them); not stated = the cautious default."""
    if channel not in GATED_INTERACTION_CHANNELS:
        return None
    facts = repo.case_facts(session, case_id)
    point = _facts_point(session, facts, contact_point_id)
    gate_party = GATE_PARTY.get(point.owner, "third_party") if point is not None \
        else HISTORY_PARTY.get(party, "third_party")
    purpose = "reestablish_contact" if gate_party == "emergency_contact" else "collection"
    agent = _username(session, agent_id)
    overrides: list[Override] = []
    if override_decision_id is not None:
        overrides = _override_of(session, decision_id=override_decision_id, case_id=case_id, channel=channel,
                                 agent=agent)
    actor = f"user:{agent_id}" if agent_id is not None else "system"
    try:
        cand = _candidate(session, facts, channel=channel, party=gate_party, purpose=purpose, at=started_at,
                          point=point, has_recording=recording_ref is not None,
                          discloses_debt=gate_party == "debtor", voicemail_limited=voicemail_limited,
                          opt_out_notice=False, content=content)
        if visit is not None:
            cand = replace(cand, collectors=visit[0], entered=visit[1], entry_consent=visit[2])
        checked = check_contact_logged(
            session, case_id=case_id, channel=channel, party=gate_party, purpose=purpose, at=started_at,
            actor=actor, source="interaction", overrides=overrides, pack=pack, requested_by=agent, candidate=cand)
    except ContactFieldError as exc:
        raise ContactFieldError(exc.message, field="started_at" if exc.field == "at" else exc.field) from None
    if not checked.decision.allowed:
        raise ContactBlocked(checked.decision, checked.row.id if checked.row else None)
    if override_decision_id is not None:
        # Consumed only by a contact it let through, in the contact's transaction: a second use, even
        # a concurrent one in another process, fails on the store's unique key.
        if not repo.consume_override(session, decision_id=override_decision_id, used_at=utc_now(), used_by=actor,
                                     use_decision_id=checked.row.id if checked.row else None):
            raise OverrideUsed(f"override decision {override_decision_id} was already used: an override lifts its "
                               "rules for one contact; ask for a new one")
        record(session, actor=agent or actor, action="contact.override_used", entity="contact_decision",
               entity_id=override_decision_id, detail={"case_id": case_id, "channel": channel,
                                                       "use_decision_id": checked.row.id if checked.row else None})
    return checked


# -- the call script's facts --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptFacts:
    """What the call script makes true of a call under the case's pack: the greeting's debt-collector
    disclosure (:data:`arrears.contact.policy.DISCLOSURES`; None: the pack needs none and the script
    shows none) and whether the script's voicemail guidance is the limited-content message."""

    disclosure: str | None
    voicemail_limited: bool

    @property
    def initial(self) -> bool:
        return self.disclosure == "full"

    def content(self) -> dict[str, Any]:
        """The content facts to state to the gate (:data:`arrears.contact.regf.CONTENT_FACTS`)."""
        return {} if self.disclosure is None else {"collector_disclosure": self.disclosure}


def script_facts(pack: PolicyPack, *, first_communication_at: datetime | None, at: datetime) -> ScriptFacts:
    """The script's facts for a call at ``at`` under ``pack``: a pack with ``collector_disclosure``
    gets the greeting's disclosure — ``full`` for the initial communication (none recorded before
    ``at``), ``debt_collector`` for a later one (12 CFR 1006.18(e)); a pack with
    ``limited_content_voicemail`` gets the limited-content voicemail guidance (12 CFR 1006.2(j))."""
    kinds = {r.kind for r in pack.rules}
    disclosure = None
    if "collector_disclosure" in kinds:
        initial = first_communication_at is None or first_communication_at >= at
        disclosure = "full" if initial else "debt_collector"
    return ScriptFacts(disclosure, "limited_content_voicemail" in kinds)


def script_facts_for_case(session: Session, *, case_id: int, at: datetime) -> ScriptFacts:
    """:func:`script_facts` for a call on case ``case_id``: the case's pack, and the account's first
    communication about the debt (:mod:`arrears.contact.regf`)."""
    facts = repo.case_facts(session, case_id)
    notice = regf.validation_notice(session, facts.account_id)
    return script_facts(pack_for_case(facts), at=at,
                        first_communication_at=notice.first_communication_at if notice else None)


def decision_out(row: ContactDecision) -> dict[str, Any]:
    """A logged decision as plain data (the API's ``ContactDecision``)."""
    return {"id": row.id, "at": row.at, "case_id": row.case_id, "account_id": row.account_id, "channel": row.channel,
            "party": row.party, "purpose": row.purpose, "pack": row.pack, "pack_version": row.pack_version,
            "allowed": row.allowed, "blocks": row.blocks or [], "next_allowed_at": row.next_allowed_at,
            "overrides": row.overrides or [], "actor": row.actor, "source": row.source,
            "created_at": row.created_at, "layers": row.layers or []}


__all__ = ["GATED_INTERACTION_CHANNELS", "HISTORY_DAYS", "Checked", "ContactBlocked", "ContactFieldError", "OverrideUsed",
           "ScriptFacts", "build_candidate", "candidate_for_case", "check_contact", "check_contact_logged", "decision_out",
           "gate_interaction", "log_decision", "pack_for_case", "script_facts", "script_facts_for_case"]
