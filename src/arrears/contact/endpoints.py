"""REST endpoints of the compliance gate: a case's contact check, overrides, and the compliance log.

A check that blocks, and every override (applied or refused), is logged in the request's transaction;
so a refused override answers 201 with the refusal in ``overrides`` rather than an error that would
roll the log back. Agents and team leads see only their team's cases (404 otherwise).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from arrears.auth.deps import CurrentUser, DbSession, require_role
from arrears.auth.model import Role
from arrears.auth.service import case_scope
from arrears.auth.tables import User
from arrears.cases.endpoints import ERRORS, WRITE_ERRORS, CaseId
from arrears.cases.tables import Case
from arrears.contact import repository as repo
from arrears.contact import schemas as s
from arrears.contact.policy import CEASE_EXCEPTIONS, ENVELOPE_TEXTS, LETTER_FORMATS, OVERRIDE_ROLES, Override
from arrears.contact.service import Checked, ContactFieldError, check_contact_logged, decision_out
from arrears.kit.clock import utc_now

#: Roles that may ask for an override at all (the pack then says which of them may lift which rule).
Approver = Annotated[User, Depends(require_role(*OVERRIDE_ROLES))]
#: Roles that read the compliance log.
Reader = Annotated[User, Depends(require_role(Role.TEAM_LEAD, Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN,
                                              Role.AUDITOR))]

router = APIRouter(tags=["contact"], responses=ERRORS)

#: Contact times the gate is asked about: a calendar the holiday tables and time zones cover.
_FIRST_YEAR, _LAST_YEAR = 1970, 2200


def _when(at: datetime | None, field: str = "at") -> datetime:
    if at is None:
        return utc_now()
    if not _FIRST_YEAR <= at.year <= _LAST_YEAR:
        raise ContactFieldError(f"{field} must be between {_FIRST_YEAR} and {_LAST_YEAR}", field=field)
    return at


def _verdict(case_id: int, checked: Checked) -> s.Verdict:
    d = checked.decision
    logged = checked.row.overrides if checked.row is not None else []
    overrides = [s.OverrideOut(rule_id=o["rule_id"], reason=o["reason"], approver=o["approver"],
                               approver_role=o["approver_role"], applied=bool(o["applied"]),
                               refused_because=o.get("refused_because")) for o in logged]
    return s.Verdict(
        decision_id=checked.row.id if checked.row else None, case_id=case_id, at=d.at, channel=d.channel,
        party=d.party, purpose=d.purpose, pack=d.pack, pack_version=d.version,
        layers=[s.LayerOut(pack=n, version=v) for n, v in d.layers], allowed=d.allowed,
        blocks=[s.BlockOut(**b.to_dict(), fact=s.CONTENT_FACT_OF_KIND.get(b.kind)) for b in d.blocks],
        overridden=[s.BlockOut(**b.to_dict()) for b in d.overridden], overrides=overrides,
        next_allowed_at=d.next_allowed_at)


@router.get("/cases/{case_id}/contact-check", summary="May this contact be made now (or at `at`)?",
            response_model=s.Verdict, responses=WRITE_ERRORS)
def contact_check(
    case_id: CaseId, session: DbSession, user: CurrentUser,
    channel: Annotated[s.Channel, Query(description="call, sms, email, letter, visit or app")],
    party: Annotated[s.Party, Query(description="debtor, emergency_contact or third_party")] = "debtor",
    purpose: Annotated[s.Purpose, Query(description="collection, reestablish_contact, reminder or service")]
    = "collection",
    at: Annotated[s.Moment | None, Query(description="the contact's time, timezone-aware (default: now)")] = None,
    contact_point_id: Annotated[int | None, Query(ge=1, le=s.MAX_INT)] = None,
    has_recording: Annotated[bool, Query(description="a call will be recorded under a recording reference")]
    = True,
    collector_disclosure: Annotated[Literal["none", "debt_collector", "full"], Query(
        description="the debt-collector disclosure the script or message carries (us-reg-f, 12 CFR 1006.18(e)): "
                    "full = attempting to collect a debt, information used for that purpose")] = "none",
    voicemail_limited: Annotated[bool, Query(description=(
        "a call: any voicemail left is the limited-content message (us-reg-f, 12 CFR 1006.2(j))"))] = False,
    limited_content_only: Annotated[bool, Query(description=(
        "the contact is only a limited-content message, nothing else (12 CFR 1006.2(j))"))] = False,
    opt_out_notice: Annotated[bool, Query(description=(
        "an e-mail, SMS or app message carries the opt-out instructions (12 CFR 1006.6(e))"))] = False,
    cease_exception: Annotated[Literal[CEASE_EXCEPTIONS] | None, Query(  # type: ignore[valid-type]
        description="after a written cease request: which permitted notice this is (12 CFR 1006.6(c)(2))")] = None,
    threatens_suit: Annotated[bool, Query(description="the content threatens a suit (12 CFR 1006.26(b))")] = False,
    letter_format: Annotated[Literal[LETTER_FORMATS] | None, Query(  # type: ignore[valid-type]
        description="a letter: sealed or postcard (12 CFR 1006.22(f))")] = None,
    envelope_text: Annotated[Literal[ENVELOPE_TEXTS] | None, Query(  # type: ignore[valid-type]
        description="a letter: what its envelope shows, return_address or other (12 CFR 1006.22(f))")] = None,
) -> s.Verdict:
    """The gate's verdict: allowed or not, each blocking rule with its source, message (zh_CN and en)
    and next allowed time, and the overall next allowed time. A block is logged (a read that writes).

    The content facts (what the script or message says) are the caller's to state; a fact not stated
    takes the cautious default, and a block it causes names the parameter (``fact``)."""
    when = _when(at)
    repo.case_facts(session, case_id, scope=case_scope(user, Case.team_id))
    content = {"collector_disclosure": collector_disclosure, "limited_content_only": limited_content_only,
               "cease_exception": cease_exception, "threatens_suit": threatens_suit,
               "letter_format": letter_format, "envelope_text": envelope_text}
    checked = check_contact_logged(
        session, case_id=case_id, channel=channel, party=party, purpose=purpose, at=when,
        actor=f"user:{user.id}", source="api", contact_point_id=contact_point_id, has_recording=has_recording,
        discloses_debt=party == "debtor", content=content, voicemail_limited=voicemail_limited,
        opt_out_notice=opt_out_notice)
    return _verdict(case_id, checked)


@router.post("/cases/{case_id}/contact-overrides", summary="Approve an exception to one rule for one contact",
             response_model=s.Verdict, status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
def contact_override(case_id: CaseId, body: s.OverrideCreate, session: DbSession, user: Approver) -> s.Verdict:
    """The caller approves lifting ``rule_id``; the pack says whether the rule may be overridden and by
    which roles, and the approver must not be ``requested_by``. Applied or refused, the override is
    logged with its reason and approver and written to the audit log; the answer shows which."""
    when = _when(body.at)
    repo.case_facts(session, case_id, scope=case_scope(user, Case.team_id))
    override = Override(rule_id=body.rule_id, reason=body.reason, approver=user.username, approver_role=user.role)
    checked = check_contact_logged(
        session, case_id=case_id, channel=body.channel, party=body.party, purpose=body.purpose, at=when,
        actor=f"user:{user.id}", source="api", overrides=[override], contact_point_id=body.contact_point_id,
        has_recording=True, discloses_debt=body.party == "debtor", requested_by=body.requested_by,
        approver_ids={user.username: user.id})
    return _verdict(case_id, checked)


@router.get("/contact-decisions", summary="The compliance log: blocks and overrides, newest first",
            response_model=s.DecisionPage)
def list_decisions(
    session: DbSession, user: Reader,
    case_id: Annotated[int | None, Query(ge=1, le=s.MAX_INT)] = None,
    allowed: Annotated[bool | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> s.DecisionPage:
    """Logged decisions the caller may see (team leads: their team's cases only)."""
    rows, total = repo.decision_page(session, scope=case_scope(user, Case.team_id), case_id=case_id,
                                     allowed=allowed, limit=limit, offset=offset)
    return s.DecisionPage(items=[s.DecisionOut(**decision_out(r)) for r in rows], total=total, limit=limit,
                          offset=offset)
