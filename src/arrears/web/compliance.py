"""The compliance officer's pages: the contact gate's blocks and overrides, complaints and disputes
(holds and pending hold reviews), and the audit log with its chain verification.

Compliance, auditors (read-only) and administrators open them. Personal data stays masked by role
(:func:`arrears.auth.model.mask`); unmasking is the case page's audited reveal. Verifying the chain
reads it all (:func:`arrears.auth.service.verify`) and is itself audited (``audit.verify``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, Customer, Hold
from arrears.auth.audit import keyring, verify_report
from arrears.auth.deps import DbSession
from arrears.auth.model import ChainReport, Role, mask
from arrears.auth.service import record
from arrears.auth.tables import AuditRecord, User
from arrears.cases.service import business_date_of
from arrears.cases.tables import Case, HoldReview
from arrears.contact.tables import ContactDecision
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.kit.inputs import IsoDate
from arrears.reports.service import to_csv
from arrears.web.i18n import N_
from arrears.web.render import render, settings_of
from arrears.web.security import CsrfUser, page_role

router = APIRouter(include_in_schema=False)

#: Who reads the compliance pages and the audit log (auditors and administrators read only).
COMPLIANCE_ROLES = (Role.COMPLIANCE, Role.AUDITOR, Role.ADMIN)
ComplianceViewer = Annotated[User, Depends(page_role(*COMPLIANCE_ROLES))]
PAGE_SIZE = 50
#: Most decisions of a date range read to filter by rule (newest first).
SCAN_LIMIT = 5000
OUTCOMES = {"": N_("Every outcome"), "blocked": N_("Blocked"), "overridden": N_("Overridden")}
COMPLAINT_KINDS = ("complaint", "dispute")


class BadFilter(ArrearsError):
    status = 422


def _window(request: Request, date_from: date | None, date_to: date | None, days: int = 30) -> tuple[date, date]:
    today = business_date_of(utc_now(), settings_of(request).timezone)
    to = date_to or today
    start = date_from or to - timedelta(days=days)
    if start > to:
        raise BadFilter("the first date must not come after the last")
    return start, to


def _bounds(request: Request, start: date, to: date) -> tuple[datetime, datetime]:
    zone = ZoneInfo(settings_of(request).timezone)
    return datetime.combine(start, time(), zone), datetime.combine(to + timedelta(days=1), time(), zone)


# -- the gate's blocks and overrides ----------------------------------------------------------------------

def decision_rows(session: Session, *, since: datetime, until: datetime, rule: str, outcome: str
                  ) -> tuple[list[dict[str, Any]], bool]:
    """Logged gate decisions in the window, newest first, filtered by rule id and outcome; and whether
    the window held more than :data:`SCAN_LIMIT` decisions (only the newest were searched)."""
    where: list[ColumnElement[bool]] = [ContactDecision.at >= since, ContactDecision.at < until]
    if outcome == "blocked":
        where.append(ContactDecision.allowed.is_(False))
    rows = session.execute(
        select(ContactDecision, Account.account_ref).outerjoin(Account, Account.id == ContactDecision.account_id)
        .where(*where).order_by(ContactDecision.at.desc(), ContactDecision.id.desc()).limit(SCAN_LIMIT)).all()
    out = []
    for d, ref in rows:
        blocks = list(d.blocks or [])
        overrides = list(d.overrides or [])
        applied = [o for o in overrides if o.get("applied")]
        if outcome == "overridden" and not applied:
            continue
        rules = {b.get("rule_id") for b in blocks} | {o.get("rule_id") for o in overrides}
        if rule and rule not in rules:
            continue
        out.append({"id": d.id, "at": d.at, "case_id": d.case_id, "account_ref": ref, "channel": d.channel,
                    "party": d.party, "purpose": d.purpose, "pack": f"{d.pack} {d.pack_version}",
                    "allowed": d.allowed, "blocks": blocks, "overrides": overrides, "actor": d.actor,
                    "source": d.source, "next_allowed_at": d.next_allowed_at})
    return out, len(rows) >= SCAN_LIMIT


# -- complaints and disputes -------------------------------------------------------------------------------

def complaint_rows(session: Session, *, today: date, role: str, sla_days: int = 15) -> list[dict[str, Any]]:
    """Complaint and dispute holds still in force (or starting later), oldest first, the customer's name
    masked by role; each with the days it has waited (``waited_days``) and whether that is past
    ``sla_days`` (``over_sla``)."""
    rows = session.execute(
        select(Hold, Account.account_ref, Customer.name, func.min(Case.id))
        .join(Account, Account.id == Hold.account_id).join(Customer, Customer.id == Account.customer_id)
        .outerjoin(Case, Case.account_id == Hold.account_id)
        .where(Hold.kind.in_(COMPLAINT_KINDS), or_(Hold.end_date.is_(None), Hold.end_date >= today))
        .group_by(Hold.id, Account.account_ref, Customer.name)
        .order_by(Hold.start_date, Hold.id).limit(500)).all()
    return [{"id": h.id, "kind": h.kind, "start_date": h.start_date, "end_date": h.end_date, "reason": h.reason,
             "created_by": h.created_by, "pauses_ageing": h.pauses_ageing, "account_ref": ref,
             "customer": mask("name", name, role), "case_id": case_id,
             "waited_days": max(0, (today - h.start_date).days), "over_sla": (today - h.start_date).days > sla_days}
            for h, ref, name, case_id in rows]


def pending_review_rows(session: Session, *, role: str, now: datetime | None = None,
                        sla_hours: int = 24) -> list[dict[str, Any]]:
    """Hold reviews still waiting for a person, oldest first; each with the whole hours it has waited
    (``waited_hours``) and whether that is past ``sla_hours`` (``over_sla``)."""
    now = now or utc_now()
    rows = session.execute(
        select(HoldReview, Hold.kind, Account.account_ref, Customer.name)
        .join(Case, Case.id == HoldReview.case_id).join(Account, Account.id == Case.account_id)
        .join(Customer, Customer.id == Account.customer_id).outerjoin(Hold, Hold.id == HoldReview.hold_id)
        .where(HoldReview.status == "pending").order_by(HoldReview.created_at, HoldReview.id).limit(500)).all()
    return [{"id": r.id, "case_id": r.case_id, "outcome": r.outcome, "kind": kind, "created_at": r.created_at,
             "account_ref": ref, "customer": mask("name", name, role),
             "waited_hours": max(0, int((now - r.created_at).total_seconds() // 3600)),
             "over_sla": now - r.created_at > timedelta(hours=sla_hours)} for r, kind, ref, name in rows]


def _blank_as_none(value: object) -> object:
    """An empty date field of a GET form (``?from=&to=``) means no date, not a malformed one."""
    return None if value == "" else value


From = Annotated[IsoDate | None, BeforeValidator(_blank_as_none), Query(alias="from")]
To = Annotated[IsoDate | None, BeforeValidator(_blank_as_none), Query(alias="to")]
RuleId = Annotated[str, Query(max_length=64)]
Outcome = Annotated[str, Query(max_length=16)]


def _decisions(request: Request, session: Session, date_from: date | None, date_to: date | None, rule: str,
               outcome: str) -> tuple[date, date, list[dict[str, Any]], bool]:
    if outcome not in OUTCOMES:
        raise BadFilter(f"outcome must be one of: {', '.join(o for o in OUTCOMES if o)}")
    start, to = _window(request, date_from, date_to)
    since, until = _bounds(request, start, to)
    return start, to, *decision_rows(session, since=since, until=until, rule=rule.strip(), outcome=outcome)


def _rule_ids() -> list[str]:
    from arrears.contact.config import PACK_NAMES, load_default_pack
    from arrears.contact.packchoice import LAYER_NAMES, load_layer

    return sorted({r.id for name in PACK_NAMES for r in load_default_pack(name).rules}
                  | {r.id for name in LAYER_NAMES for r in load_layer(name).rules})


@router.get("/compliance")
def compliance_page(request: Request, session: DbSession, user: ComplianceViewer, date_from: From = None,
                    date_to: To = None, rule: RuleId = "", outcome: Outcome = "",
                    page: Annotated[int, Query(ge=1, le=10_000)] = 1) -> Response:
    start, to, decisions, capped = _decisions(request, session, date_from, date_to, rule, outcome)
    today = business_date_of(utc_now(), settings_of(request).timezone)
    pages = max(1, -(-len(decisions) // PAGE_SIZE))
    shown = decisions[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    query = {"from": start.isoformat(), "to": to.isoformat(), "rule": rule, "outcome": outcome}
    return render(request, "compliance.html", decisions=shown, total=len(decisions), page=page, pages=pages,
                  query=query, date_from=start, date_to=to, rule=rule, outcome=outcome, outcomes=OUTCOMES,
                  capped=capped, scan_limit=SCAN_LIMIT, rule_ids=_rule_ids(),
                  complaints=complaint_rows(session, today=today, role=user.role,
                                            sla_days=settings_of(request).complaint_sla_days),
                  reviews=pending_review_rows(session, role=user.role,
                                              sla_hours=settings_of(request).hold_review_sla_hours),
                  complaint_sla_days=settings_of(request).complaint_sla_days,
                  review_sla_hours=settings_of(request).hold_review_sla_hours)


def _csv(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/compliance/export/decisions.csv")
def decisions_csv(request: Request, session: DbSession, user: ComplianceViewer, date_from: From = None,
                  date_to: To = None, rule: RuleId = "", outcome: Outcome = "") -> Response:
    """The decisions of the page's filters (every page), one row each; rules and overrides as ``;`` lists."""
    start, to, decisions, _ = _decisions(request, session, date_from, date_to, rule, outcome)
    rows = [{**d, "at": d["at"].isoformat(), "blocks": ";".join(str(b.get("rule_id")) for b in d["blocks"]),
             "overridden": ";".join(str(b.get("rule_id")) for b in d["blocks"] if b.get("overridden")),
             "overrides": ";".join(f"{o.get('rule_id')}:{o.get('approver')}:{'applied' if o.get('applied') else 'refused'}"
                                   for o in d["overrides"])} for d in decisions]
    columns = ["id", "at", "case_id", "account_ref", "channel", "party", "purpose", "allowed", "blocks", "overridden",
               "overrides", "actor", "source", "pack"]
    return _csv(to_csv(rows, columns), f"gate-decisions-{start.isoformat()}-{to.isoformat()}.csv")


@router.get("/compliance/export/complaints.csv")
def complaints_csv(request: Request, session: DbSession, user: ComplianceViewer) -> Response:
    today = business_date_of(utc_now(), settings_of(request).timezone)
    columns = ["id", "account_ref", "customer", "kind", "start_date", "end_date", "reason", "created_by", "case_id"]
    return _csv(to_csv(complaint_rows(session, today=today, role=user.role), columns), f"complaints-{today}.csv")


# -- the audit log ------------------------------------------------------------------------------------------

def audit_page_rows(session: Session, *, actor: str, action: str, since: datetime | None, until: datetime | None,
                    limit: int, offset: int) -> tuple[list[AuditRecord], int]:
    where: list[ColumnElement[bool]] = []
    if actor:
        where.append(AuditRecord.actor == actor)
    if action:
        where.append(AuditRecord.action.startswith(action, autoescape=True))
    if since is not None:
        where.append(AuditRecord.at >= since)
    if until is not None:
        where.append(AuditRecord.at < until)
    total = session.execute(select(func.count()).select_from(AuditRecord).where(*where)).scalar_one()
    rows = list(session.scalars(select(AuditRecord).where(*where).order_by(AuditRecord.seq.desc())
                                .limit(limit).offset(offset)))
    return rows, int(total)


def _audit_page(request: Request, session: Session, user: User, *, actor: str, action: str, date_from: date | None,
                date_to: date | None, page: int, verified: list[Any] | None = None, status_code: int = 200,
                anchor_notes: list[tuple[str, dict[str, Any]]] | None = None) -> Response:
    if date_from and date_to and date_from > date_to:
        raise BadFilter("the first date must not come after the last")
    zone = ZoneInfo(settings_of(request).timezone)
    since = datetime.combine(date_from, time(), zone) if date_from else None
    until = datetime.combine(date_to + timedelta(days=1), time(), zone) if date_to else None
    rows, total = audit_page_rows(session, actor=actor.strip(), action=action.strip(), since=since, until=until,
                                  limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    query = {"actor": actor, "action": action, "from": date_from.isoformat() if date_from else "",
             "to": date_to.isoformat() if date_to else ""}
    return render(request, "audit.html", status_code=status_code, rows=rows, total=total, page=page,
                  pages=max(1, -(-total // PAGE_SIZE)), query=query, actor=actor, action=action, date_from=date_from,
                  date_to=date_to, verified=verified, anchor_notes=anchor_notes or [],
                  as_json=lambda value: json.dumps(value, ensure_ascii=False, sort_keys=True))


@router.get("/audit")
def audit_log(request: Request, session: DbSession, user: ComplianceViewer,
              actor: Annotated[str, Query(max_length=64)] = "",
              action: Annotated[str, Query(max_length=64)] = "",
              date_from: From = None, date_to: To = None,
              page: Annotated[int, Query(ge=1, le=1_000_000)] = 1) -> Response:
    return _audit_page(request, session, user, actor=actor, action=action, date_from=date_from, date_to=date_to,
                       page=page)


@router.post("/audit/verify")
def verify_chain(request: Request, session: DbSession, user: ComplianceViewer, _: CsrfUser) -> Response:
    """Walk the whole chain against the audit key and the signed checkpoints (``auth.audit.verify_report``)
    and show OK or the records that were tampered with, and what could not be checked."""
    report = verify_report(session, settings=settings_of(request))
    problems = report.problems
    record(session, actor=user.username, action="audit.verify", entity="audit_chain", entity_id=None,
           detail={"ok": not problems, "problems": len(problems), "first": problems[0].seq if problems else None,
                   "source": "web"})
    return _audit_page(request, session, user, actor="", action="", date_from=None, date_to=None, page=1,
                       verified=problems, anchor_notes=anchor_notes(report, settings_of(request)))


def anchor_notes(report: ChainReport, settings: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the verification could not check, as (message, values) for the page's language."""
    if keyring(settings) is None:
        return [(N_("No audit key is configured: the chain was checked against itself only, so a rewrite of the "
                    "whole chain or a cut at its end would go unnoticed (docs/security.md, \"Anchoring the chain\")."),
                 {})]
    latest = report.latest_checkpoint
    if latest is None:
        return [(N_("No signed checkpoint yet: records deleted from the end of the chain would go unnoticed. "
                    "Run “arrears audit checkpoint” (the daily cycle runs it too)."), {})]
    if report.last_seq > latest.seq:
        return [(N_("Records %(first)s to %(last)s came after the last checkpoint: signed with the key, but not "
                    "yet anchored outside the store."), {"first": latest.seq + 1, "last": report.last_seq})]
    return []


__all__ = ["router"]
